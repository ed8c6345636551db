"""file:// (confined to roots), fusion:// and data: transfers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from teaclave.worker.file_agent import EgressDenied, FileAgent, FileAgentError

FUSION = "fusion:///TEACLAVE_FUSION_BASE"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "input.bin").write_bytes(b"input bytes")
    (path / "a b%.txt").write_bytes(b"spaced")
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_bytes(b"not yours")
    return path


@pytest.fixture
def agent(make_agent, root: Path) -> FileAgent:
    return make_agent(file_roots=[root])


# ---------------------------------------------------------------- file://
def test_local_copy_via_file_url(agent: FileAgent, root: Path, out: Path) -> None:
    agent.download([(f"file://{root}/sub/input.bin", out / "copy")])
    assert (out / "copy").read_bytes() == b"input bytes"


def test_file_url_is_percent_decoded(agent: FileAgent, root: Path, out: Path) -> None:
    agent.download([(f"file://{root}/a%20b%25.txt", out / "copy")])
    assert (out / "copy").read_bytes() == b"spaced"
    agent.download([(f"file://localhost{root}/sub/input.bin", out / "copy2")])


def test_file_urls_are_off_without_roots(make_agent, root: Path, out: Path) -> None:
    with pytest.raises(EgressDenied, match="file_roots is empty"):
        make_agent().download([(f"file://{root}/sub/input.bin", out / "x")])
    src = out.parent / "s"
    src.write_bytes(b"s")
    with pytest.raises(EgressDenied, match="file_roots is empty"):
        make_agent().upload([(src, f"file://{root}/new")])
    assert not (root / "new").exists()


@pytest.mark.parametrize(
    "suffix",
    [
        "/sub/../sub/input.bin",
        "/sub/%2e%2e/sub/input.bin",
        "/sub/%2E%2E/../outside/secret",
        "/../outside/secret",
    ],
)
def test_dot_dot_segments_are_refused(agent: FileAgent, root: Path, out: Path, suffix) -> None:
    with pytest.raises(EgressDenied, match=r"'\.\.' segments are refused"):
        agent.download([(f"file://{root}{suffix}", out / "x")])
    assert not (out / "x").exists()


def test_paths_outside_the_roots_are_refused(agent, outside: Path, out: Path) -> None:
    with pytest.raises(EgressDenied, match=r"outside file_agent.file_roots"):
        agent.download([(f"file://{outside}/secret", out / "x")])
    with pytest.raises(EgressDenied, match=r"outside file_agent.file_roots"):
        agent.download([("file:///etc/passwd", out / "y")])
    assert list(out.iterdir()) == []


def test_symlink_escaping_the_root_is_refused(agent, root: Path, outside: Path, out) -> None:
    (root / "link").symlink_to(outside / "secret")
    (root / "dirlink").symlink_to(outside)
    with pytest.raises(EgressDenied, match=r"outside file_agent.file_roots"):
        agent.download([(f"file://{root}/link", out / "x")])
    with pytest.raises(EgressDenied, match=r"outside file_agent.file_roots"):
        agent.download([(f"file://{root}/dirlink/secret", out / "y")])
    src = out.parent / "s"
    src.write_bytes(b"s")
    with pytest.raises(EgressDenied, match=r"outside file_agent.file_roots"):
        agent.upload([(src, f"file://{root}/dirlink/planted")])
    assert not (outside / "planted").exists()
    assert list(out.iterdir()) == []


def test_symlink_inside_the_root_is_followed(agent, root: Path, out: Path) -> None:
    (root / "alias").symlink_to(root / "sub" / "input.bin")
    agent.download([(f"file://{root}/alias", out / "x")])
    assert (out / "x").read_bytes() == b"input bytes"


@pytest.mark.parametrize(
    ("url_suffix", "message"),
    [
        ("/missing", "source does not exist"),
        ("/sub", "not a regular file"),
    ],
)
def test_bad_file_sources(agent, root: Path, out: Path, url_suffix: str, message: str) -> None:
    with pytest.raises(FileAgentError, match=message):
        agent.download([(f"file://{root}{url_suffix}", out / "x")])


@pytest.mark.parametrize(
    "url", ["file://otherhost/etc/passwd", "file:relative/path", "file:///tmp/x?y=1"]
)
def test_malformed_file_urls(agent: FileAgent, out: Path, url: str) -> None:
    with pytest.raises(FileAgentError):
        agent.download([(url, out / "x")])


def test_upload_to_file_url(agent: FileAgent, root: Path, tmp_path: Path) -> None:
    src = tmp_path / "result"
    src.write_bytes(b"result bytes")
    agent.upload([(src, f"file://{root}/sub/result.out")])
    assert (root / "sub" / "result.out").read_bytes() == b"result bytes"
    assert sorted(p.name for p in (root / "sub").iterdir()) == ["input.bin", "result.out"]
    with pytest.raises(FileAgentError, match="destination exists"):
        agent.upload([(src, f"file://{root}/sub/input.bin")])
    assert (root / "sub" / "input.bin").read_bytes() == b"input bytes"
    with pytest.raises(FileAgentError, match="destination directory does not exist"):
        agent.upload([(src, f"file://{root}/nodir/result.out")])
    with pytest.raises(EgressDenied):
        agent.upload([(src, f"file://{tmp_path}/escaped")])
    assert not (tmp_path / "escaped").exists()


def test_file_copy_is_capped(make_agent, root: Path, out: Path) -> None:
    agent = make_agent(file_roots=[root], max_file_bytes=5)
    with pytest.raises(FileAgentError, match=r"exceeds file_agent.max_file_bytes"):
        agent.download([(f"file://{root}/sub/input.bin", out / "x")])
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- fusion://
def test_fusion_upload_then_download(agent, fusion_base: Path, tmp_path, out) -> None:
    src = tmp_path / "fused"
    src.write_bytes(b"fusion ciphertext")
    agent.upload([(src, f"{FUSION}/f1.fusion"), (src, f"{FUSION}/deep/er/f2.fusion")])
    assert (fusion_base / "f1.fusion").read_bytes() == b"fusion ciphertext"
    assert (fusion_base / "deep" / "er" / "f2.fusion").read_bytes() == b"fusion ciphertext"
    agent.download([(f"{FUSION}/deep/er/f2.fusion", out / "back")])
    assert (out / "back").read_bytes() == b"fusion ciphertext"
    with pytest.raises(FileAgentError, match="destination exists"):
        agent.upload([(src, f"{FUSION}/f1.fusion")])


def test_fusion_works_without_file_roots(make_agent, fusion_base: Path, out: Path) -> None:
    fusion_base.mkdir()
    (fusion_base / "x.fusion").write_bytes(b"x")
    make_agent().download([(f"{FUSION}/x.fusion", out / "x")])
    assert (out / "x").read_bytes() == b"x"


@pytest.mark.parametrize(
    "url",
    [
        "fusion:///OTHER_BASE/x.fusion",
        "fusion://host/TEACLAVE_FUSION_BASE/x.fusion",
        "fusion:///TEACLAVE_FUSION_BASE/",
        "fusion:///TEACLAVE_FUSION_BASE",
        "fusion:///x/TEACLAVE_FUSION_BASE/x.fusion",
        "fusion:///TEACLAVE_FUSION_BASE//x.fusion",
    ],
)
def test_malformed_fusion_urls(agent: FileAgent, out: Path, url: str) -> None:
    with pytest.raises(FileAgentError):
        agent.download([(url, out / "x")])


@pytest.mark.parametrize(
    "rel", ["../outside/secret", "%2e%2e/outside/secret", "a/%2E%2E/../x", "..%2fx", "./x"]
)
def test_fusion_traversal_is_refused(agent, tmp_path: Path, out: Path, rel: str) -> None:
    with pytest.raises(EgressDenied):
        agent.download([(f"{FUSION}/{rel}", out / "x")])
    src = tmp_path / "s"
    src.write_bytes(b"s")
    with pytest.raises(EgressDenied):
        agent.upload([(src, f"{FUSION}/{rel}")])


def test_fusion_symlink_escape_is_refused(agent, fusion_base, outside: Path, tmp_path, out) -> None:
    fusion_base.mkdir()
    (fusion_base / "out").symlink_to(outside)
    with pytest.raises(EgressDenied, match="outside the fusion base"):
        agent.download([(f"{FUSION}/out/secret", out / "x")])
    src = tmp_path / "s"
    src.write_bytes(b"s")
    with pytest.raises(EgressDenied, match="outside the fusion base"):
        agent.upload([(src, f"{FUSION}/out/new/planted")])
    assert sorted(os.listdir(outside)) == ["secret"]


def test_missing_fusion_source(agent: FileAgent, out: Path) -> None:
    with pytest.raises(FileAgentError, match="source does not exist"):
        agent.download([(f"{FUSION}/nope.fusion", out / "x")])


# ---------------------------------------------------------------- data:
def test_data_url(agent: FileAgent, out: Path) -> None:
    agent.download([("data:text/plain;base64,SGVsbG8sIFdvcmxkIQ==", out / "hello")])
    assert (out / "hello").read_bytes() == b"Hello, World!"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("data:text/plain,Hello", "only data:text/plain;base64"),
        ("data:application/octet-stream;base64,SGVsbG8=", "only data:text/plain;base64"),
        ("data:text/plain;base64,SGVsbG8*", "not valid base64"),
        ("data:text/plain;base64,SGVsbG8", "not valid base64"),
    ],
)
def test_bad_data_urls(agent: FileAgent, out: Path, url: str, message: str) -> None:
    with pytest.raises(FileAgentError, match=message):
        agent.download([(url, out / "x")])
    assert list(out.iterdir()) == []


def test_data_url_is_capped(make_agent, out: Path) -> None:
    agent = make_agent(max_file_bytes=12)
    with pytest.raises(FileAgentError, match=r"exceeds file_agent.max_file_bytes"):
        agent.download([("data:text/plain;base64,SGVsbG8sIFdvcmxkIQ==", out / "x")])
    with pytest.raises(FileAgentError, match=r"exceeds file_agent.max_file_bytes"):
        agent.download([("data:text/plain;base64," + "QUFB" * 1000, out / "y")])


def test_data_urls_cannot_be_uploaded_to(agent: FileAgent, tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.write_bytes(b"s")
    with pytest.raises(FileAgentError, match="Scheme not supported: data"):
        agent.upload([(src, "data:text/plain;base64,SGVsbG8=")])
