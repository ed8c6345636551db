"""A small HTTP file server (GET and PUT) over one directory, like Teaclave's test server.

Data owners put their encrypted files where the platform can fetch them; this server is enough
for demos and for Teaclave's examples (``teaclave serve-files DIR --port 6789``). It serves
only files inside its directory, writes PUT bodies atomically, and refuses to overwrite.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

MAX_BODY = 1 << 30


class _Handler(BaseHTTPRequestHandler):
    root: Path
    server_version = "teaclave-file-server"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no per-request lines on stderr."""

    def _path(self) -> Path | None:
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        target = (self.root / relative).resolve()
        if target != self.root and self.root not in target.parents:
            return None
        return target

    def do_GET(self) -> None:
        """Send a file."""
        target = self._path()
        if target is None or not target.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(target.stat().st_size))
        self.end_headers()
        with target.open("rb") as fh:
            shutil.copyfileobj(fh, self.wfile)

    def do_PUT(self) -> None:
        """Store the body at a new path (an existing file is not replaced)."""
        target = self._path()
        length = int(self.headers.get("Content-Length", "-1"))
        if target is None or length < 0 or length > MAX_BODY:
            self.send_error(HTTPStatus.BAD_REQUEST)
            return
        if target.exists():
            self.send_error(HTTPStatus.CONFLICT, "file exists")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as out:
            remaining = length
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)
        if remaining:
            os.unlink(tmp)
            self.send_error(HTTPStatus.BAD_REQUEST, "truncated body")
            return
        os.replace(tmp, target)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "0")
        self.end_headers()


class FileServer:
    """Serve ``root`` on ``host:port`` (port 0: any free port) in a background thread."""

    def __init__(
        self, root: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        handler = type("Handler", (_Handler,), {"root": Path(root).resolve()})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        """The URL of file ``name`` in the served directory."""
        return f"http://{self.host}:{self.port}/{name}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
