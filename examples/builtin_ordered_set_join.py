"""builtin-ordered-set-join: join two parties' tables on a shared key column.

A clinic holds ``patient id, age, weight``; a lab holds ``patient id, cholesterol, glucose``.
Both sort their CSV on the id, encrypt it and register it. The joined rows (``age, weight,
cholesterol, glucose`` for the patients both know, ids dropped) go to the clinic only, in a
file encrypted with the clinic's key: the lab never sees the clinic's data, and the clinic
learns only the rows for shared patients.

Usage: python examples/builtin_ordered_set_join.py
"""

from __future__ import annotations

from collections.abc import Mapping

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

USERS = ("join_clinic", "join_lab")
CLINIC = {"p01": (34, 71), "p02": (51, 88), "p04": (29, 60), "p05": (62, 79), "p07": (45, 92)}
LAB = {"p02": (5.9, 101), "p03": (4.1, 92), "p05": (6.3, 130), "p07": (5.0, 97), "p08": (4.8, 88)}


def csv_rows(table: Mapping[str, tuple[float, float]]) -> bytes:
    """Header-less CSV sorted on the id column (the join requires sorted inputs)."""
    return "".join(f"{key},{a},{b}\n" for key, (a, b) in sorted(table.items())).encode()


def main() -> None:
    """Join the clinic's and the lab's tables on the patient id."""
    register_users(USERS)
    clinic, lab = (login(user) for user in USERS)
    function_id = clinic.register_function(
        "builtin-ordered-set-join",
        "Join two sorted CSV files on one column",
        "builtin",
        arguments=[
            FunctionArgument(k) for k in ("left_column", "right_column", "ascending", "drop")
        ],
        inputs=[FunctionInput("input_data1", "left table"), FunctionInput("input_data2", "right")],
        outputs=[FunctionOutput("output_result", "joined rows")],
    )
    step(f"{USERS[0]} registered builtin-ordered-set-join as {function_id}")
    task_id = clinic.create_task(
        function_id,
        {"left_column": 0, "right_column": 0, "ascending": True, "drop": True},
        "builtin",
        inputs_ownership=[
            OwnerList("input_data1", [USERS[0]]),
            OwnerList("input_data2", [USERS[1]]),
        ],
        outputs_ownership=[OwnerList("output_result", [USERS[0]])],
    )
    step(f"{USERS[0]} created task {task_id} (join on column 0 of both, drop the key)")
    clinic_key, lab_key = new_key(), new_key()
    with DataServer() as data:
        url, cmac = data.publish_protected("clinic.csv.enc", csv_rows(CLINIC), clinic_key)
        clinic_input = clinic.register_input_file(url, "teaclave-file-128", clinic_key, b"", cmac)
        joined_output = clinic.register_output_file(
            data.url("joined.csv.enc"), "teaclave-file-128", clinic_key, b""
        )
        clinic.assign_data_to_task(
            task_id,
            [DataMap("input_data1", clinic_input)],
            [DataMap("output_result", joined_output)],
        )
        step(f"{USERS[0]} registered and assigned its table and the output file")
        url, cmac = data.publish_protected("lab.csv.enc", csv_rows(LAB), lab_key)
        lab_input = lab.register_input_file(url, "teaclave-file-128", lab_key, b"", cmac)
        lab.assign_data_to_task(task_id, [DataMap("input_data2", lab_input)], [])
        step(f"{USERS[1]} registered and assigned its table")
        clinic.approve_task(task_id)
        lab.approve_task(task_id)
        step("both approved")
        clinic.invoke_task(task_id)
        result = task_result(clinic, task_id)
        print(f"result: {result!r}")
        shared = sorted(CLINIC.keys() & LAB.keys())
        check(result == f"{len(shared)} records", f"unexpected summary {result!r}")
        tag = output_tags(clinic, task_id)["output_result"]
        joined = data.fetch_protected("joined.csv.enc", clinic_key, tag).decode()
        print(f"{USERS[0]} decrypted the joined rows:\n{joined}", end="")
        expected = "".join(
            f"{CLINIC[k][0]},{CLINIC[k][1]},{LAB[k][0]},{LAB[k][1]}\n" for k in shared
        )
        check(joined == expected, f"expected {expected!r}")
    clinic.close()
    lab.close()


if __name__ == "__main__":
    run(main)
