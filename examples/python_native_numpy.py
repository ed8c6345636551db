"""A Python function with numpy (executor ``cpython``): statistics of an encrypted table.

The ``cpython`` executor runs the payload on the platform's native CPython in an OS sandbox
(no network, no other files, limited memory and time), so packages such as numpy are
available — unlike the WebAssembly ``mesapy`` executor. The payload reads the owner's
encrypted CSV with ``from teaclave import open``, writes per-column mean and standard
deviation to an encrypted output and returns the table's shape.

If the platform's machine cannot run this sandbox (e.g. no Landlock), the task fails with
"function not available" and this example prints "skipped: ..." and exits 0.

Usage: python examples/python_native_numpy.py
"""

from __future__ import annotations

import numpy as np
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

USER = "numpy_user"
PAYLOAD = """
import numpy as np
from teaclave import open

def entrypoint(argv):
    arguments = dict(zip(argv[0::2], argv[1::2]))
    digits = int(arguments["digits"])
    with open("table", "rb") as table:
        data = np.loadtxt(table, delimiter=",", ndmin=2)
    with open("stats", "wb") as stats:
        for mean, std in zip(data.mean(axis=0), data.std(axis=0)):
            stats.write("%.*f,%.*f\\n" % (digits, mean, digits, std))
    return "%d rows x %d columns" % data.shape
"""


def main() -> None:
    """Compute column statistics of an encrypted table with numpy on the platform."""
    rng = np.random.default_rng(11)
    table = rng.normal(loc=[10.0, -3.0, 0.5], scale=[2.0, 0.5, 0.1], size=(200, 3)).round(5)
    register_users([USER])
    with login(USER) as client, DataServer() as data:
        function_id = client.register_function(
            "cpython-column-stats",
            "Column mean and standard deviation with numpy",
            "python",
            payload=PAYLOAD.encode(),
            arguments=[FunctionArgument("digits")],
            inputs=[FunctionInput("table", "CSV of numbers")],
            outputs=[FunctionOutput("stats", "mean,std per column")],
        )
        step(f"registered the numpy function as {function_id}")
        task_id = client.create_task(
            function_id,
            {"digits": "4"},
            "cpython",
            inputs_ownership=[OwnerList("table", [USER])],
            outputs_ownership=[OwnerList("stats", [USER])],
        )
        key = new_key()
        plain = "".join(",".join(str(v) for v in row) + "\n" for row in table).encode()
        url, cmac = data.publish_protected("table.enc", plain, key)
        input_id = client.register_input_file(url, "teaclave-file-128", key, b"", cmac)
        output_id = client.register_output_file(
            data.url("stats.enc"), "teaclave-file-128", key, b""
        )
        client.assign_data_to_task(
            task_id, [DataMap("table", input_id)], [DataMap("stats", output_id)]
        )
        client.invoke_task(task_id)
        step(
            f"task {task_id}: encrypted {table.shape[0]} rows, assigned, invoked (executor cpython)"
        )
        result = task_result(client, task_id)
        print(f"result: {result!r}")
        check(result == f"{table.shape[0]} rows x {table.shape[1]} columns", "unexpected summary")
        tag = output_tags(client, task_id)["stats"]
        stats = data.fetch_protected("stats.enc", key, tag).decode()
    print(f"{USER} decrypted the statistics (mean,std per column):\n{stats}", end="")
    got = np.array([[float(v) for v in line.split(",")] for line in stats.splitlines()])
    expected = np.stack([table.mean(axis=0), table.std(axis=0)], axis=1)
    check(bool(np.allclose(got, expected, atol=1e-4)), f"expected {expected.round(4).tolist()}")


if __name__ == "__main__":
    run(main)
