"""builtin-rsa-sign: sign with a private key its owner never hands out.

``rsa_key_owner`` owns an RSA private key (PKCS#1 DER, encrypted, served over HTTP).
``rsa_signer`` — another user — registers the function, creates a task that names the key
owner as the owner of the ``rsa_key`` input, and invokes it. The key owner registers and
assigns the key and approves; the signer approves too. The signer gets a PKCS#1 v1.5
SHA-256 signature of its message and verifies it with the public key; it never sees the
private key.

Usage: python examples/builtin_rsa_sign.py [MESSAGE]
"""

from __future__ import annotations

import base64
import sys

from common import (
    DataServer,
    check,
    login,
    new_key,
    register_users,
    run,
    step,
    task_result,
)
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from teaclave.sdk import DataMap, FunctionArgument, FunctionInput, OwnerList

KEY_OWNER, SIGNER = "rsa_key_owner", "rsa_signer"


def main() -> None:
    """Sign a message with another user's key."""
    message = sys.argv[1] if len(sys.argv) > 1 else "test data"
    register_users([KEY_OWNER, SIGNER])
    owner, signer = login(KEY_OWNER), login(SIGNER)
    function_id = signer.register_function(
        "builtin-rsa-sign",
        "Native Rsa Signing Function",
        "builtin",
        arguments=[FunctionArgument("data")],
        inputs=[FunctionInput("rsa_key", "Input key")],
    )
    step(f"{SIGNER} registered builtin-rsa-sign as {function_id}")
    task_id = signer.create_task(
        function_id,
        {"data": message},
        "builtin",
        inputs_ownership=[OwnerList("rsa_key", [KEY_OWNER])],
    )
    step(f"{SIGNER} created task {task_id}; the key input belongs to {KEY_OWNER}")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with DataServer() as data:
        key = new_key()
        url, cmac = data.publish_protected("rsakey.enc", der, key)
        key_id = owner.register_input_file(url, "teaclave-file-128", key, b"", cmac)
        owner.assign_data_to_task(task_id, [DataMap("rsa_key", key_id)], [])
        step(f"{KEY_OWNER} encrypted its private key, registered and assigned it")
        owner.approve_task(task_id)
        signer.approve_task(task_id)
        step("both approved")
        signer.invoke_task(task_id)
        signature = task_result(signer, task_id)
    print(f"result: signature {signature}")
    try:
        private_key.public_key().verify(
            base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        check(False, "the signature does not verify with the public key")
    print(f"{SIGNER} verified the signature of {message!r} with the public key")
    owner.close()
    signer.close()


if __name__ == "__main__":
    run(main)
