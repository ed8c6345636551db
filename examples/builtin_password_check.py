"""builtin-password-check: check a password against a leaked-password list.

Two parties, inputs only. ``pwcheck_user0`` holds a password and sends it inline, as an
AES-GCM-128 encrypted ``data:`` URL (no file server needed for a few bytes).
``pwcheck_user1`` holds a list of exposed passwords, encrypted as ``teaclave-file-128`` and
served over HTTP. The function answers ``true`` or ``false``; neither party sees the other's
data. Run twice: once with a leaked password, once with a strong one.

Usage: python examples/builtin_password_check.py
"""

from __future__ import annotations

import secrets

from common import (
    DataServer,
    check,
    data_url,
    login,
    new_key,
    register_users,
    run,
    step,
    task_result,
)

from teaclave.crypto import aes_gcm
from teaclave.sdk import DataMap, FrontendService, FunctionInput, OwnerList

USERS = ("pwcheck_user0", "pwcheck_user1")
EXPOSED = ["123456", "password", "qwerty", "letmein", "dragon", "monkey", "iloveyou", "admin"]


def check_password(
    owner: FrontendService,
    checker: FrontendService,
    function_id: str,
    password: str,
    exposed: tuple[str, bytes, bytes],
) -> str:
    """Run one password check task; its result ("true" or "false")."""
    task_id = owner.create_task(
        function_id,
        {},
        "builtin",
        inputs_ownership=[
            OwnerList("password", [USERS[0]]),
            OwnerList("exposed_passwords", [USERS[1]]),
        ],
    )
    key, iv = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = aes_gcm.encrypt(key, iv, password.encode())
    password_id = owner.register_input_file(data_url(sealed), "aes-gcm-128", key, iv, sealed[-16:])
    owner.assign_data_to_task(task_id, [DataMap("password", password_id)], [])
    url, list_key, cmac = exposed
    list_id = checker.register_input_file(url, "teaclave-file-128", list_key, b"", cmac)
    checker.assign_data_to_task(task_id, [DataMap("exposed_passwords", list_id)], [])
    step(f"task {task_id}: password sent as an encrypted data: URL, list assigned by {USERS[1]}")
    owner.approve_task(task_id)
    checker.approve_task(task_id)
    owner.invoke_task(task_id)
    return task_result(owner, task_id)


def main() -> None:
    """Check a weak and a strong password against the exposed list."""
    register_users(USERS)
    owner, checker = login(USERS[0]), login(USERS[1])
    function_id = owner.register_function(
        "builtin-password-check",
        "Check whether a password is exposed.",
        "builtin",
        inputs=[
            FunctionInput("password", "Client 0 data."),
            FunctionInput("exposed_passwords", "Client 1 data."),
        ],
    )
    step(f"{USERS[0]} registered builtin-password-check as {function_id}")
    with DataServer() as data:
        list_key = new_key()
        url, cmac = data.publish_protected(
            "exposed_passwords.txt.enc", "".join(f"{p}\n" for p in EXPOSED).encode(), list_key
        )
        step(f"{USERS[1]} encrypted {len(EXPOSED)} exposed passwords")
        for password, expected in (("password", "true"), ("correct horse battery", "false")):
            result = check_password(owner, checker, function_id, password, (url, list_key, cmac))
            print(f"result for {password!r}: {result}")
            check(result == expected, f"expected {expected} for {password!r}")
    owner.close()
    checker.close()


if __name__ == "__main__":
    run(main)
