"""The guest side of the Python executor: runs first inside CPython-on-WASI, then the payload.

The host (``python_wasi.py``) passes this module's source to the interpreter with ``-c`` and
preopens two directories: ``/task`` (read-only: ``manifest``, ``payload.py`` and the
run's inputs as plaintext copies) and ``/out`` (writable: one empty file per declared output
and the ``result`` file). ``main()`` then

1. reads the manifest and the payload, opens every input and output file it may need;
2. **seals the sandbox**: closes the two directory handles, so that from here on the guest
   holds no directory at all — no path can be opened, no file created, and the number of
   host file descriptors of the run is fixed (the payload cannot exhaust them);
3. installs Teaclave's file API — builtin ``teaclave_open(name, mode)`` and a ``teaclave``
   module with ``open`` — over the handles of step 1;
4. runs the payload as module ``payload``, calls ``entrypoint(argv)`` and writes the outcome
   to ``/out/result``: ``ok <i>,<j>,...`` (the indices of the outputs opened for writing)
   or ``error``, a newline, then the summary or the error text in UTF-8.

The manifest is ``marshal`` data (format version 4, plain dicts, lists, strings and ints)
written by the host: unlike ``json`` (which compiles regular expressions at import) it costs
nothing to load, and start-up time is most of a run. Only built-in or already-loaded modules
are imported up front; ``traceback`` only when a payload fails.

The host imports this module only for the constants below; importing it has no effect.
Everything else here runs in the guest (CPython 3.12), so it uses nothing but the stdlib.
"""

from __future__ import annotations

import builtins
import io
import marshal
import os
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: Guest path of the read-only directory (manifest, payload, inputs).
TASK_DIR = "/task"
#: Guest path of the writable directory (outputs, result).
OUT_DIR = "/out"
MANIFEST_FILE = "manifest"
#: ``marshal`` format of the manifest (readable by every CPython since 3.4).
MANIFEST_VERSION = 4
PAYLOAD_FILE = "payload.py"
RESULT_FILE = "result"
#: Teaclave's error texts (MesaPy's ``teaclave.py``).
NOT_SUPPORTED = "Teaclave Not Supported"
FFI_ERROR = "fileio_init: teaclave_ffi_error"
#: Teaclave allocates file handles from one sequence 1..1023 per run.
MAX_OPENS = 1023
#: Exit status of the prelude when it cannot seal the sandbox (the host refuses the run).
SEAL_FAILED_STATUS = 70

#: Per open output (up to MAX_OPENS of them may be open at once within the memory limit).
_WRITE_BUFFER = 16 * 1024


def output_file(index: int) -> str:
    """File name, in ``/out``, of the declared output number ``index``."""
    return f"output-{index}"


def teaclave_error(message: str) -> RuntimeError:
    """A ``RuntimeError`` that also carries Python 2's ``.message`` (MesaPy payloads use it)."""
    error = RuntimeError(message)
    error.message = message  # type: ignore[attr-defined]
    return error


class InputStream(io.RawIOBase):
    """One open of an input: positional reads of a shared descriptor, with its own position."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._pos = 0

    def readable(self) -> bool:
        """Inputs are readable."""
        return True

    def seekable(self) -> bool:
        """Inputs are seekable."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read up to ``len(buffer)`` bytes at the current position."""
        view = memoryview(buffer).cast("B")
        data = os.pread(self._fd, len(view), self._pos)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position like ``io.FileIO.seek``."""
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = os.fstat(self._fd).st_size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if position < 0:
            raise OSError(22, "Invalid argument")
        self._pos = position
        return position

    def tell(self) -> int:
        """The current position."""
        return self._pos


class OutputSlot:
    """A declared output: its descriptor and the generation of its latest ``"wb"`` open."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.generation = 0


class OutputStream(io.RawIOBase):
    """One ``"wb"`` open of an output.

    A later ``"wb"`` open of the same output truncates it and detaches this one (its writes
    are dropped, like writes to a file that has been replaced).
    """

    def __init__(self, slot: OutputSlot) -> None:
        super().__init__()
        self._slot = slot
        self._generation = slot.generation
        self._pos = 0

    def writable(self) -> bool:
        """Outputs are writable."""
        return True

    def write(self, data: Any) -> int:
        """Write all of ``data`` at the current position."""
        view = memoryview(data).cast("B")
        if self._generation != self._slot.generation:
            return len(view)
        done = 0
        while done < len(view):
            done += os.pwrite(self._slot.fd, view[done:], self._pos + done)
        self._pos += done
        return done


class TeaclaveWriter(io.BufferedWriter):
    """Buffered output file; ``write`` also takes ``str`` (encoded as UTF-8, as MesaPy did)."""

    def write(self, data: Any) -> int:
        """Write bytes (or text, UTF-8 encoded)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        return super().write(data)


class FileApi:
    """Teaclave's payload file API over the descriptors opened before sealing."""

    def __init__(self, inputs: dict[str, int], outputs: dict[str, OutputSlot]) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.opens = 0
        self.written: list[str] = []  # names opened with "wb", in first-open order
        self.writers: list[TeaclaveWriter] = []

    def open(self, name: Any, mode: Any = "rb") -> io.BufferedIOBase:
        """``teaclave_open(name, mode)``: ``"rb"`` opens an input, ``"wb"`` creates an output."""
        if mode not in ("rb", "wb"):
            raise teaclave_error(NOT_SUPPORTED)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if not isinstance(name, str) or self.opens >= MAX_OPENS:
            raise teaclave_error(FFI_ERROR)
        if mode == "rb":
            fd = self.inputs.get(name)
            if fd is None:
                raise teaclave_error(FFI_ERROR)
            self.opens += 1
            return io.BufferedReader(InputStream(fd))
        slot = self.outputs.get(name)
        if slot is None:
            raise teaclave_error(FFI_ERROR)
        self.opens += 1
        os.ftruncate(slot.fd, 0)
        slot.generation += 1
        if name not in self.written:
            self.written.append(name)
        writer = TeaclaveWriter(OutputStream(slot), _WRITE_BUFFER)
        self.writers = [w for w in self.writers if not w.closed]
        self.writers.append(writer)
        return writer

    def flush_all(self) -> None:
        """Flush every output the payload left open (MesaPy wrote through unbuffered)."""
        for writer in self.writers:
            if not writer.closed:
                writer.flush()


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _seal() -> None:
    """Close the preopened directories; afterwards no path can be opened."""
    marks = {(st.st_dev, st.st_ino) for st in (os.stat(TASK_DIR), os.stat(OUT_DIR))}
    for fd in range(3, 256):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in marks:
            os.close(fd)
    for path in (TASK_DIR, OUT_DIR, f"{TASK_DIR}/{MANIFEST_FILE}"):
        try:
            os.stat(path)
        except OSError:
            continue
        raise SystemExit(SEAL_FAILED_STATUS)


def _describe(error: BaseException) -> str:
    """The traceback's last line, plus where in the payload it was raised."""
    import traceback

    traceback.print_exception(type(error), error, error.__traceback__)
    if isinstance(error, SystemExit):
        return f"the payload called exit({error.code!r})"
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == PAYLOAD_FILE]
    if frames:
        frame = frames[-1]
        last += f" ({PAYLOAD_FILE}, line {frame.lineno}, in {frame.name})"
    return last


def _summary(value: object, limit: int) -> bytes:
    """The entrypoint's return value as UTF-8 (``None`` is the empty summary)."""
    if value is None:
        return b""
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
        data.decode("utf-8")
    else:
        raise TypeError(f"entrypoint must return a str, not {type(value).__name__}")
    if len(data) > limit:
        raise ValueError(
            f"the result is {len(data)} bytes, over the limit of {limit} "
            "(executor.max_result_bytes)"
        )
    return data


def _write_result(fd: int, header: str, body: bytes) -> None:
    data = header.encode("ascii") + b"\n" + body
    os.ftruncate(fd, 0)
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], done)


def _run_payload(source: bytes, argv: list[str], api: FileApi, limit: int) -> bytes:
    module = types.ModuleType("payload")
    module.__file__ = PAYLOAD_FILE
    sys.modules["payload"] = module
    exec(compile(source, PAYLOAD_FILE, "exec"), module.__dict__)
    entrypoint = module.__dict__.get("entrypoint")
    if not callable(entrypoint):
        raise NameError("the payload does not define entrypoint(argv)")
    value = entrypoint(list(argv))
    api.flush_all()
    return _summary(value, limit)


def main() -> None:
    """Set up the sandbox and the file API, run the payload, write the result."""
    manifest = marshal.loads(_read(f"{TASK_DIR}/{MANIFEST_FILE}"))
    source = _read(f"{TASK_DIR}/{PAYLOAD_FILE}")
    inputs = {
        name: os.open(f"{TASK_DIR}/{file}", os.O_RDONLY)
        for name, file in manifest["inputs"].items()
    }
    output_names: list[str] = manifest["outputs"]
    outputs = {
        name: OutputSlot(os.open(f"{OUT_DIR}/{output_file(index)}", os.O_WRONLY))
        for index, name in enumerate(output_names)
    }
    result_fd = os.open(f"{OUT_DIR}/{RESULT_FILE}", os.O_WRONLY)
    _seal()

    api = FileApi(inputs, outputs)
    open_file: Callable[..., io.BufferedIOBase] = api.open
    builtins.teaclave_open = open_file  # type: ignore[attr-defined]
    module = types.ModuleType("teaclave", "Teaclave's payload file API.")
    module.open = open_file  # type: ignore[attr-defined]
    sys.modules["teaclave"] = module
    # print() goes to stderr; the host shows its tail when a run fails.
    sys.stdout = sys.stderr

    try:
        summary = _run_payload(source, manifest["argv"], api, manifest["max_result_bytes"])
    except BaseException as error:  # the payload's failure, whatever it is, fails the run
        try:
            message = _describe(error)
        except BaseException:  # e.g. MemoryError while formatting
            message = type(error).__name__
        _write_result(result_fd, "error", message.encode("utf-8", "replace"))
        return
    written = ",".join(str(output_names.index(name)) for name in api.written)
    _write_result(result_fd, f"ok {written}", summary)


if __name__ == "__main__":
    main()
