"""Cancel a running task: a Python function that never returns.

The creator registers a Python function looping forever (executor ``mesapy``), invokes it,
waits until the platform reports it ``Running``, then cancels it. The worker interrupts
the interpreter and the task ends ``Canceled``; the worker is free for the next task at once.
(Tasks not yet staged are canceled on the spot; a staged or running one is canceled by the
scheduler and its worker, which is why the example waits for the final status.)

Usage: python examples/task_cancel.py
"""

from __future__ import annotations

from common import SETTINGS, TaskStatus, check, login, run, step, wait_for_status

DEADLOOP = """
def entrypoint(argv):
    n = 0
    while True:
        n += 1
"""


def main() -> None:
    """Start an endless Python task and cancel it."""
    with login(SETTINGS.admin, SETTINGS.admin_password) as client:
        function_id = client.register_function(
            "mesapy-deadloop",
            "A Python function that never returns",
            "python",
            payload=DEADLOOP.encode(),
        )
        step(f"registered the endless function as {function_id}")
        task_id = client.create_task(function_id, {}, "mesapy")
        client.invoke_task(task_id)
        step(f"invoked task {task_id}; waiting until it runs")
        wait_for_status(client, task_id, TaskStatus.Running, timeout=120)
        step("the task is Running; canceling it")
        client.cancel_task(task_id)
        task = client.wait_task(task_id, timeout=60)
    status = TaskStatus(task.status)
    reason = task.result.Err.reason if task.result.HasField("Err") else ""
    print(f"result: task {status.name} ({reason})")
    check(status is TaskStatus.Canceled, f"expected Canceled, got {status.name}")


if __name__ == "__main__":
    run(main)
