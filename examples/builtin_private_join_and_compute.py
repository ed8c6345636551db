"""builtin-private-join-and-compute: three banks total the deposits of their common clients.

Four users: ``pjc_config`` registers the function, creates and invokes the task but brings no
data; ``pjc_bank_a``, ``pjc_bank_b`` and ``pjc_bank_c`` each contribute an encrypted
``client : amount`` list and receive, encrypted with their own key, the clients all three
banks share with the summed amounts. No bank sees another bank's list. Every participant
(the three banks and the task creator) approves before the task can run.

Usage: python examples/builtin_private_join_and_compute.py
"""

from __future__ import annotations

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

CONFIG_USER = "pjc_config"
BANKS = {
    "pjc_bank_a": {"carol": 3000, "dave": 1200, "erin": 50000, "frank": 70},
    "pjc_bank_b": {"alice": 800, "carol": 2000, "erin": 1000, "grace": 9},
    "pjc_bank_c": {"carol": 500, "erin": 33000, "frank": 12, "heidi": 4000},
}


def main() -> None:
    """Join three banks' client lists and sum the common clients' deposits."""
    banks = list(BANKS)
    register_users([CONFIG_USER, *banks])
    config = login(CONFIG_USER)
    function_id = config.register_function(
        "builtin-private-join-and-compute",
        "Calculate the result of data from multiple parties",
        "builtin",
        arguments=[FunctionArgument("num_user")],
        inputs=[FunctionInput(f"input_data{i}", f"Bank {i} data.") for i in range(len(banks))],
        outputs=[FunctionOutput(f"output_data{i}", f"Bank {i} result.") for i in range(len(banks))],
    )
    step(f"{CONFIG_USER} registered builtin-private-join-and-compute as {function_id}")
    task_id = config.create_task(
        function_id,
        {"num_user": len(banks)},
        "builtin",
        inputs_ownership=[OwnerList(f"input_data{i}", [b]) for i, b in enumerate(banks)],
        outputs_ownership=[OwnerList(f"output_data{i}", [b]) for i, b in enumerate(banks)],
    )
    step(f"{CONFIG_USER} created task {task_id} for {len(banks)} banks")
    keys = {bank: new_key() for bank in banks}
    with DataServer() as data:
        clients = {bank: login(bank) for bank in banks}
        for index, bank in enumerate(banks):
            client = clients[bank]
            plain = "".join(f"{who} : {amount}\n" for who, amount in BANKS[bank].items())
            url, cmac = data.publish_protected(f"{bank}.enc", plain.encode(), keys[bank])
            input_id = client.register_input_file(url, "teaclave-file-128", keys[bank], b"", cmac)
            output_id = client.register_output_file(
                data.url(f"{bank}_output.enc"), "teaclave-file-128", keys[bank], b""
            )
            client.assign_data_to_task(
                task_id,
                [DataMap(f"input_data{index}", input_id)],
                [DataMap(f"output_data{index}", output_id)],
            )
            step(f"{bank} registered and assigned {len(BANKS[bank])} clients and its output file")
        for bank in banks:
            clients[bank].approve_task(task_id)
            step(f"{bank} approved")
        config.approve_task(task_id)
        step(f"{CONFIG_USER} approved (the creator is a participant too)")
        config.invoke_task(task_id)
        result = task_result(config, task_id)
        print(f"result: {result!r}")
        check(result == f"{len(banks)} users join the task in total.", f"unexpected {result!r}")
        common = set.intersection(*(set(clients_of) for clients_of in BANKS.values()))
        expected = {f"{who}, {sum(BANKS[b][who] for b in banks)}" for who in common}
        tags = output_tags(config, task_id)
        for index, bank in enumerate(banks):
            text = data.fetch_protected(
                f"{bank}_output.enc", keys[bank], tags[f"output_data{index}"]
            ).decode()
            print(f"{bank} decrypted: {' | '.join(text.splitlines())}")
            check(set(text.splitlines()) == expected, f"{bank} expected {sorted(expected)}")
        for client in clients.values():
            client.close()
    config.close()


if __name__ == "__main__":
    run(main)
