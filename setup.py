"""Build hook for the optional native node loop of teaclave-file-128.

Everything else lives in pyproject.toml. ``teaclave.crypto._pfs_nodes`` needs a C compiler and
OpenSSL. It links, in this order of preference:

* the static libcrypto that ``scripts/build_openssl.py`` built into ``build/openssl`` (or the
  directory in ``TEACLAVE_OPENSSL_DIR``), if its stamp matches the script: a newer OpenSSL whose
  AES-GCM uses VAES / AVX-512.
  Its symbols stay hidden inside the module (``--exclude-libs``), so it never meets the system
  libcrypto that Python's ``ssl`` module loads;
* else the system OpenSSL (Debian: ``libssl-dev``).

When neither a compiler nor headers are there the build prints a warning, skips the module,
and ``teaclave.crypto.protected_fs_nodes`` falls back to ``cryptography``.
"""

import importlib.util
import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
OPENSSL_DIR = Path(os.environ.get("TEACLAVE_OPENSSL_DIR") or HERE / "build" / "openssl")
STATIC_LIB = OPENSSL_DIR / "lib" / "libcrypto.a"


def bundled_openssl_built() -> bool:
    """True if OPENSSL_DIR holds a build whose stamp matches scripts/build_openssl.py."""
    script = HERE / "scripts" / "build_openssl.py"
    spec = importlib.util.spec_from_file_location("build_openssl", script)
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return bool(module.built(OPENSSL_DIR))


STATIC = bundled_openssl_built()

setup(
    ext_modules=[
        Extension(
            "teaclave.crypto._pfs_nodes",
            sources=["src/teaclave/crypto/_pfs_nodes.c"],
            include_dirs=[str(OPENSSL_DIR / "include")] if STATIC else [],
            define_macros=[("TEACLAVE_STATIC_OPENSSL", "1")] if STATIC else [],
            extra_objects=[str(STATIC_LIB)] if STATIC else [],
            extra_link_args=["-Wl,--exclude-libs,ALL"] if STATIC else [],
            libraries=["pthread"] if STATIC else ["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"],
            optional=True,
        )
    ]
)
