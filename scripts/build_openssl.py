"""Build the static OpenSSL that the teaclave-file-128 node loop links, when it can.

``teaclave.crypto._pfs_nodes`` runs AES-128-GCM once per 4 KiB node. OpenSSL 3.0 (Debian 12's)
does that with AES-NI at about 3.3 GB/s per core here; OpenSSL 3.2 and later have a VAES /
AVX-512 GCM that does it at about 7 GB/s on CPUs with those instructions. No registry this
project installs from offers a newer libcrypto to link against, so this script builds one:

1. download Debian 13's source tarball of OpenSSL (the unmodified upstream release) from
   ``deb.debian.org``, and check it against the SHA-256 pinned below;
2. configure only what libcrypto's ciphers need (no TLS, apps, engines, loadable modules or
   shared library), position-independent, and build ``libcrypto.a`` (about a minute on 2 cores);
3. put ``include/`` and ``lib/libcrypto.a`` under the destination (default ``build/openssl``),
   which ``setup.py`` then links statically with its symbols hidden, so it never meets the
   system libcrypto that Python's ``ssl`` module loads.

Any failure (no network, a moved tarball, a missing compiler) prints one warning and exits 0:
the install then links the system OpenSSL, as without this script. ``--require`` makes it fail
instead. Bump ``VERSION`` and ``SHA256`` together (Debian's pool keeps the tarball of the
release its suites ship).

The destination holds a ``BUILD-INFO`` stamp (version, SHA-256, configure options); setup.py
links only a build whose stamp matches this script. A destination without the stamp that is
not empty is never touched (it is not ours).

Usage::

    python scripts/build_openssl.py [DEST] [--require]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

VERSION = "3.5.7"
SHA256 = "a8c0d28a529ca480f9f36cf5792e2cd21984552a3c8e4aa11a24aa31aeac98e8"
URL = f"http://deb.debian.org/debian/pool/main/o/openssl/openssl_{VERSION}.orig.tar.gz"
MAX_DOWNLOAD = 128 << 20  # the tarball is 53 MB
REPO_ROOT = Path(__file__).resolve().parents[1]

# Everything libcrypto can leave out: AES-GCM needs none of it. The static library is linked
# into one extension module, so there is no shared library, no loadable module and no config.
CONFIGURE_OPTIONS = [
    "no-shared",
    "no-module",
    "no-dso",
    "no-engine",
    "no-legacy",
    "no-tests",
    "no-apps",
    "no-docs",
    "no-ssl",
    "no-tls",
    "no-dtls",
    "no-quic",
    "no-sock",
    "no-http",
    "no-ocsp",
    "no-cms",
    "no-ts",
    "no-ct",
    "no-srp",
    "no-comp",
    "no-ui-console",
    "-fPIC",
]


class BuildError(Exception):
    """A step failed; the message says which."""


def stamp() -> str:
    """What ``BUILD-INFO`` says of a build by this script as it is now."""
    return f"OpenSSL {VERSION}\nsha256 {SHA256}\nconfigure {' '.join(CONFIGURE_OPTIONS)}\n"


def built(dest: Path) -> bool:
    """True if ``dest`` holds a complete build whose stamp matches this script."""
    info = dest / "BUILD-INFO"
    return (
        info.is_file()
        and info.read_text() == stamp()
        and (dest / "lib" / "libcrypto.a").is_file()
        and (dest / "include" / "openssl" / "evp.h").is_file()
    )


def ours(dest: Path) -> bool:
    """True if ``dest`` is missing, empty or stamped by this script (so it may be replaced)."""
    if not dest.exists():
        return True
    return dest.is_dir() and ((dest / "BUILD-INFO").is_file() or not any(dest.iterdir()))


def download(target: Path) -> None:
    """Fetch the tarball to ``target`` and check its SHA-256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(URL, timeout=60) as response, target.open("wb") as out:
            size = 0
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > MAX_DOWNLOAD:
                    raise BuildError(f"{URL}: more than {MAX_DOWNLOAD} bytes")
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise BuildError(f"download of {URL} failed: {exc}") from exc
    if digest.hexdigest() != SHA256:
        raise BuildError(f"{URL}: SHA-256 {digest.hexdigest()}, expected {SHA256}")


def run(cmd: list[str], cwd: Path, log: Path) -> None:
    """Run ``cmd`` with its output appended to ``log``."""
    with log.open("ab") as out:
        result = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode:
        raise BuildError(f"{' '.join(cmd[:2])} failed (exit {result.returncode}); see {log}")


def build(dest: Path) -> None:
    """Download, check, configure and build; install into ``dest`` only when all succeeded."""
    for tool in ("cc", "make", "perl"):
        if shutil.which(tool) is None:
            raise BuildError(f"{tool} is not installed")
    if not hasattr(tarfile, "data_filter"):
        raise BuildError("this Python's tarfile has no safe extraction filter (3.11.4+ has)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".openssl-build-") as tmp:
        work = Path(tmp)
        tarball = work / "openssl.tar.gz"
        download(tarball)
        with tarfile.open(tarball) as archive:
            archive.extractall(work, filter="data")
        source = work / f"openssl-{VERSION}"
        log = dest.parent / "openssl-build.log"
        log.unlink(missing_ok=True)
        jobs = str(len(os.sched_getaffinity(0)))
        run(["perl", "./Configure", *CONFIGURE_OPTIONS], source, log)
        run(["make", "-j", jobs, "build_generated"], source, log)
        run(["make", "-j", jobs, "libcrypto.a"], source, log)
        staged = work / "out"
        (staged / "lib").mkdir(parents=True)
        shutil.copy2(source / "libcrypto.a", staged / "lib" / "libcrypto.a")
        shutil.copytree(source / "include" / "openssl", staged / "include" / "openssl")
        (staged / "BUILD-INFO").write_text(stamp())
        if not ours(dest):
            raise BuildError(f"{dest} exists and was not built by this script")
        shutil.rmtree(dest, ignore_errors=True)
        staged.rename(dest)


def main(argv: list[str] | None = None) -> int:
    """Build into DEST unless it is already there; 0 on success or a tolerated failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default=str(REPO_ROOT / "build" / "openssl"))
    parser.add_argument("--require", action="store_true", help="fail instead of warning")
    args = parser.parse_args(argv)
    dest = Path(args.dest).resolve()
    if built(dest):
        return 0
    if not ours(dest):
        print(
            f"error: {dest} exists and was not built by this script; not touching it",
            file=sys.stderr,
        )
        return 1 if args.require else 0
    # Another version, or half there: never leave it for setup.py to link.
    shutil.rmtree(dest, ignore_errors=True)
    print(f"building OpenSSL {VERSION} (libcrypto only) into {dest} ...", file=sys.stderr)
    try:
        build(dest)
    except (BuildError, OSError, tarfile.TarError) as exc:
        print(f"warning: OpenSSL {VERSION} not built ({exc});", file=sys.stderr)
        print("the node loop will link the system OpenSSL instead", file=sys.stderr)
        return 1 if args.require else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
