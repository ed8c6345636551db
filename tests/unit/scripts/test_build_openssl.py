"""scripts/build_openssl.py: what it installs, and that a failure never leaves a library behind.

The full build (a minute) runs in ``make install``; the native module's tests check what it
linked. These tests serve the download from a real local HTTP server.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from repo_scripts import load_script


@pytest.fixture
def build_openssl() -> ModuleType:
    return load_script("build_openssl")


@pytest.fixture
def offline(build_openssl: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script, pointed at a loopback port where nothing listens."""
    monkeypatch.setattr(build_openssl, "URL", f"http://127.0.0.1:{closed_port()}/x.tar.gz")
    return build_openssl


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on loopback, and its URL."""
    root = tmp_path / "served"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def serving(
    build_openssl: ModuleType, served: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[[bytes], ModuleType]:
    """Serve ``content`` as the tarball; the script, pointed at it."""

    def serve(content: bytes) -> ModuleType:
        root, url = served
        (root / "openssl.tar.gz").write_bytes(content)
        monkeypatch.setattr(build_openssl, "URL", f"{url}/openssl.tar.gz")
        return build_openssl

    return serve


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def fake_build(dest: Path, info: str) -> None:
    (dest / "lib").mkdir(parents=True)
    (dest / "lib" / "libcrypto.a").write_bytes(b"!<arch>\n")
    (dest / "include" / "openssl").mkdir(parents=True)
    (dest / "include" / "openssl" / "evp.h").write_text("/* */\n")
    (dest / "BUILD-INFO").write_text(info)


def test_tarball_with_the_wrong_checksum_installs_nothing(
    serving: Callable[[bytes], ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_openssl = serving(b"not the OpenSSL release")
    dest = tmp_path / "build" / "openssl"
    assert build_openssl.main([str(dest)]) == 0  # a warning: the install links the system's
    assert "SHA-256" in capsys.readouterr().err
    assert not dest.exists()
    assert build_openssl.main([str(dest), "--require"]) == 1
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir()] == []  # no temp dir or log left


def test_unreachable_download_warns_and_goes_on(
    offline: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "openssl"
    assert offline.main([str(dest)]) == 0
    err = capsys.readouterr().err
    assert "download of" in err and "system OpenSSL" in err
    assert not dest.exists()


def test_a_finished_build_of_this_version_is_kept(
    offline: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "openssl"
    fake_build(dest, offline.stamp())
    assert offline.built(dest)
    assert offline.main([str(dest), "--require"]) == 0
    assert capsys.readouterr().err == ""
    assert (dest / "lib" / "libcrypto.a").is_file()


@pytest.mark.parametrize("missing", ["BUILD-INFO", "lib/libcrypto.a", "include/openssl/evp.h"])
def test_another_build_or_a_partial_one_is_removed_when_rebuilding_fails(
    offline: ModuleType, tmp_path: Path, missing: str
) -> None:
    other_version = tmp_path / "other-version"
    fake_build(other_version, offline.stamp().replace(offline.VERSION, "3.0.0"))
    other_options = tmp_path / "other-options"
    fake_build(other_options, offline.stamp().replace("no-legacy ", ""))
    partial = tmp_path / "partial"
    fake_build(partial, offline.stamp())
    (partial / missing).unlink()
    if missing == "BUILD-INFO":
        (partial / "BUILD-INFO").write_text("")  # a stamp of nothing
    for dest in (other_version, other_options, partial):
        assert not offline.built(dest)
        assert offline.main([str(dest)]) == 0
        assert not dest.exists()  # setup.py then links the system OpenSSL, never a stale one


def test_a_directory_it_did_not_build_is_never_touched(
    offline: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``DEST=/usr/local`` must not be wiped because it holds no build of this script."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "tool").write_text("keep me")
    assert offline.main([str(prefix)]) == 0
    assert "not built by this script" in capsys.readouterr().err
    assert offline.main([str(prefix), "--require"]) == 1
    assert (prefix / "bin" / "tool").read_text() == "keep me"


def test_an_oversized_download_is_cut_off(
    serving: Callable[[bytes], ModuleType],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_openssl = serving(bytes(3 << 20))
    monkeypatch.setattr(build_openssl, "MAX_DOWNLOAD", 1 << 20)
    dest = tmp_path / "openssl"
    assert build_openssl.main([str(dest)]) == 0
    assert "more than 1048576 bytes" in capsys.readouterr().err
    assert not dest.exists()
