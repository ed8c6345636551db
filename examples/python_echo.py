"""A Python function (executor ``mesapy``): echo a message.

The function's payload is Python source defining ``entrypoint(argv)``; ``argv`` is the task's
arguments flattened to ``[key1, value1, key2, value2, ...]`` with the keys sorted. The
platform runs it in its sandboxed Python (CPython compiled to WebAssembly, Teaclave's
``mesapy`` executor) and the returned string is the task's result. The first Python task of
a machine also compiles the interpreter (a few seconds, once).

Usage: python examples/python_echo.py [MESSAGE]
"""

from __future__ import annotations

import sys

from common import SETTINGS, check, login, run, step, task_result

from teaclave.sdk import FunctionArgument

PAYLOAD = """
def entrypoint(argv):
    arguments = dict(zip(argv[0::2], argv[1::2]))
    return arguments["message"]
"""


def main() -> None:
    """Echo a message through a Python function."""
    message = sys.argv[1] if len(sys.argv) > 1 else "Hello From Python!"
    with login(SETTINGS.admin, SETTINGS.admin_password) as client:
        function_id = client.register_function(
            "mesapy-echo",
            "An echo function implemented in Python",
            "python",
            payload=PAYLOAD.encode(),
            arguments=[FunctionArgument("message")],
        )
        step(f"registered the Python function mesapy-echo as {function_id}")
        task_id = client.create_task(function_id, {"message": message}, "mesapy")
        client.invoke_task(task_id)
        step(f"created and invoked task {task_id} (executor mesapy)")
        result = task_result(client, task_id)
    print(f"result: {result!r}")
    check(result == message, f"expected {message!r}")


if __name__ == "__main__":
    run(main)
