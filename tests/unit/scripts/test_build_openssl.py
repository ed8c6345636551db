"""scripts/build_openssl.py: what it installs, and that a failure never leaves a library behind.

The full build (a minute) runs in ``make install``; the native module's tests check what it
linked. These tests serve the download from a real local HTTP server.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
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


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def fake_build(dest: Path, version: str) -> None:
    (dest / "lib").mkdir(parents=True)
    (dest / "lib" / "libcrypto.a").write_bytes(b"!<arch>\n")
    (dest / "include" / "openssl").mkdir(parents=True)
    (dest / "include" / "openssl" / "evp.h").write_text("/* */\n")
    (dest / "VERSION").write_text(version + "\n")


def test_tarball_with_the_wrong_checksum_installs_nothing(
    build_openssl: ModuleType,
    served: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, url = served
    (root / "openssl.tar.gz").write_bytes(b"not the OpenSSL release")
    monkeypatch.setattr(build_openssl, "URL", f"{url}/openssl.tar.gz")
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
    fake_build(dest, offline.VERSION)
    assert offline.main([str(dest), "--require"]) == 0
    assert capsys.readouterr().err == ""
    assert (dest / "lib" / "libcrypto.a").is_file()


@pytest.mark.parametrize("missing", ["VERSION", "lib/libcrypto.a", "include/openssl/evp.h"])
def test_another_version_or_a_partial_build_is_removed_when_rebuilding_fails(
    offline: ModuleType, tmp_path: Path, missing: str
) -> None:
    stale = tmp_path / "stale"
    fake_build(stale, "3.0.0")
    partial = tmp_path / "partial"
    fake_build(partial, offline.VERSION)
    (partial / missing).unlink()
    for dest in (stale, partial):
        assert offline.main([str(dest)]) == 0
        assert not dest.exists()  # setup.py then links the system OpenSSL, never a stale one
