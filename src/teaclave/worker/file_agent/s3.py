"""``s3://bucket/key``: boto3 signs, the file agent's own HTTP client moves the bytes.

boto3 is used only to presign a ``GetObject``/``PutObject`` request (a local computation; the
credentials come from the standard AWS chain: environment variables, shared config files,
...). The presigned URL is then fetched or written with ``HttpClient``, so S3 transfers get the
same egress check (a MinIO on an internal address must be in ``allowed_hosts``), address
pinning, timeouts, size caps and redirect refusal as plain ``https``. When no credentials are
found the request is sent unsigned (public buckets). The key is the URL path after the bucket,
percent-decoded like any URL path (``s3://b/a%20b`` is the key ``a b``; a literal ``%`` is
``%25``). With ``s3_endpoint_url`` set,
path-style addressing is used (MinIO and other S3-compatible stores).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from teaclave.worker.file_agent.errors import FileAgentError

PRESIGN_EXPIRES_SECS = 900


@dataclass(frozen=True, slots=True)
class S3Location:
    """A bucket and key."""

    bucket: str
    key: str


def parse_s3_url(url: str) -> S3Location:
    """Split ``s3://bucket/key`` (no user info, port, query or fragment; non-empty key)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise FileAgentError(url, "URLs with user info (user:password@) are refused")
    if ":" in parts.netloc or parts.query or parts.fragment:
        raise FileAgentError(url, "s3 URLs must look like s3://bucket/key")
    key = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if not parts.netloc or not key:
        raise FileAgentError(url, "s3 URLs must look like s3://bucket/key")
    return S3Location(parts.netloc, key)


class S3Presigner:
    """Creates presigned S3 URLs with one lazily built boto3 client."""

    def __init__(self, endpoint_url: str) -> None:
        self._endpoint_url = endpoint_url
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # type: ignore[import-untyped]
                import botocore  # type: ignore[import-untyped]
                from botocore.config import Config  # type: ignore[import-untyped]

                session = boto3.session.Session()
                options: dict[str, Any] = {"signature_version": "s3v4"}
                if session.get_credentials() is None:
                    options["signature_version"] = botocore.UNSIGNED
                if self._endpoint_url:
                    options["s3"] = {"addressing_style": "path"}
                self._client = session.client(
                    "s3",
                    endpoint_url=self._endpoint_url or None,
                    region_name=session.region_name or "us-east-1",
                    config=Config(**options),
                )
            return self._client

    def presign(self, url: str, operation: str, location: S3Location) -> str:
        """A presigned URL for ``get_object`` or ``put_object`` on ``location``."""
        try:
            client = self._s3()
            signed: str = client.generate_presigned_url(
                operation,
                Params={"Bucket": location.bucket, "Key": location.key},
                ExpiresIn=PRESIGN_EXPIRES_SECS,
            )
        except Exception as exc:  # botocore raises many unrelated exception types
            raise FileAgentError(url, f"cannot sign the S3 request: {type(exc).__name__}") from None
        return signed
