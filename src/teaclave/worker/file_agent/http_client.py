"""Streaming HTTP(S) GET and PUT pinned to egress-checked addresses (stdlib ``http.client``).

No redirects are followed (a 3xx is an error naming the status), no proxy settings are read
(a proxy would defeat the egress check), sizes are capped, and every connect and read has the
configured timeout. HTTPS verifies the server certificate against the system trust store for
the URL's host name, which is also sent as SNI and in the ``Host`` header while the TCP
connection goes to the address that was checked.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

from teaclave.worker.file_agent.egress import EgressPolicy, ResolvedAddress
from teaclave.worker.file_agent.errors import FileAgentError, TransferCancelled

CHUNK = 1 << 16
USER_AGENT = "teaclave-py-file-agent"
PUT_SUCCESS = frozenset({200, 201, 204})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_RE = re.compile(r"^[a-z0-9._-]+$")
_S3_CODE_RE = re.compile(rb"<Code>([A-Za-z0-9.]{1,64})</Code>")
_ERROR_BODY_PEEK = 4096


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """A parsed ``http``/``https`` URL; ``report_url`` is what error messages name."""

    scheme: str
    host: str
    port: int
    request_target: str
    report_url: str

    @property
    def host_header(self) -> str:
        """The ``Host`` header value (port omitted when it is the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse_http_url(url: str, report_url: str | None = None) -> HttpTarget:
    """Parse and check an ``http``/``https`` URL (no user info, a valid host and port)."""
    report = url if report_url is None else report_url
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise FileAgentError(report, f"Scheme not supported: {parts.scheme}")
    if "@" in parts.netloc:
        raise FileAgentError(report, "URLs with user info (user:password@) are refused")
    try:
        port = parts.port
    except ValueError:
        raise FileAgentError(report, "invalid port") from None
    raw_host = parts.hostname or ""
    if not raw_host:
        raise FileAgentError(report, "URL has no host")
    if parts.netloc.startswith("["):
        host = raw_host
        if not _is_ipv6(host):
            raise FileAgentError(report, f"invalid IPv6 host {host!r}")
    else:
        try:
            host = raw_host.encode("idna").decode("ascii")
        except UnicodeError:
            raise FileAgentError(report, f"invalid host {raw_host!r}") from None
        if not _HOST_RE.match(host):
            raise FileAgentError(report, f"invalid host {raw_host!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return HttpTarget(
        scheme=parts.scheme,
        host=host,
        port=_DEFAULT_PORTS[parts.scheme] if port is None else port,
        request_target=target,
        report_url=report,
    )


def _is_ipv6(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
    except OSError:
        return False
    return True


def _connect_any(addresses: list[ResolvedAddress], timeout: float) -> socket.socket:
    last: OSError | None = None
    for address in addresses:
        sock = socket.socket(address.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(address.sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    assert last is not None
    raise last


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to pre-resolved addresses."""

    def __init__(
        self, target: HttpTarget, addresses: list[ResolvedAddress], timeout: float
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = addresses
        self._connect_timeout = timeout

    def connect(self) -> None:
        """Connect to the first reachable checked address."""
        self.sock = _connect_any(self._addresses, self._connect_timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to pre-resolved addresses, verifying the URL's host name."""

    def __init__(
        self,
        target: HttpTarget,
        addresses: list[ResolvedAddress],
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._addresses = addresses
        self._connect_timeout = timeout
        self._tls = context
        self._server_name = target.host

    def connect(self) -> None:
        """Connect to a checked address and run the TLS handshake for the URL's host."""
        sock = _connect_any(self._addresses, self._connect_timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)
        except BaseException:
            sock.close()
            raise


class _CappedReader:
    """File-like body for ``http.client``: stops at ``size`` bytes and honours cancellation."""

    def __init__(self, file: BinaryIO, size: int, cancel: threading.Event, url: str) -> None:
        self._file = file
        self._left = size
        self._cancel = cancel
        self._url = url

    def read(self, amount: int = CHUNK) -> bytes:
        """Next block of the body."""
        if self._cancel.is_set():
            raise TransferCancelled(self._url, "cancelled: another transfer failed")
        if self._left <= 0:
            return b""
        data = self._file.read(min(amount, self._left))
        self._left -= len(data)
        return data


class HttpClient:
    """GET and PUT with egress control, timeouts, size caps and no redirects."""

    def __init__(
        self, policy: EgressPolicy, timeout: float, max_bytes: int, context: ssl.SSLContext
    ) -> None:
        self._policy = policy
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._context = context

    def _open(self, target: HttpTarget) -> http.client.HTTPConnection:
        addresses = self._policy.resolve(target.report_url, target.host, target.port)
        if target.scheme == "https":
            return _PinnedHTTPSConnection(target, addresses, self._timeout, self._context)
        return _PinnedHTTPConnection(target, addresses, self._timeout)

    def _headers(self, target: HttpTarget) -> dict[str, str]:
        return {
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            "Connection": "close",
        }

    def get(self, target: HttpTarget, sink: BinaryIO, cancel: threading.Event) -> int:
        """Stream the body of ``GET target`` into ``sink``; return the byte count."""
        url = target.report_url
        conn = self._open(target)
        try:
            conn.request("GET", target.request_target, headers=self._headers(target))
            response = conn.getresponse()
            self._check_status(response, url, ok=range(200, 300))
            declared = _content_length(response, url)
            if declared is not None and declared > self._max_bytes:
                raise FileAgentError(
                    url,
                    f"Content-Length {declared} exceeds file_agent.max_file_bytes "
                    f"({self._max_bytes})",
                )
            total = 0
            while True:
                if cancel.is_set():
                    raise TransferCancelled(url, "cancelled: another transfer failed")
                chunk = response.read(min(CHUNK, self._max_bytes - total + 1))
                if not chunk:
                    break
                total += len(chunk)
                if total > self._max_bytes:
                    raise FileAgentError(
                        url, f"body exceeds file_agent.max_file_bytes ({self._max_bytes})"
                    )
                sink.write(chunk)
            if declared is not None and total != declared:
                raise FileAgentError(
                    url, f"body truncated: got {total} of {declared} bytes (Content-Length)"
                )
            return total
        except (OSError, http.client.HTTPException) as exc:
            raise _network_error(url, exc, self._timeout) from None
        finally:
            conn.close()

    def put(self, target: HttpTarget, source: BinaryIO, size: int, cancel: threading.Event) -> None:
        """Send ``size`` bytes of ``source`` as one ``PUT`` (success: 200, 201 or 204)."""
        url = target.report_url
        if size > self._max_bytes:
            raise FileAgentError(
                url, f"file of {size} bytes exceeds file_agent.max_file_bytes ({self._max_bytes})"
            )
        conn = self._open(target)
        try:
            headers = self._headers(target)
            headers["Content-Type"] = "application/x-binary"
            headers["Content-Length"] = str(size)
            body = _CappedReader(source, size, cancel, url)
            conn.request("PUT", target.request_target, body=body, headers=headers)
            response = conn.getresponse()
            self._check_status(response, url, ok=PUT_SUCCESS)
            response.read(_ERROR_BODY_PEEK)
        except (OSError, http.client.HTTPException) as exc:
            raise _network_error(url, exc, self._timeout) from None
        finally:
            conn.close()

    @staticmethod
    def _check_status(
        response: http.client.HTTPResponse, url: str, ok: range | frozenset[int]
    ) -> None:
        status = response.status
        if status in ok:
            return
        if 300 <= status < 400:
            raise FileAgentError(
                url, f"HTTP {status} {response.reason}: redirects are not followed"
            )
        detail = ""
        try:
            match = _S3_CODE_RE.search(response.read(_ERROR_BODY_PEEK))
        except (OSError, http.client.HTTPException):
            match = None
        if match:
            detail = f" ({match.group(1).decode('ascii')})"
        raise FileAgentError(url, f"HTTP {status} {response.reason}{detail}")


def _content_length(response: http.client.HTTPResponse, url: str) -> int | None:
    if response.chunked:
        return None
    raw = response.getheader("Content-Length")
    if raw is None:
        return None
    values = {v.strip() for v in raw.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise FileAgentError(url, f"invalid Content-Length {raw!r}")
    return int(values.pop())


def _network_error(url: str, exc: BaseException, timeout: float) -> FileAgentError:
    if isinstance(exc, FileAgentError):
        return exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return FileAgentError(url, f"timed out (file_agent.timeout_secs = {timeout})")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return FileAgentError(url, f"TLS certificate verification failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return FileAgentError(url, f"TLS error: {exc.reason or exc}")
    if isinstance(exc, http.client.HTTPException):
        return FileAgentError(url, f"bad HTTP response: {type(exc).__name__} {exc}")
    if isinstance(exc, OSError):
        return FileAgentError(url, f"network error: {exc.strerror or exc}")
    return FileAgentError(url, f"unexpected error: {exc!r}")
