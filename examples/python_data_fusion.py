"""Two parties fuse their data with a Python function, then analyse the fused data.

Teaclave's data-fusion flow (``mesapy_data_fusion``), with executor ``mesapy``:

1. ``fusion_party_a`` and ``fusion_party_b`` each hold sales records (``region,amount``),
   encrypted with AES-GCM-128 and AES-GCM-256 respectively. Party A registers a Python
   function that merges both inputs into one output and creates the task; the output is a
   *fusion output* owned by both parties, encrypted with a key only the platform knows.
2. After the task, party B turns the fusion output into an input
   (``RegisterInputFromOutput``) and runs a second Python function over it: total sales per
   region, the top regions as the result. Because the fused data belongs to both parties,
   the task needs both approvals — invoking it before party A approves fails.

Neither party ever sees the other's records or the fused file; both see only the totals.

Usage: python examples/python_data_fusion.py
"""

from __future__ import annotations

import json
import secrets

from common import (
    DataServer,
    check,
    login,
    register_users,
    run,
    step,
    task_result,
)

from teaclave.sdk import (
    DataMap,
    FunctionArgument,
    FunctionInput,
    FunctionOutput,
    OwnerList,
    TeaclaveException,
)

PARTY_A, PARTY_B = "fusion_party_a", "fusion_party_b"
SALES_A = [("north", 120), ("south", 40), ("east", 75), ("north", 30)]
SALES_B = [("south", 210), ("west", 55), ("east", 15), ("north", 10)]

FUSE = """
from teaclave import open

def entrypoint(argv):
    count = 0
    with open("fused", "wb") as fused:
        for name in ("sales_a", "sales_b"):
            with open(name, "rb") as part:
                for line in part.read().splitlines():
                    if line.strip():
                        fused.write(line + b"\\n")
                        count += 1
    return "fused %d records" % count
"""

TOP_REGIONS = """
import json

def entrypoint(argv):
    arguments = dict(zip(argv[0::2], argv[1::2]))
    totals = {}
    with teaclave_open("records", "rb") as records:
        for line in records.read().decode().splitlines():
            region, amount = line.split(",")
            totals[region] = totals.get(region, 0) + int(amount)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return json.dumps(ranked[: int(arguments["top"])])
"""


def csv_of(sales: list[tuple[str, int]]) -> bytes:
    """``region,amount`` lines."""
    return "".join(f"{region},{amount}\n" for region, amount in sales).encode()


def main() -> None:
    """Fuse two parties' sales, then rank regions over the fused data."""
    register_users([PARTY_A, PARTY_B])
    a, b = login(PARTY_A), login(PARTY_B)
    with DataServer() as data:
        fuse_id = a.register_function(
            "python-data-fusion",
            "Merge two parties' records into one fused file",
            "python",
            payload=FUSE.encode(),
            inputs=[FunctionInput("sales_a", "Party A"), FunctionInput("sales_b", "Party B")],
            outputs=[FunctionOutput("fused", "Both parties' records")],
        )
        step(f"{PARTY_A} registered the fusion function {fuse_id}")
        task_id = a.create_task(
            fuse_id,
            {},
            "mesapy",
            inputs_ownership=[OwnerList("sales_a", [PARTY_A]), OwnerList("sales_b", [PARTY_B])],
            outputs_ownership=[OwnerList("fused", [PARTY_A, PARTY_B])],
        )
        step(f"{PARTY_A} created task {task_id}; its output is owned by both parties")
        key_a, iv_a = secrets.token_bytes(16), secrets.token_bytes(12)
        url, cmac = data.publish_aes_gcm("sales_a.gcm", csv_of(SALES_A), key_a, iv_a)
        input_a = a.register_input_file(url, "aes-gcm-128", key_a, iv_a, cmac)
        fused_output = a.register_fusion_output([PARTY_A, PARTY_B])
        a.assign_data_to_task(
            task_id, [DataMap("sales_a", input_a)], [DataMap("fused", fused_output)]
        )
        step(f"{PARTY_A} assigned its AES-GCM-128 input and the fusion output {fused_output}")
        key_b, iv_b = secrets.token_bytes(32), secrets.token_bytes(12)
        url, cmac = data.publish_aes_gcm("sales_b.gcm", csv_of(SALES_B), key_b, iv_b)
        input_b = b.register_input_file(url, "aes-gcm-256", key_b, iv_b, cmac)
        b.assign_data_to_task(task_id, [DataMap("sales_b", input_b)], [])
        step(f"{PARTY_B} assigned its AES-GCM-256 input")
        a.approve_task(task_id)
        b.approve_task(task_id)
        a.invoke_task(task_id)
        fused = task_result(a, task_id)
        print(f"fusion result: {fused!r}")
        check(fused == f"fused {len(SALES_A) + len(SALES_B)} records", "unexpected summary")

        fused_input = b.register_input_from_output(fused_output)
        step(f"{PARTY_B} registered the fusion output as input {fused_input}")
        rank_id = b.register_function(
            "python-top-regions",
            "Total sales per region; the top N",
            "python",
            payload=TOP_REGIONS.encode(),
            arguments=[FunctionArgument("top")],
            inputs=[FunctionInput("records", "region,amount lines")],
        )
        rank_task = b.create_task(
            rank_id,
            {"top": "2"},
            "mesapy",
            inputs_ownership=[OwnerList("records", [PARTY_A, PARTY_B])],
        )
        b.assign_data_to_task(rank_task, [DataMap("records", fused_input)], [])
        b.approve_task(rank_task)
        step(f"{PARTY_B} created task {rank_task} over the fused data, assigned it, approved")
        try:
            b.invoke_task(rank_task)
        except TeaclaveException as exc:
            step(f"invoking before {PARTY_A} approved is refused: {exc.message}")
        else:
            check(False, "the task ran without the approval of every owner of its data")
        a.approve_task(rank_task)
        b.invoke_task(rank_task)
        step(f"{PARTY_A} approved; {PARTY_B} invoked")
        result = task_result(b, rank_task)
    print(f"result: {result}")
    totals: dict[str, int] = {}
    for region, amount in SALES_A + SALES_B:
        totals[region] = totals.get(region, 0) + amount
    expected = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:2]
    check(json.loads(result) == [list(item) for item in expected], f"expected {expected}")
    a.close()
    b.close()


if __name__ == "__main__":
    run(main)
