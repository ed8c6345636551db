"""Egress control (SSRF): non-public destinations are refused unless allow-listed."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from teaclave.worker.file_agent import EgressDenied, FileAgent, FileAgentError
from teaclave.worker.file_agent.egress import AllowList, non_public_reason

REFUSED_HOSTS = [
    ("127.0.0.1", "loopback"),
    ("localhost", "loopback"),
    ("10.1.2.3", "private"),
    ("192.168.1.1", "private"),
    ("172.16.0.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.100.100.200", "non-global"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("[::1]", "loopback"),
    ("[::]", "unspecified"),
    ("[fe80::1]", "link-local"),
    ("[fc00::1]", "private"),
    ("[ff02::1]", "multicast"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped loopback"),
    ("[::ffff:169.254.169.254]", "IPv4-mapped link-local"),
    ("[2002:7f00:1::]", "6to4 loopback"),
    ("[64:ff9b::a9fe:a9fe]", "NAT64 link-local"),
    ("2130706433", "loopback"),
    ("0x7f000001", "loopback"),
    ("0177.0.0.1", "loopback"),
]


@pytest.mark.parametrize(("host", "reason"), REFUSED_HOSTS)
def test_non_public_destinations_are_refused(
    server, make_agent, out: Path, host: str, reason: str
) -> None:
    agent = make_agent()
    dest = out / "x"
    with pytest.raises(EgressDenied, match=f"resolves to {reason} address"):
        agent.download([(f"http://{host}:{server.port}/hello.txt", dest)])
    src = out.parent / "src"
    src.write_bytes(b"s")
    with pytest.raises(EgressDenied):
        agent.upload([(src, f"http://{host}:{server.port}/uploads/x")])
    assert server.state.requests == []
    assert not dest.exists()


def test_a_name_resolving_to_loopback_is_refused(server, make_agent, fake_dns, out) -> None:
    fake_dns.names["innocent.example.test"] = ["127.0.0.1"]
    with pytest.raises(EgressDenied, match=r"innocent.example.test resolves to loopback"):
        make_agent().download([(server.url("hello.txt", host="innocent.example.test"), out / "x")])
    assert server.state.requests == []


def test_any_non_public_address_refuses_the_name(server, make_agent, fake_dns, out) -> None:
    fake_dns.names["mixed.example.test"] = ["93.184.216.34", "10.0.0.5"]
    with pytest.raises(EgressDenied, match=r"private address 10.0.0.5"):
        make_agent().download([("http://mixed.example.test/x", out / "x")])


def test_allow_by_host_name(server, make_agent, out: Path) -> None:
    agent = make_agent(allowed_hosts=["LOCALHOST"])
    agent.download([(server.url("hello.txt", host="localhost"), out / "a")])
    assert (out / "a").read_bytes() == b"Hello, World!\n"
    with pytest.raises(EgressDenied):
        agent.download([(server.url("hello.txt"), out / "b")])


def test_allow_by_host_and_port(server, make_agent, out: Path) -> None:
    make_agent(allowed_hosts=[f"127.0.0.1:{server.port}"]).download(
        [(server.url("hello.txt"), out / "a")]
    )
    assert (out / "a").exists()
    other_port = server.port + 1 if server.port < 65535 else server.port - 1
    with pytest.raises(EgressDenied):
        make_agent(allowed_hosts=[f"127.0.0.1:{other_port}"]).download(
            [(server.url("hello.txt"), out / "b")]
        )


def test_allow_by_cidr(server, make_agent, out: Path) -> None:
    make_agent(allowed_hosts=["127.0.0.0/8"]).download([(server.url("hello.txt"), out / "a")])
    assert (out / "a").exists()
    # The decimal form resolves into the allowed network too.
    make_agent(allowed_hosts=["127.0.0.0/8"]).download(
        [(server.url("hello.txt", host="2130706433"), out / "d")]
    )
    with pytest.raises(EgressDenied):
        make_agent(allowed_hosts=["10.0.0.0/8", "::1/128"]).download(
            [(server.url("hello.txt"), out / "b")]
        )


def test_allow_ipv6_by_cidr_and_bracketed_host_port(server6, make_agent, out: Path) -> None:
    url = server6.url("hello.txt")
    assert url.startswith("http://[::1]:")
    with pytest.raises(EgressDenied):
        make_agent(allowed_hosts=["127.0.0.0/8"]).download([(url, out / "no")])
    make_agent(allowed_hosts=["::1/128"]).download([(url, out / "a")])
    make_agent(allowed_hosts=[f"[::1]:{server6.port}"]).download([(url, out / "b")])
    assert (out / "a").read_bytes() == (out / "b").read_bytes() == b"Hello, World!\n"
    assert server6.state.requests[0].headers["host"] == f"[::1]:{server6.port}"


def test_deny_private_off_allows_everything(server, make_agent, out: Path) -> None:
    make_agent(deny_private=False).download([(server.url("hello.txt"), out / "a")])
    assert (out / "a").exists()


def test_connects_to_the_checked_address_without_a_second_lookup(
    server, make_agent, fake_dns, out: Path
) -> None:
    fake_dns.names["files.example.test"] = ["127.0.0.1"]
    agent = make_agent(allowed_hosts=["127.0.0.0/8"])
    agent.download([(server.url("hello.txt", host="files.example.test"), out / "a")])
    assert (out / "a").exists()
    assert fake_dns.lookups == ["files.example.test"]
    assert server.state.requests[0].headers["host"] == f"files.example.test:{server.port}"


def test_user_info_is_refused(server, loopback_agent: FileAgent, out: Path) -> None:
    with pytest.raises(FileAgentError, match=r"user info") as info:
        loopback_agent.download([(f"http://admin:hunter2@127.0.0.1:{server.port}/x", out / "x")])
    assert "hunter2" not in str(info.value) and "admin" not in str(info.value)
    src = out.parent / "s"
    src.write_bytes(b"x")
    with pytest.raises(FileAgentError, match=r"user info"):
        loopback_agent.upload([(src, f"https://user@127.0.0.1:{server.port}/x")])
    assert server.state.requests == []


@pytest.mark.parametrize(
    "url",
    ["http:///nohost", "http://127.0.0.1:99999/x", "http://exa mple.com/", "http://[zz::1]/"],
)
def test_malformed_http_urls(loopback_agent: FileAgent, out: Path, url: str) -> None:
    with pytest.raises(FileAgentError):
        loopback_agent.download([(url, out / "x")])


@pytest.mark.parametrize(
    "entry", ["", "host:port", "10.0.0.0/33", "host:70000", "a@b", "[::1", "::1]:80"]
)
def test_bad_allow_list_entries_are_rejected(make_agent, entry: str) -> None:
    with pytest.raises(ValueError, match=r"file_agent.allowed_hosts"):
        make_agent(allowed_hosts=[entry])


def test_allow_list_parsing() -> None:
    allow = AllowList.parse(["Files.Example.", "minio:9000", "[::1]:8080", "10.0.0.0/8", "::1"])
    assert allow.allows_destination("files.example", 1)
    assert allow.allows_destination("minio", 9000) and not allow.allows_destination("minio", 80)
    assert allow.allows_destination("::1", 8080)
    assert allow.allows_address(ipaddress.ip_address("10.2.3.4"))
    assert allow.allows_address(ipaddress.ip_address("::1"))
    assert not allow.allows_address(ipaddress.ip_address("11.0.0.1"))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:1.1.1.1"]
)
def test_public_addresses_pass(address: str) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) is None
