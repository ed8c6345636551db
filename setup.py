"""Build hook for the optional native node loop of teaclave-file-128.

Everything else lives in pyproject.toml. ``teaclave.crypto._pfs_nodes`` needs a C compiler and
the OpenSSL headers (Debian: ``libssl-dev``); when either is missing the build prints a warning,
skips the module, and ``teaclave.crypto.protected_fs_nodes`` falls back to ``cryptography``.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "teaclave.crypto._pfs_nodes",
            sources=["src/teaclave/crypto/_pfs_nodes.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"],
            optional=True,
        )
    ]
)
