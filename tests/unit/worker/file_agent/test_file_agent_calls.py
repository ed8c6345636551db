"""Call-level semantics: all-or-nothing, cancellation, existing destinations, schemes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from teaclave.config.runtime import RuntimeConfig, default_dict
from teaclave.worker.file_agent import FileAgent, FileAgentError

FUSION = "fusion:///TEACLAVE_FUSION_BASE"


def test_one_failed_download_leaves_none_of_the_four(
    server, loopback_agent: FileAgent, out: Path, list_tree
) -> None:
    transfers = [
        (server.url(f"fixtures/functions/input{i}.bin"), out / "task" / "inputs" / f"in{i}")
        for i in range(3)
    ]
    transfers.append((server.url("delay-fail"), out / "task" / "inputs" / "in3"))
    with pytest.raises(FileAgentError, match="delay-fail: HTTP 404"):
        loopback_agent.download(transfers)
    # The three fast downloads had finished (the failing one answers after 0.3 s)...
    served = sorted(r.path for r in server.state.requests)
    assert len(served) == 4
    # ...and were removed again, with the directories the call created.
    assert list_tree(out) == []


def test_a_failure_cancels_a_running_transfer(server, make_agent, out: Path, list_tree) -> None:
    agent = make_agent(allowed_hosts=["127.0.0.1"], max_file_bytes=1 << 40)
    start = time.monotonic()
    with pytest.raises(FileAgentError, match="delay-fail: HTTP 404"):
        agent.download(
            [(server.url("forever"), out / "endless"), (server.url("delay-fail"), out / "bad")]
        )
    assert time.monotonic() - start < 5
    assert list_tree(out) == []


def test_existing_destination_is_refused_before_any_transfer(
    server, loopback_agent: FileAgent, out: Path
) -> None:
    (out / "b").write_bytes(b"keep me")
    with pytest.raises(FileAgentError, match="exists"):
        loopback_agent.download(
            [(server.url("hello.txt"), out / "a"), (server.url("hello.txt"), out / "b")]
        )
    assert (out / "b").read_bytes() == b"keep me"
    assert not (out / "a").exists()
    assert server.state.requests == []


def test_dangling_symlink_destination_counts_as_existing(loopback_agent, server, out) -> None:
    (out / "link").symlink_to(out / "nowhere")
    with pytest.raises(FileAgentError, match="exists"):
        loopback_agent.download([(server.url("hello.txt"), out / "link")])
    assert not (out / "nowhere").exists()


def test_duplicate_destinations_are_refused(server, loopback_agent, out: Path) -> None:
    with pytest.raises(FileAgentError, match="appears twice"):
        loopback_agent.download(
            [(server.url("hello.txt"), out / "a"), (server.url("hello.txt"), out / "x/../a")]
        )
    assert server.state.requests == []


def test_mixed_schemes_in_one_call(server, make_agent, fusion_base, tmp_path, out) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"from file")
    fusion_base.mkdir()
    (fusion_base / "g.fusion").write_bytes(b"from fusion")
    agent = make_agent(allowed_hosts=["127.0.0.1"], file_roots=[root])
    agent.download(
        [
            (server.url("hello.txt"), out / "http"),
            (f"file://{root}/f", out / "file"),
            (f"{FUSION}/g.fusion", out / "fusion"),
            ("data:text/plain;base64,SGVsbG8sIFdvcmxkIQ==", out / "data"),
        ]
    )
    assert (out / "http").read_bytes() == b"Hello, World!\n"
    assert (out / "file").read_bytes() == b"from file"
    assert (out / "fusion").read_bytes() == b"from fusion"
    assert (out / "data").read_bytes() == b"Hello, World!"
    assert sorted(p.name for p in out.iterdir()) == ["data", "file", "fusion", "http"]


def test_failed_upload_removes_local_destinations_of_the_call(
    server, loopback_agent: FileAgent, fusion_base: Path, tmp_path: Path, list_tree
) -> None:
    src = tmp_path / "s"
    src.write_bytes(b"payload")
    with pytest.raises(FileAgentError, match="HTTP 500"):
        loopback_agent.upload(
            [
                (src, f"{FUSION}/task/out1.fusion"),
                (src, f"{FUSION}/task/out2.fusion"),
                (src, server.url("put-status/500")),
            ]
        )
    assert list_tree(fusion_base) == []


@pytest.mark.parametrize("url", ["gs://bucket/key", "ftp://127.0.0.1/x", "s4://x/y"])
def test_unknown_schemes(loopback_agent: FileAgent, tmp_path: Path, url: str) -> None:
    scheme = url.split(":", 1)[0]
    with pytest.raises(FileAgentError, match=f"Scheme not supported: {scheme}"):
        loopback_agent.download([(url, tmp_path / "x")])
    src = tmp_path / "s"
    src.write_bytes(b"s")
    with pytest.raises(FileAgentError, match=f"Scheme not supported: {scheme}"):
        loopback_agent.upload([(src, url)])


@pytest.mark.parametrize("url", ["", "no-scheme", "http://127.0.0.1/a b", "http://x/\n"])
def test_malformed_urls(loopback_agent: FileAgent, tmp_path: Path, url: str) -> None:
    with pytest.raises(FileAgentError):
        loopback_agent.download([(url, tmp_path / "x")])


def test_missing_upload_source(server, loopback_agent: FileAgent, tmp_path: Path) -> None:
    with pytest.raises(FileAgentError, match="not an existing file"):
        loopback_agent.upload([(tmp_path / "missing", server.url("x"))])
    assert server.state.requests == []


def test_empty_calls_do_nothing(loopback_agent: FileAgent) -> None:
    loopback_agent.download([])
    loopback_agent.upload([])


def test_from_config_uses_the_fusion_base_and_file_agent_section(tmp_path: Path, out) -> None:
    raw = default_dict(state_dir=str(tmp_path / "state"))
    raw["mount"]["fusion_base_dir"] = str(tmp_path / "fusion_dir")
    raw["file_agent"] = {"file_roots": [str(tmp_path / "root")], "max_file_bytes": 4}
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "five").write_bytes(b"12345")
    agent = FileAgent.from_config(RuntimeConfig.from_dict(raw))
    src = tmp_path / "s"
    src.write_bytes(b"abc")
    agent.upload([(src, f"{FUSION}/x.fusion")])
    assert (tmp_path / "fusion_dir" / "x.fusion").read_bytes() == b"abc"
    with pytest.raises(FileAgentError, match="exceeds"):
        agent.download([(f"file://{tmp_path}/root/five", out / "x")])
