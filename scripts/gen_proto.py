"""Generate the Python code for the Teaclave wire definitions.

Runs ``grpc_tools.protoc`` on ``src/teaclave/proto/*.proto`` and writes ``*_pb2.py``,
``*_pb2.pyi`` and ``*_pb2_grpc.py`` next to them. protoc emits top-level imports between the
generated modules (``import teaclave_common_pb2 as teaclave__common__pb2``); they are rewritten
to package-relative imports (``from . import teaclave_common_pb2 as ...``) so the modules work
inside the ``teaclave.proto`` package. Nothing else in protoc's output is changed.

Usage::

    python scripts/gen_proto.py           # regenerate the committed files
    python scripts/gen_proto.py --check   # exit 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import importlib.resources
import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = REPO_ROOT / "src" / "teaclave" / "proto"

# Suffixes of the files protoc writes for one ``x.proto``: x_pb2.py, x_pb2.pyi, x_pb2_grpc.py.
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files(proto_dir: Path = PROTO_DIR) -> list[Path]:
    """Return the ``.proto`` files of ``proto_dir``, sorted by name."""
    return sorted(proto_dir.glob("*.proto"))


def is_generated(path: Path) -> bool:
    """Tell whether ``path`` is named like a file this script generates."""
    return path.name.endswith(GENERATED_SUFFIXES)


def generated_files(directory: Path) -> dict[str, Path]:
    """Map file name to path for every generated-looking file directly in ``directory``."""
    return {p.name: p for p in sorted(directory.iterdir()) if p.is_file() and is_generated(p)}


def grpc_tools_include_dir() -> Path:
    """Return grpc_tools' bundled include dir (holds ``google/protobuf/*.proto``)."""
    return Path(str(importlib.resources.files("grpc_tools") / "_proto"))


def make_imports_relative(source: str, local_modules: set[str]) -> str:
    """Rewrite top-level imports of sibling generated modules into package-relative ones.

    Handles the forms protoc emits for both ``.py`` and ``.pyi`` output::

        import teaclave_common_pb2 as teaclave__common__pb2
        import teaclave_common_pb2 as _teaclave_common_pb2
        import teaclave_common_pb2
        from teaclave_common_pb2 import X as Y

    Only modules in ``local_modules`` are touched, so ``google.protobuf`` imports (and any
    other third-party import) are left alone.
    """

    def plain_import(match: re.Match[str]) -> str:
        indent, module, alias = match.group("indent", "module", "alias")
        if module not in local_modules:
            return match.group(0)
        return f"{indent}from . import {module}{alias or ''}"

    def from_import(match: re.Match[str]) -> str:
        indent, module, rest = match.group("indent", "module", "rest")
        if module not in local_modules:
            return match.group(0)
        return f"{indent}from .{module} import {rest}"

    source = re.sub(
        r"^(?P<indent>[ \t]*)import (?P<module>\w+)(?P<alias> as \w+)?[ \t]*$",
        plain_import,
        source,
        flags=re.MULTILINE,
    )
    return re.sub(
        r"^(?P<indent>[ \t]*)from (?P<module>\w+) import (?P<rest>.+)$",
        from_import,
        source,
        flags=re.MULTILINE,
    )


def local_module_names(protos: list[Path]) -> set[str]:
    """Return the module names protoc generates for ``protos`` (``x_pb2``, ``x_pb2_grpc``)."""
    names: set[str] = set()
    for proto in protos:
        names.update({f"{proto.stem}_pb2", f"{proto.stem}_pb2_grpc"})
    return names


def run_protoc(protos: list[Path], proto_dir: Path, out_dir: Path) -> None:
    """Run protoc with the Python, .pyi and gRPC Python plugins; raise on failure."""
    args = [
        "grpc_tools.protoc",  # argv[0], ignored by protoc
        f"--proto_path={proto_dir}",
        f"--proto_path={grpc_tools_include_dir()}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(p.name for p in protos),
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed with exit status {status}: {' '.join(args)}")


def generate(out_dir: Path, proto_dir: Path = PROTO_DIR) -> None:
    """Generate and post-process the Python code for every proto of ``proto_dir``.

    Previously generated files in ``out_dir`` are removed first, so files of a deleted
    ``.proto`` do not linger.
    """
    protos = proto_files(proto_dir)
    if not protos:
        raise FileNotFoundError(f"no .proto files in {proto_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in generated_files(out_dir).values():
        stale.unlink()
    run_protoc(protos, proto_dir, out_dir)
    local_modules = local_module_names(protos)
    for path in generated_files(out_dir).values():
        original = path.read_bytes().decode("utf-8")
        rewritten = make_imports_relative(original, local_modules)
        if rewritten != original:
            path.write_bytes(rewritten.encode("utf-8"))


def compare(expected_dir: Path, actual_dir: Path) -> list[str]:
    """Compare the generated files of two directories; return one line per difference.

    ``expected_dir`` holds freshly generated files, ``actual_dir`` the committed ones.
    """
    expected = generated_files(expected_dir)
    actual = generated_files(actual_dir)
    problems: list[str] = []
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            problems.append(f"missing: {name}")
        elif name not in expected:
            problems.append(f"stale (no longer generated): {name}")
        elif expected[name].read_bytes() != actual[name].read_bytes():
            problems.append(f"differs: {name}")
    return problems


def check(proto_dir: Path = PROTO_DIR) -> list[str]:
    """Regenerate into a temporary directory and compare with the files in ``proto_dir``."""
    with tempfile.TemporaryDirectory(prefix="teaclave-gen-proto-") as tmp:
        fresh = Path(tmp)
        generate(fresh, proto_dir)
        return compare(fresh, proto_dir)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed generated files differ from a fresh run",
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        if problems:
            print("generated proto code is out of date (run `python scripts/gen_proto.py`):")
            for line in problems:
                print(f"  {line}")
            return 1
        print("generated proto code is up to date")
        return 0
    generate(PROTO_DIR)
    count = len(generated_files(PROTO_DIR))
    print(f"wrote {count} files to {PROTO_DIR.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
