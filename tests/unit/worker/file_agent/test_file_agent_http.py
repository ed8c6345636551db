"""http/https transfers against a real threaded server on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from teaclave.worker.file_agent import FileAgent, FileAgentError

TLS_HOST = "files.example.test"


# ---------------------------------------------------------------- Teaclave's file-agent tests
def test_get_single_file(server, loopback_agent: FileAgent, out: Path) -> None:
    dest = out / "out" / "hello.txt"
    loopback_agent.download([(server.url("hello.txt"), dest)])
    assert dest.read_bytes() == b"Hello, World!\n"
    assert server.state.requests[0].headers["host"] == f"127.0.0.1:{server.port}"


def test_put_single_file(server, loopback_agent: FileAgent, out: Path) -> None:
    src = out / "result.bin"
    src.write_bytes(b"\x00ciphertext\xff" * 100)
    loopback_agent.upload([(src, server.url("uploads/result.bin"))])
    assert (server.root / "uploads" / "result.bin").read_bytes() == src.read_bytes()
    put = next(r for r in server.state.requests if r.method == "PUT")
    assert put.headers["content-type"] == "application/x-binary"
    assert put.headers["content-length"] == str(src.stat().st_size)
    assert "transfer-encoding" not in put.headers


def test_get_four_files_concurrently(server, loopback_agent: FileAgent, out: Path) -> None:
    # The server answers only once all four requests are in flight at the same time.
    transfers = [(server.url(f"barrier/{i}"), out / f"in{i}") for i in range(4)]
    loopback_agent.download(transfers)
    for i in range(4):
        assert (out / f"in{i}").read_bytes() == f"barrier {i}".encode()


def test_put_four_files_concurrently(server, loopback_agent: FileAgent, out: Path) -> None:
    transfers = []
    for i in range(4):
        src = out / f"out{i}"
        src.write_bytes(bytes([i]) * 5000)
        transfers.append((src, server.url(f"barrier-put/out{i}")))
    loopback_agent.upload(transfers)
    for i in range(4):
        assert (server.root / "barrier-put" / f"out{i}").read_bytes() == bytes([i]) * 5000


def test_get_fixture_files(server, loopback_agent: FileAgent, out: Path) -> None:
    transfers = [
        (server.url(f"fixtures/functions/input{i}.bin"), out / "inputs" / f"{i}.bin")
        for i in range(4)
    ]
    loopback_agent.download(transfers)
    for i in range(4):
        assert (out / "inputs" / f"{i}.bin").read_bytes() == bytes([i]) * (1000 + i)


# ---------------------------------------------------------------- status codes and redirects
@pytest.mark.parametrize("status", [200, 201, 204])
def test_put_accepts_200_201_204(server, loopback_agent, out: Path, status: int) -> None:
    src = out / "f"
    src.write_bytes(b"data")
    loopback_agent.upload([(src, server.url(f"put-status/{status}"))])


@pytest.mark.parametrize("status", [202, 302, 403, 500])
def test_put_refuses_other_statuses(server, loopback_agent, out: Path, status: int) -> None:
    src = out / "f"
    src.write_bytes(b"data")
    with pytest.raises(FileAgentError, match=f"HTTP {status}"):
        loopback_agent.upload([(src, server.url(f"put-status/{status}"))])


@pytest.mark.parametrize("status", [404, 500])
def test_get_non_2xx_is_an_error(server, loopback_agent, out: Path, status: int) -> None:
    dest = out / "x"
    with pytest.raises(FileAgentError, match=f"HTTP {status}"):
        loopback_agent.download([(server.url(f"status/{status}"), dest)])
    assert not dest.exists()
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("path", ["redirect", "redirect-301"])
def test_redirects_are_refused_even_to_allowed_hosts(
    server, loopback_agent, out: Path, path: str
) -> None:
    dest = out / "x"
    with pytest.raises(FileAgentError, match=r"HTTP 30[12] .*redirects are not followed"):
        loopback_agent.download([(server.url(path), dest)])
    assert not dest.exists()
    assert [r.path for r in server.state.requests] == [f"/{path}"]


def test_s3_style_error_code_is_reported(server, loopback_agent, out: Path) -> None:
    with pytest.raises(FileAgentError, match=r"HTTP 403 Forbidden \(AccessDenied\)"):
        loopback_agent.download([(server.url("s3-error"), out / "x")])


def test_errors_never_show_query_strings_or_credentials(server, loopback_agent, out) -> None:
    url = server.url("status/404?X-Amz-Signature=topsecret&X-Amz-Credential=AKIA")
    with pytest.raises(FileAgentError) as info:
        loopback_agent.download([(url, out / "x")])
    assert "topsecret" not in str(info.value) and "AKIA" not in str(info.value)
    assert info.value.url == server.url("status/404")


# ---------------------------------------------------------------- size caps and timeouts
def test_content_length_over_cap_is_refused_before_reading(server, make_agent, out) -> None:
    agent = make_agent(allowed_hosts=["127.0.0.1"], max_file_bytes=1 << 20)
    start = time.monotonic()
    with pytest.raises(FileAgentError, match="Content-Length 1000000000000 exceeds"):
        agent.download([(server.url("big-length"), out / "x")])
    assert time.monotonic() - start < 2
    assert list(out.iterdir()) == []


def test_endless_body_is_cut_at_the_cap(server, make_agent, out: Path) -> None:
    agent = make_agent(allowed_hosts=["127.0.0.1"], max_file_bytes=1 << 20)
    with pytest.raises(FileAgentError, match=r"body exceeds file_agent.max_file_bytes"):
        agent.download([(server.url("forever"), out / "x")])
    assert list(out.iterdir()) == []


def test_file_exactly_at_the_cap_passes(server, make_agent, out: Path) -> None:
    (server.root / "exact.bin").write_bytes(b"e" * 4096)
    agent = make_agent(allowed_hosts=["127.0.0.1"], max_file_bytes=4096)
    agent.download([(server.url("exact.bin"), out / "ok")])
    assert (out / "ok").stat().st_size == 4096
    small = make_agent(allowed_hosts=["127.0.0.1"], max_file_bytes=4095)
    with pytest.raises(FileAgentError, match="exceeds"):
        small.download([(server.url("exact.bin"), out / "no")])


def test_truncated_body_is_an_error(server, loopback_agent, out: Path) -> None:
    with pytest.raises(FileAgentError, match="body truncated: got 10 of 100 bytes"):
        loopback_agent.download([(server.url("short"), out / "x")])
    assert list(out.iterdir()) == []


def test_upload_over_cap_is_refused_without_sending(server, make_agent, out) -> None:
    agent = make_agent(allowed_hosts=["127.0.0.1"], max_file_bytes=100)
    src = out / "big"
    src.write_bytes(b"b" * 101)
    with pytest.raises(FileAgentError, match="101 bytes exceeds"):
        agent.upload([(src, server.url("uploads/big"))])
    assert server.state.requests == []


def test_slow_server_times_out(server, make_agent, out: Path) -> None:
    agent = make_agent(allowed_hosts=["127.0.0.1"], timeout_secs=0.3)
    start = time.monotonic()
    with pytest.raises(FileAgentError, match=r"timed out \(file_agent.timeout_secs = 0.3\)"):
        agent.download([(server.url("slow"), out / "x")])
    assert time.monotonic() - start < 2
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- https
def test_https_verifies_the_url_host_and_sends_sni(
    tls_server, make_agent, fake_dns, monkeypatch, out: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_pem))
    fake_dns.names[TLS_HOST] = ["127.0.0.1"]
    agent = make_agent(allowed_hosts=[TLS_HOST])
    srv = tls_server.server
    dest = out / "hello"
    agent.download([(srv.url("hello.txt", host=TLS_HOST), dest)])
    assert dest.read_bytes() == b"Hello, World!\n"
    assert srv.state.sni == [TLS_HOST]
    assert srv.state.requests[0].headers["host"] == f"{TLS_HOST}:{srv.port}"
    src = out / "up"
    src.write_bytes(b"secret bytes")
    agent.upload([(src, srv.url("uploads/up", host=TLS_HOST))])
    assert (srv.root / "uploads" / "up").read_bytes() == b"secret bytes"


def test_https_refuses_an_untrusted_certificate(tls_server, make_agent, fake_dns, out):
    fake_dns.names[TLS_HOST] = ["127.0.0.1"]
    agent = make_agent(allowed_hosts=[TLS_HOST])
    with pytest.raises(FileAgentError, match="TLS certificate verification failed"):
        agent.download([(tls_server.server.url("hello.txt", host=TLS_HOST), out / "x")])
    assert tls_server.server.state.requests == []
    assert list(out.iterdir()) == []


def test_https_refuses_a_certificate_for_another_name(
    tls_server, make_agent, monkeypatch, out: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_pem))
    agent = make_agent(allowed_hosts=["127.0.0.1"])
    with pytest.raises(FileAgentError, match="TLS certificate verification failed"):
        agent.download([(tls_server.server.url("hello.txt"), out / "x")])
