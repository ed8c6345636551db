"""Registered data: crypto info of a file, authentication tags, owner sets, file records."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from teaclave.types.errors import DecodeError, InvalidArgument
from teaclave.types.ids import INPUT_PREFIX, OUTPUT_PREFIX, ExternalId
from teaclave.types.serde import bytes_from_json, bytes_to_json, require

TAG_SIZE = 16


class CryptoSchema(Enum):
    """File encryption schemes by their wire names."""

    AES_GCM_128 = "aes-gcm-128"
    AES_GCM_256 = "aes-gcm-256"
    TEACLAVE_FILE_128 = "teaclave-file-128"
    RAW = "raw"


_KEY_SIZES = {
    CryptoSchema.AES_GCM_128: 16,
    CryptoSchema.AES_GCM_256: 32,
    CryptoSchema.TEACLAVE_FILE_128: 16,
}
_SERDE_NAMES = {
    CryptoSchema.AES_GCM_128: "AesGcm128",
    CryptoSchema.AES_GCM_256: "AesGcm256",
    CryptoSchema.TEACLAVE_FILE_128: "TeaclaveFile128",
}


@dataclass(frozen=True, slots=True)
class FileCrypto:
    """How a file is encrypted: scheme, key and (for AES-GCM) a 12-byte IV."""

    schema: CryptoSchema
    key: bytes = b""
    iv: bytes = b""

    @classmethod
    def from_wire(
        cls, schema: str, key: bytes, iv: bytes, field: str = "crypto_info"
    ) -> FileCrypto:
        """Validate a ``FileCryptoInfo`` message's fields; errors name the offending field."""
        try:
            kind = CryptoSchema(schema)
        except ValueError:
            names = ", ".join(s.value for s in CryptoSchema)
            raise InvalidArgument(
                f"{field}.schema: invalid crypto schema {schema!r} (expected one of {names})"
            ) from None
        if kind is CryptoSchema.RAW:
            return cls(kind)
        want = _KEY_SIZES[kind]
        if len(key) != want:
            raise InvalidArgument(f"{field}.key: {kind.value} needs {want} bytes, got {len(key)}")
        if kind is CryptoSchema.TEACLAVE_FILE_128:
            if iv:
                raise InvalidArgument(f"{field}.iv: teaclave-file-128 takes no iv")
            return cls(kind, key)
        if len(iv) != 12:
            raise InvalidArgument(f"{field}.iv: {kind.value} needs 12 bytes, got {len(iv)}")
        return cls(kind, key, iv)

    @classmethod
    def random_protected(cls) -> FileCrypto:
        """Default crypto for platform-only files (fusion data): a random teaclave-file-128 key."""
        return cls(CryptoSchema.TEACLAVE_FILE_128, os.urandom(16))

    def to_json(self) -> Any:
        """Serde form: ``{"AesGcm128": {"key": [...], "iv": [...]}}``, ..., or ``"Raw"``."""
        if self.schema is CryptoSchema.RAW:
            return "Raw"
        body: dict[str, Any] = {"key": bytes_to_json(self.key)}
        if self.schema is not CryptoSchema.TEACLAVE_FILE_128:
            body["iv"] = bytes_to_json(self.iv)
        return {_SERDE_NAMES[self.schema]: body}

    @classmethod
    def from_json(cls, value: Any) -> FileCrypto:
        """Inverse of ``to_json``."""
        if value == "Raw":
            return cls(CryptoSchema.RAW)
        if not isinstance(value, dict) or len(value) != 1:
            raise DecodeError("crypto_info: unrecognised serde form")
        ((name, body),) = value.items()
        for schema, serde_name in _SERDE_NAMES.items():
            if serde_name == name:
                key = bytes_from_json(require(body, "key", "crypto_info"), "crypto_info.key")
                iv = b""
                if schema is not CryptoSchema.TEACLAVE_FILE_128:
                    iv = bytes_from_json(require(body, "iv", "crypto_info"), "crypto_info.iv")
                return cls(schema, key, iv)
        raise DecodeError(f"crypto_info: unknown scheme {name!r}")


def parse_tag(value: bytes, field: str = "cmac") -> bytes:
    """Validate a 16-byte file authentication tag."""
    if len(value) != TAG_SIZE:
        raise InvalidArgument(f"{field}: expected {TAG_SIZE} bytes, got {len(value)}")
    return bytes(value)


def tag_to_json(tag: bytes) -> dict[str, Any]:
    """Serde form of ``FileAuthTag``: ``{"tag": [16 ints]}``."""
    return {"tag": bytes_to_json(tag)}


def tag_from_json(value: Any) -> bytes:
    """Inverse of ``tag_to_json``."""
    return bytes_from_json(require(value, "tag", "cmac"), "cmac")


def parse_url(url: str, field: str = "url") -> str:
    """Check that ``url`` is an absolute URL with a scheme (the file agent checks the rest)."""
    if not url:
        raise InvalidArgument(f"{field}: empty")
    parts = urlsplit(url)
    if not parts.scheme or not (parts.netloc or parts.path):
        raise InvalidArgument(f"{field}: {url!r} is not an absolute URL")
    return url


def owners_to_json(owners: frozenset[str]) -> dict[str, Any]:
    """Serde form of ``OwnerList``: ``{"uids": [...]}`` (sorted for determinism)."""
    return {"uids": sorted(owners)}


def owners_from_json(value: Any) -> frozenset[str]:
    """Inverse of ``owners_to_json``."""
    uids = require(value, "uids", "owner")
    if not isinstance(uids, list) or not all(isinstance(u, str) for u in uids):
        raise DecodeError("owner.uids: expected an array of strings")
    return frozenset(uids)


@dataclass(slots=True)
class InputFile:
    """A registered input file (storage key ``input-<uuid>``)."""

    url: str
    cmac: bytes
    crypto: FileCrypto
    owner: frozenset[str]
    uuid: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def external_id(self) -> ExternalId:
        """``input-<uuid>``."""
        return ExternalId(INPUT_PREFIX, self.uuid)

    def to_json(self) -> dict[str, Any]:
        """Serde form of ``TeaclaveInputFile``."""
        return {
            "url": self.url,
            "cmac": tag_to_json(self.cmac),
            "crypto_info": self.crypto.to_json(),
            "owner": owners_to_json(self.owner),
            "uuid": str(self.uuid),
        }

    @classmethod
    def from_json(cls, value: Any) -> InputFile:
        """Inverse of ``to_json``."""
        return cls(
            url=str(require(value, "url", "input file")),
            cmac=tag_from_json(require(value, "cmac", "input file")),
            crypto=FileCrypto.from_json(require(value, "crypto_info", "input file")),
            owner=owners_from_json(require(value, "owner", "input file")),
            uuid=uuid.UUID(str(require(value, "uuid", "input file"))),
        )


@dataclass(slots=True)
class OutputFile:
    """A registered output file (storage key ``output-<uuid>``); ``cmac`` is set once, on write."""

    url: str
    crypto: FileCrypto
    owner: frozenset[str]
    cmac: bytes | None = None
    uuid: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def external_id(self) -> ExternalId:
        """``output-<uuid>``."""
        return ExternalId(OUTPUT_PREFIX, self.uuid)

    def to_json(self) -> dict[str, Any]:
        """Serde form of ``TeaclaveOutputFile``."""
        return {
            "url": self.url,
            "cmac": None if self.cmac is None else tag_to_json(self.cmac),
            "crypto_info": self.crypto.to_json(),
            "owner": owners_to_json(self.owner),
            "uuid": str(self.uuid),
        }

    @classmethod
    def from_json(cls, value: Any) -> OutputFile:
        """Inverse of ``to_json``."""
        cmac = require(value, "cmac", "output file")
        return cls(
            url=str(require(value, "url", "output file")),
            crypto=FileCrypto.from_json(require(value, "crypto_info", "output file")),
            owner=owners_from_json(require(value, "owner", "output file")),
            cmac=None if cmac is None else tag_from_json(cmac),
            uuid=uuid.UUID(str(require(value, "uuid", "output file"))),
        )

    def to_input(self) -> InputFile:
        """An input file with the same uuid, url, crypto and owners (needs the cmac set)."""
        if self.cmac is None:
            raise InvalidArgument("invalid output file: it has not been written yet (no cmac)")
        return InputFile(self.url, self.cmac, self.crypto, self.owner, self.uuid)


FUSION_URL_PREFIX = "fusion:///TEACLAVE_FUSION_BASE/"


def new_fusion_url() -> str:
    """URL of a fresh fusion file (its uuid is unrelated to the record's)."""
    return f"{FUSION_URL_PREFIX}{uuid.uuid4()}.fusion"
