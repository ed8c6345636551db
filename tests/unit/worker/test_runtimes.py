"""Runtimes: no-files and raw-io."""

from __future__ import annotations

from pathlib import Path

import pytest

from teaclave.worker import NoFilesRuntime, RawIoRuntime, RuntimeFileError


def test_no_files_runtime_refuses_every_name() -> None:
    runtime = NoFilesRuntime()
    with pytest.raises(RuntimeFileError, match=r"^Invalid input file identifier\."):
        runtime.open_input("input")
    with pytest.raises(RuntimeFileError, match=r"^Invalid output file identifier"):
        runtime.create_output("output")


def test_raw_io_runtime(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"Hello\nWorld")
    runtime = RawIoRuntime({"input": source}, {"output": tmp_path / "out.txt"})
    with runtime.open_input("input") as fh:
        assert fh.read() == b"Hello\nWorld"
    with runtime.create_output("output") as fh:
        fh.write(b"result")
    assert (tmp_path / "out.txt").read_bytes() == b"result"
    with pytest.raises(RuntimeFileError, match="Invalid input file identifier"):
        runtime.open_input("output")
    with pytest.raises(RuntimeFileError, match="Invalid output file identifier"):
        runtime.create_output("input")
