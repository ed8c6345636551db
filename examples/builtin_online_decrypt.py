"""builtin_online_decrypt: decrypt an AES-GCM ciphertext passed as arguments.

No files: the key, nonce and ciphertext (base64) travel as task arguments over the TLS
channel, and the plaintext comes back as the result. Shown with AES-256-GCM and
AES-128-GCM; the ciphertexts (``ciphertext || tag``, no associated data) are made here
with fresh keys.

Usage: python examples/builtin_online_decrypt.py [PLAINTEXT]
"""

from __future__ import annotations

import base64
import secrets
import sys

from common import SETTINGS, check, login, run, step, task_result
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from teaclave.sdk import FunctionArgument


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode()


def main() -> None:
    """Decrypt two ciphertexts on the platform."""
    plaintext = sys.argv[1] if len(sys.argv) > 1 else "Hello Teaclave!"
    with login(SETTINGS.admin, SETTINGS.admin_password) as client:
        function_id = client.register_function(
            "builtin_online_decrypt",
            "Native Online Decrypt",
            "builtin",
            arguments=[
                FunctionArgument(k) for k in ("key", "nonce", "encrypted_data", "algorithm")
            ],
        )
        step(f"registered builtin_online_decrypt as {function_id}")
        for algorithm, key_size in (("aes256gcm", 32), ("aes128gcm", 16)):
            key, nonce = secrets.token_bytes(key_size), secrets.token_bytes(12)
            sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), None)  # no AAD
            task_id = client.create_task(
                function_id,
                {
                    "key": b64(key),
                    "nonce": b64(nonce),
                    "encrypted_data": b64(sealed),
                    "algorithm": algorithm,
                },
                "builtin",
            )
            client.invoke_task(task_id)
            step(f"task {task_id}: {algorithm} ciphertext {b64(sealed)}")
            result = task_result(client, task_id)
            print(f"result ({algorithm}): {result!r}")
            check(result == plaintext, f"expected {plaintext!r}")


if __name__ == "__main__":
    run(main)
