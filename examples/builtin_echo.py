"""builtin-echo: the smallest task — one user, no data, no approval.

The admin registers the builtin ``builtin-echo`` with one overwritable argument, creates a
task with a message, invokes it and prints what the function returned.

Usage: python examples/builtin_echo.py [MESSAGE]
"""

from __future__ import annotations

import sys

from common import SETTINGS, check, login, run, step, task_result

from teaclave.sdk import FunctionArgument


def main() -> None:
    """Echo a message through the platform."""
    message = sys.argv[1] if len(sys.argv) > 1 else "Hello, Teaclave!"
    with login(SETTINGS.admin, SETTINGS.admin_password) as client:
        function_id = client.register_function(
            "builtin-echo",
            "Native Echo Function",
            "builtin",
            arguments=[FunctionArgument("message")],
        )
        step(f"registered builtin-echo as {function_id}")
        task_id = client.create_task(function_id, {"message": message}, "builtin")
        step(f"created task {task_id} with message {message!r}")
        client.invoke_task(task_id)
        step("invoked the task (one participant: no data to assign, nothing to approve)")
        result = task_result(client, task_id)
        print(f"result: {result!r}")
        check(result == message, f"expected the message back, got {result!r}")


if __name__ == "__main__":
    run(main)
