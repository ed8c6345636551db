"""The file agent's errors and the URL redaction every error message goes through."""

from __future__ import annotations

from urllib.parse import urlsplit

_DATA_PREVIEW = 40


def redact_url(url: str) -> str:
    """``url`` reduced to what may be logged: scheme, host, port and path.

    User info, query strings (presigned URLs carry their signature there) and fragments are
    dropped; a ``data:`` URL keeps only its first characters.
    """
    if url.startswith("data:"):
        return url if len(url) <= _DATA_PREVIEW else url[:_DATA_PREVIEW] + "..."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<malformed url>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    if not parts.scheme:
        return "<malformed url>"
    return f"{parts.scheme}://{netloc}{parts.path}"


class FileAgentError(Exception):
    """A transfer failed; ``url`` is the redacted URL, ``message`` says what failed."""

    def __init__(self, url: str, message: str) -> None:
        self.url = redact_url(url)
        self.message = message
        super().__init__(f"{self.url}: {message}")


class EgressDenied(FileAgentError):
    """The URL points somewhere the policy forbids (non-public address, outside file roots)."""


class TransferCancelled(FileAgentError):
    """A transfer stopped because another transfer of the same call failed (internal)."""
