"""``builtin-rsa-sign``: sign the ``data`` argument with the RSA key of input ``rsa_key``.

The key is an RSA private key in DER: PKCS#1 ``RSAPrivateKey`` as in Teaclave (PKCS#8 is
accepted too). The signature is RSASSA-PKCS1-v1_5 with SHA-256 over the UTF-8 bytes of
``data``; the summary is its standard base64 (deterministic, so it equals Teaclave's).
Keys shorter than 2048 bits are refused, as Teaclave's ``ring`` does.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from teaclave.functions import FunctionError, register, string_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-rsa-sign"
INPUT = "rsa_key"
MIN_KEY_BITS = 2048


def _load_key(der: bytes) -> rsa.RSAPrivateKey:
    """Parse ``der`` as an RSA private key or raise ``FunctionError`` naming the input."""
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as error:
        raise FunctionError(f"{INPUT}: not an RSA private key in DER: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise FunctionError(f"{INPUT}: expected an RSA key, got {type(key).__name__}")
    if key.key_size < MIN_KEY_BITS:
        raise FunctionError(
            f"{INPUT}: RSA key too small ({key.key_size} bits, need at least {MIN_KEY_BITS})"
        )
    return key


@register(NAME)
def rsa_sign(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Return base64(RSA-PKCS#1-v1.5-SHA-256 signature of ``data``)."""
    data = string_argument(arguments, "data")
    with runtime.open_input(INPUT) as stream:
        key = _load_key(stream.read())
    signature = key.sign(data.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")
