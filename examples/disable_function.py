"""List a user's functions and disable one.

``disable_user`` registers two builtin functions, lists its registered functions, disables
one (``DisableFunction``: the owner or a PlatformAdmin may) and lists them again: the
disabled function is gone from the list and from its allowlisted users' lists. Its
definition stays readable.

Usage: python examples/disable_function.py
"""

from __future__ import annotations

from common import check, login, register_users, run, step

from teaclave.sdk import FunctionArgument

USER = "disable_user"


def main() -> None:
    """Register two functions, disable one, compare the lists."""
    register_users([USER])
    with login(USER) as client:
        ids = [
            client.register_function(
                "func_test1",
                f"test function {n}",
                "builtin",
                arguments=[FunctionArgument("num_user")],
            )
            for n in (1, 2)
        ]
        step(f"registered {ids[0]} and {ids[1]}")
        before = client.list_functions(USER)["registered_functions"]
        step(f"{USER} has {len(before)} registered functions")
        check(set(ids) <= set(before), "both new functions are listed")
        client.disable_function(ids[0])
        step(f"disabled {ids[0]}")
        after = client.list_functions(USER)["registered_functions"]
        print(f"result: {len(before)} registered functions before, {len(after)} after")
        check(len(after) == len(before) - 1, "exactly one function fewer")
        check(ids[0] not in after and ids[1] in after, "the disabled one is the one removed")
        still = client.get_function(ids[0])
        print(f"the disabled function is still readable: {still.name!r} ({still.description})")


if __name__ == "__main__":
    run(main)
