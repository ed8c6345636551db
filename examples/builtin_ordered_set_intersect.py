"""builtin-ordered-set-intersect: two-party private set intersection (PSI).

Two companies want to know which customers they share without showing each other their
lists. Each hashes its customers' e-mail addresses, sorts the hashes, encrypts the list with
its own key (``teaclave-file-128``) and serves it. ``psi_user0`` registers the function and
creates the task; each user registers its own input and output file and assigns them; both
approve; ``psi_user0`` invokes. Each user then downloads its own encrypted result — one
``1``/``0`` per line of its list — and decrypts it with its own key.

Usage: python examples/builtin_ordered_set_intersect.py
"""

from __future__ import annotations

import hashlib

from common import (
    DataServer,
    check,
    login,
    new_key,
    output_tags,
    register_users,
    run,
    step,
    task_result,
)

from teaclave.sdk import DataMap, FunctionArgument, FunctionInput, FunctionOutput, OwnerList

USERS = ("psi_user0", "psi_user1")
CUSTOMERS = (
    ["ada@example.org", "bob@example.org", "cy@example.org", "dee@example.org", "eve@example.org"],
    ["bob@example.org", "dee@example.org", "fay@example.org", "gil@example.org"],
)


def hashed(emails: list[str]) -> list[tuple[str, str]]:
    """(SHA-256 hex, e-mail) pairs sorted by hash: what each party encrypts."""
    return sorted((hashlib.sha256(e.encode()).hexdigest(), e) for e in emails)


def main() -> None:
    """Intersect two customer lists privately."""
    register_users(USERS)
    clients = [login(user) for user in USERS]
    owner = clients[0]
    function_id = owner.register_function(
        "builtin-ordered-set-intersect",
        "Native Private Set Intersection",
        "builtin",
        arguments=[FunctionArgument("order")],
        inputs=[
            FunctionInput("input_data1", "Client 0 data."),
            FunctionInput("input_data2", "Client 1 data."),
        ],
        outputs=[
            FunctionOutput("output_result1", "Output data."),
            FunctionOutput("output_result2", "Output data."),
        ],
    )
    step(f"{USERS[0]} registered builtin-ordered-set-intersect as {function_id}")
    task_id = owner.create_task(
        function_id,
        {"order": "ascending"},
        "builtin",
        inputs_ownership=[
            OwnerList("input_data1", [USERS[0]]),
            OwnerList("input_data2", [USERS[1]]),
        ],
        outputs_ownership=[
            OwnerList("output_result1", [USERS[0]]),
            OwnerList("output_result2", [USERS[1]]),
        ],
    )
    step(f"{USERS[0]} created task {task_id}")
    keys = [new_key(), new_key()]
    with DataServer() as data:
        for index, (user, client) in enumerate(zip(USERS, clients, strict=True)):
            plain = "".join(f"{h}\n" for h, _ in hashed(CUSTOMERS[index])).encode()
            url, cmac = data.publish_protected(f"psi{index}.txt.enc", plain, keys[index])
            input_id = client.register_input_file(url, "teaclave-file-128", keys[index], b"", cmac)
            output_id = client.register_output_file(
                data.url(f"psi{index}_result.enc"), "teaclave-file-128", keys[index], b""
            )
            client.assign_data_to_task(
                task_id,
                [DataMap(f"input_data{index + 1}", input_id)],
                [DataMap(f"output_result{index + 1}", output_id)],
            )
            step(f"{user} encrypted {len(CUSTOMERS[index])} hashes, registered and assigned them")
        for user, client in zip(USERS, clients, strict=True):
            client.approve_task(task_id)
            step(f"{user} approved the task")
        owner.invoke_task(task_id)
        step(f"{USERS[0]} invoked the task")
        result = task_result(owner, task_id)
        print(f"result: {result!r}")
        tags = output_tags(owner, task_id)
        common_emails = set(CUSTOMERS[0]) & set(CUSTOMERS[1])
        check(result == f"{len(common_emails)} common items", f"unexpected summary {result!r}")
        for index, user in enumerate(USERS):
            name = f"output_result{index + 1}"
            marks = data.fetch_protected(f"psi{index}_result.enc", keys[index], tags[name])
            mine = hashed(CUSTOMERS[index])
            shared = [e for (_, e), m in zip(mine, marks.decode(), strict=True) if m == "1"]
            print(f"{user} decrypted {marks.decode()!r}: shared customers {', '.join(shared)}")
            check(set(shared) == common_emails, f"{user} got the wrong intersection {shared}")
    for client in clients:
        client.close()


if __name__ == "__main__":
    run(main)
