"""``builtin_online_decrypt`` (underscores, as in Teaclave): AES-GCM-open a base64 ciphertext.

Arguments (all strings): ``key`` (base64 of 16 or 32 bytes), ``nonce`` (base64; its first 12
bytes are the GCM nonce, extra bytes are ignored as in Teaclave), ``encrypted_data`` (base64 of
ciphertext followed by the 16-byte tag) and ``algorithm`` (``aes128gcm`` or ``aes256gcm``).
The associated data is EMPTY. The plaintext must be UTF-8; it is the task's summary.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from teaclave.functions import FunctionError, register, string_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin_online_decrypt"
NONCE_SIZE = 12
TAG_SIZE = 16
#: Key length in bytes by algorithm name.
ALGORITHMS = {"aes128gcm": 16, "aes256gcm": 32}


def _base64_argument(arguments: dict[str, Any], key: str) -> bytes:
    """Decode the base64 string argument ``key`` (standard alphabet, padding required)."""
    text = string_argument(arguments, key)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FunctionError(f"{key}: not valid base64") from None


@register(NAME)
def online_decrypt(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Return the UTF-8 plaintext of ``encrypted_data`` under ``key``/``nonce``/``algorithm``."""
    algorithm = string_argument(arguments, "algorithm")
    key_size = ALGORITHMS.get(algorithm)
    if key_size is None:
        raise FunctionError(f"Invalid algorithm: {algorithm!r} (expected aes128gcm or aes256gcm)")
    key = _base64_argument(arguments, "key")
    nonce = _base64_argument(arguments, "nonce")
    data = _base64_argument(arguments, "encrypted_data")
    if len(key) != key_size:
        raise FunctionError(f"key: {algorithm} needs a {key_size}-byte key, got {len(key)} bytes")
    if len(nonce) < NONCE_SIZE:
        raise FunctionError(f"nonce: needs at least {NONCE_SIZE} bytes, got {len(nonce)}")
    if len(data) < TAG_SIZE:
        raise FunctionError(f"encrypted_data: shorter than the {TAG_SIZE}-byte tag")
    try:
        plain = AESGCM(key).decrypt(nonce[:NONCE_SIZE], data, None)
    except InvalidTag:
        raise FunctionError("Decryption failed: authentication tag mismatch") from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FunctionError(f"Invalid UTF-8 sequence in the plaintext: {error}") from None
