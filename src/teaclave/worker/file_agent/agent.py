"""``FileAgent``: moves (ciphertext) files between URLs and the execution worker's disk.

Teaclave's file agent (``spec/security.md`` §3, ``spec/services.md`` §6.6) with its holes
closed: no redirects, size caps, timeouts, egress control against SSRF, ``file://`` confined to
configured roots, and all-or-nothing calls. Every transfer of one call runs concurrently; when
one fails the others are cancelled (at their next block), the call waits for them, removes every
local file and directory it created, and raises the first failure. Remote objects already
written by an upload of a failed call (HTTP PUT, S3) cannot be taken back and stay.
"""

from __future__ import annotations

import concurrent.futures
import os
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from teaclave.config.runtime import FileAgentConfig, RuntimeConfig
from teaclave.worker.file_agent.egress import AllowList, EgressPolicy
from teaclave.worker.file_agent.errors import EgressDenied, FileAgentError
from teaclave.worker.file_agent.http_client import HttpClient, HttpTarget, parse_http_url
from teaclave.worker.file_agent.local import (
    Confinement,
    decode_data_url,
    file_url_path,
    fusion_relative,
)
from teaclave.worker.file_agent.output import (
    AtomicOutput,
    CreatedPaths,
    copy_capped,
    make_parent_dirs,
)
from teaclave.worker.file_agent.s3 import S3Presigner, parse_s3_url

MAX_PARALLEL = 32
_CONTROL = frozenset(chr(c) for c in range(0x21)) | {"\x7f"}

Job = Callable[[threading.Event, CreatedPaths], None]


class FileAgent:
    """Downloads inputs and uploads outputs for the execution worker.

    Schemes: ``http``/``https`` (GET/PUT; PUT succeeds on 200, 201 or 204 where Teaclave only
    took 200), ``s3`` (presigned through boto3), ``file`` (only inside ``file_roots``; off when
    there are none), ``fusion:///TEACLAVE_FUSION_BASE/<rel>`` (under ``fusion_base``) and, for
    downloads only, ``data:text/plain;base64,...``; anything else is "Scheme not supported".
    ``EgressDenied`` marks policy refusals: a non-public address that is not allow-listed, or a
    path outside ``file_roots`` / the fusion base. With ``deny_private`` false the network
    egress check is off and every address may be reached (``file_roots`` still apply).
    ``timeout_secs`` bounds each connect and each read, not a whole transfer; proxy
    environment variables are ignored. Malformed URLs and existing local destinations are
    refused before any transfer starts; a malformed ``allowed_hosts`` entry makes the
    constructor raise ``ConfigError``.
    """

    def __init__(self, config: FileAgentConfig, fusion_base: Path) -> None:
        self._config = config
        self._fusion_base = Path(fusion_base)
        policy = EgressPolicy(AllowList.parse(config.allowed_hosts), config.deny_private)
        self._policy = policy
        self._http = HttpClient(
            policy, config.timeout_secs, config.max_file_bytes, ssl.create_default_context()
        )
        self._files = Confinement([Path(r) for r in config.file_roots], "file_agent.file_roots")
        self._fusion = Confinement([self._fusion_base], "the fusion base directory")
        self._s3 = S3Presigner(config.s3_endpoint_url)

    @classmethod
    def from_config(cls, config: RuntimeConfig) -> FileAgent:
        """The agent for ``[file_agent]`` and ``mount.fusion_base_dir`` of ``config``."""
        return cls(config.file_agent, Path(config.fusion_base_dir))

    # ------------------------------------------------------------------ public API
    def download(self, transfers: Sequence[tuple[str, Path]]) -> None:
        """Fetch every ``(url, local destination)`` pair, all or nothing.

        Destinations must not exist; missing parent directories are created (and removed again
        if the call fails).
        """
        seen: set[str] = set()
        jobs: list[Job] = []
        for url, destination in transfers:
            dest = Path(destination)
            key = os.path.abspath(dest)
            if key in seen:
                raise FileAgentError(url, f"destination {dest} appears twice in one call")
            seen.add(key)
            if os.path.lexists(dest):
                raise FileAgentError(url, f"destination {dest} exists")
            jobs.append(self._plan_download(url, dest))
        self._run(jobs)

    def upload(self, transfers: Sequence[tuple[Path, str]]) -> None:
        """Send every ``(local source, url)`` pair, all or nothing for local destinations."""
        jobs: list[Job] = []
        for source, url in transfers:
            src = Path(source)
            if not src.is_file():
                raise FileAgentError(url, f"upload source {src} is not an existing file")
            jobs.append(self._plan_upload(src, url))
        self._run(jobs)

    def check_upload_targets(self, urls: Sequence[str]) -> None:
        """Refuse, before any work is done, destinations an upload could never reach.

        Checks scheme, syntax, file/fusion confinement and, for network destinations, the
        egress policy (one DNS lookup; the upload itself checks again when it connects).
        """
        for url in urls:
            scheme = self._scheme(url)
            if scheme in ("http", "https"):
                target = parse_http_url(url)
                self._policy.resolve(url, target.host, target.port)
            elif scheme == "s3":
                parse_s3_url(url)
            elif scheme == "file":
                path = self._file_path(url)
                self._files.destination_dir(url, path)
            elif scheme == "fusion":
                fusion_relative(url)
            else:
                raise FileAgentError(url, f"Scheme not supported for outputs: {scheme or '(none)'}")

    # ------------------------------------------------------------------ planning
    def _scheme(self, url: str) -> str:
        if not isinstance(url, str) or not url:
            raise FileAgentError(str(url), "empty URL")
        if any(c in _CONTROL for c in url):
            raise FileAgentError(url, "URL contains whitespace or control characters")
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise FileAgentError(url, f"malformed URL: {exc}") from None
        return parts.scheme.lower()

    def _file_path(self, url: str) -> Path:
        if not self._files.roots:
            raise EgressDenied(url, "file URLs are disabled (file_agent.file_roots is empty)")
        return file_url_path(url)

    def _plan_download(self, url: str, dest: Path) -> Job:
        scheme = self._scheme(url)
        fetch: Fetch
        if scheme in ("http", "https"):
            target = parse_http_url(url)

            def fetch(sink: BinaryIO, cancel: threading.Event) -> None:
                self._http.get(target, sink, cancel)

        elif scheme == "s3":
            location = parse_s3_url(url)

            def fetch(sink: BinaryIO, cancel: threading.Event) -> None:
                signed = self._s3.presign(url, "get_object", location)
                self._http.get(parse_http_url(signed, report_url=url), sink, cancel)

        elif scheme in ("file", "fusion"):
            if scheme == "file":
                confinement, path = self._files, self._file_path(url)
            else:
                confinement = self._fusion
                path = self._fusion_base.joinpath(*fusion_relative(url))

            def fetch(sink: BinaryIO, cancel: threading.Event) -> None:
                with confinement.open_source(url, path) as source:
                    copy_capped(source, sink, self._config.max_file_bytes, url, cancel)

        elif scheme == "data":
            data = decode_data_url(url, self._config.max_file_bytes)

            def fetch(sink: BinaryIO, cancel: threading.Event) -> None:
                sink.write(data)

        else:
            raise FileAgentError(url, f"Scheme not supported: {scheme or '(none)'}")

        def job(cancel: threading.Event, created: CreatedPaths) -> None:
            make_parent_dirs(dest, created)
            output = AtomicOutput(dest, url, created)
            with output as sink:
                fetch(sink, cancel)
                output.commit()

        return _guarded(url, job)

    def _plan_upload(self, src: Path, url: str) -> Job:
        scheme = self._scheme(url)
        max_bytes = self._config.max_file_bytes
        if scheme in ("http", "https", "s3"):
            put_target: Callable[[], HttpTarget]
            if scheme == "s3":
                location = parse_s3_url(url)

                def put_target() -> HttpTarget:
                    signed = self._s3.presign(url, "put_object", location)
                    return parse_http_url(signed, report_url=url)

            else:
                target = parse_http_url(url)

                def put_target() -> HttpTarget:
                    return target

            def job(cancel: threading.Event, created: CreatedPaths) -> None:
                with src.open("rb") as source:
                    size = os.fstat(source.fileno()).st_size
                    self._http.put(put_target(), source, size, cancel)

            return _guarded(url, job)
        if scheme == "file":
            path = self._file_path(url)
            parent = self._files.destination_dir(url, path)
            if os.path.lexists(parent / path.name):
                raise FileAgentError(url, "destination exists")

            def target_dir(created: CreatedPaths) -> tuple[Path, str]:
                return self._files.destination_dir(url, path), path.name

        elif scheme == "fusion":
            relative = fusion_relative(url)

            def target_dir(created: CreatedPaths) -> tuple[Path, str]:
                self._fusion_base.mkdir(parents=True, exist_ok=True)
                directory = self._fusion.make_dirs(url, self._fusion_base, relative[:-1], created)
                return directory, relative[-1]

        elif scheme == "data":
            raise FileAgentError(url, "Scheme not supported: data (download only)")
        else:
            raise FileAgentError(url, f"Scheme not supported: {scheme or '(none)'}")

        def local_job(cancel: threading.Event, created: CreatedPaths) -> None:
            directory, name = target_dir(created)
            dest = directory / name
            if os.path.lexists(dest):
                raise FileAgentError(url, "destination exists")
            output = AtomicOutput(dest, url, created)
            with src.open("rb") as source, output as sink:
                copy_capped(source, sink, max_bytes, url, cancel)
                output.commit()

        return _guarded(url, local_job)

    # ------------------------------------------------------------------ running
    def _run(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        cancel = threading.Event()
        created = CreatedPaths()
        failure: BaseException | None = None
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=min(len(jobs), MAX_PARALLEL), thread_name_prefix="file-agent"
        ) as pool:
            futures = [pool.submit(job, cancel, created) for job in jobs]
            done, pending = concurrent.futures.wait(
                futures, return_when=concurrent.futures.FIRST_EXCEPTION
            )
            for future in futures:
                if future in done and future.exception() is not None:
                    failure = future.exception()
                    break
            if failure is not None:
                cancel.set()
                for future in pending:
                    future.cancel()
        if failure is not None:
            created.remove_all()
            raise failure


Fetch = Callable[[BinaryIO, threading.Event], None]


def _guarded(url: str, job: Job) -> Job:
    """``job`` with every exception turned into a ``FileAgentError`` naming ``url``."""

    def run(cancel: threading.Event, created: CreatedPaths) -> None:
        try:
            job(cancel, created)
        except FileAgentError:
            raise
        except OSError as exc:
            raise FileAgentError(url, f"I/O error: {exc.strerror or exc}") from exc
        except Exception as exc:
            raise FileAgentError(url, f"unexpected error: {type(exc).__name__}: {exc}") from exc

    return run
