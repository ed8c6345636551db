"""``ProtectedFileStager``: a task's files from their URLs into protected form and back.

Before the run (``stage``), every input is downloaded through the file agent (all at once),
its tag is checked against the registered cmac, and it is brought into the executor's protected
form: a ``teaclave-file-128`` input is used as downloaded (its cmac is checked again by every
read); an AES-GCM input is decrypted straight into a fresh protected file with a random key
(plaintext never touches the disk); a ``raw`` input is copied into one. Every output gets a
fresh protected file with a random key. After the run (``finalize``), every output is read back
(verifying it), encrypted to its owner's registered crypto, and all are uploaded at once; the
tags become the task's ``tags_map``. A ``raw`` output is refused before the run.

Local layout, one directory per run: ``<work>/<task>/inputs/<name>/<url basename>``,
``<work>/<task>/inputs/<name>-staged/<url basename>``, ``<work>/<task>/outputs/<name>-staged/
<url basename>`` and ``<work>/<task>/outputs/<name>/<url basename>``. Everything is removed by
``cleanup``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from teaclave.crypto import aes_gcm
from teaclave.crypto.errors import CryptoError
from teaclave.crypto.protected_fs import ProtectedFileReader, ProtectedFileWriter, root_tag
from teaclave.types.files import CryptoSchema, FileCrypto
from teaclave.types.task import StagedTask
from teaclave.worker.file_agent import FileAgent, FileAgentError
from teaclave.worker.staging import FileStagingError, StagedFile, StagedFiles

COPY_CHUNK = 4 << 20  # whole teaclave-file-128 MHT groups, so its threads have work


def url_basename(url: str, fallback: str) -> str:
    """The last path segment of ``url`` (percent-decoded), or ``fallback`` (``data:`` URLs)."""
    parts = urlsplit(url)
    if parts.scheme == "data":
        return fallback
    name = PurePosixPath(unquote(parts.path)).name
    if not name or name in (".", ".."):
        raise FileStagingError(f"{fallback}: URL {url!r} does not end in a file name")
    return name


def _copy(src: object, dst: object) -> None:
    read = src.read  # type: ignore[attr-defined]
    write = dst.write  # type: ignore[attr-defined]
    while chunk := read(COPY_CHUNK):
        write(chunk)


class ProtectedFileStager:
    """The real ``TaskFileStager``: file agent + ``teaclave.crypto``."""

    def __init__(self, agent: FileAgent, work_dir: Path) -> None:
        self.agent = agent
        self.work_dir = Path(work_dir)

    def _task_dir(self, task: StagedTask) -> Path:
        return self.work_dir / str(task.task_id)

    # ------------------------------------------------------------------ before the run
    def stage(self, task: StagedTask) -> StagedFiles:
        """Download and convert every input; prepare every output."""
        for name, output in task.output_data.items():
            if output.crypto.schema is CryptoSchema.RAW:
                raise FileStagingError(f"OutputFile: unsupported type: {name} is registered raw")
        try:
            self.agent.check_upload_targets([o.url for o in task.output_data.values()])
        except FileAgentError as exc:
            raise FileStagingError(f"cannot deliver outputs: {exc}") from None
        base = self._task_dir(task)
        if base.exists():
            shutil.rmtree(base)
        downloads: list[tuple[str, Path]] = []
        fetched: dict[str, Path] = {}
        for name, item in task.input_data.items():
            path = base / "inputs" / name / url_basename(item.url, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            downloads.append((item.url, path))
            fetched[name] = path
        try:
            self.agent.download(downloads)
        except FileAgentError as exc:
            raise FileStagingError(f"cannot fetch inputs: {exc}") from None
        files = StagedFiles()
        for name, item in task.input_data.items():
            files.inputs[name] = self._stage_input(name, fetched[name], item.crypto, item.cmac)
        for name, output in task.output_data.items():
            path = base / "outputs" / f"{name}-staged" / url_basename(output.url, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            files.outputs[name] = StagedFile(path, FileCrypto.random_protected())
        return files

    def _stage_input(self, name: str, path: Path, crypto: FileCrypto, cmac: bytes) -> StagedFile:
        try:
            if crypto.schema is CryptoSchema.TEACLAVE_FILE_128:
                tag = root_tag(path)
                if tag != cmac:
                    raise FileStagingError(
                        f"input {name}: cmac mismatch (registered {cmac.hex()}, file {tag.hex()})"
                    )
                return StagedFile(path, crypto, cmac)
            staged = path.parent.parent / f"{name}-staged" / path.name
            staged.parent.mkdir(parents=True, exist_ok=True)
            protected = FileCrypto.random_protected()
            writer = ProtectedFileWriter(staged, protected.key)
            try:
                with path.open("rb") as src:
                    if crypto.schema is CryptoSchema.RAW:
                        _copy(src, writer)
                    else:
                        aes_gcm.decrypt_stream(
                            src, writer, crypto.key, crypto.iv, cmac, chunk_size=COPY_CHUNK
                        )
                tag = writer.close()
            except BaseException:
                writer.abort()
                staged.unlink(missing_ok=True)
                raise
            finally:
                path.unlink(missing_ok=True)
            return StagedFile(staged, protected, tag)
        except CryptoError as exc:
            raise FileStagingError(f"input {name}: {type(exc).__name__}: {exc}") from None

    # ------------------------------------------------------------------ after the run
    def finalize(self, task: StagedTask, files: StagedFiles) -> dict[str, bytes]:
        """Encrypt every output to its owner's crypto, upload all; return name → tag."""
        base = self._task_dir(task)
        uploads: list[tuple[Path, str]] = []
        tags: dict[str, bytes] = {}
        for name, output in task.output_data.items():
            staged = files.outputs[name]
            if not staged.path.exists():
                raise FileStagingError(f"output {name}: the function did not create it")
            final = base / "outputs" / name / url_basename(output.url, name)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                tags[name] = self._encrypt_output(staged, final, output.crypto)
            except CryptoError as exc:
                raise FileStagingError(f"output {name}: {type(exc).__name__}: {exc}") from None
            uploads.append((final, output.url))
        try:
            self.agent.upload(uploads)
        except FileAgentError as exc:
            raise FileStagingError(f"cannot upload outputs: {exc}") from None
        return tags

    @staticmethod
    def _encrypt_output(staged: StagedFile, final: Path, crypto: FileCrypto) -> bytes:
        with ProtectedFileReader(staged.path, staged.crypto.key) as reader:
            if crypto.schema is CryptoSchema.TEACLAVE_FILE_128:
                writer = ProtectedFileWriter(final, crypto.key)
                try:
                    _copy(reader, writer)
                except BaseException:
                    writer.abort()
                    final.unlink(missing_ok=True)
                    raise
                return writer.close()
            with final.open("wb") as dst:
                return aes_gcm.encrypt_stream(
                    reader, dst, crypto.key, crypto.iv, chunk_size=COPY_CHUNK
                )

    def cleanup(self, task: StagedTask, files: StagedFiles) -> None:
        """Remove the run's directory."""
        shutil.rmtree(self._task_dir(task), ignore_errors=True)


def default_work_dir(state_dir: str, configured: str) -> Path:
    """``file_agent.work_dir`` or ``<state>/work``, plus a per-node directory."""
    root = Path(configured) if configured else Path(state_dir) / "work"
    path = root / uuid.uuid4().hex
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
