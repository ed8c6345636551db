"""``builtin-password-check``: check a password against a list of exposed ones.

Arguments are ignored entirely. Input ``password``: its first line, trimmed. Input
``exposed_passwords``: one password per line, each trimmed (a blank line therefore counts as
the empty password, as in Teaclave). Lines end at LF; trimming removes Unicode white
space like Rust's ``str::trim``. Summary: ``"true"`` or ``"false"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from teaclave.functions import FunctionError, register

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-password-check"
PASSWORD = "password"
EXPOSED = "exposed_passwords"

#: The characters Rust's ``str::trim`` removes (Unicode ``White_Space``).
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _read_lines(runtime: Runtime, name: str) -> list[str]:
    """The trimmed lines of input ``name`` (Rust ``BufRead::lines`` splitting)."""
    with runtime.open_input(name) as stream:
        raw = stream.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FunctionError(f"{name}: not valid UTF-8 (byte {error.start})") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.strip(RUST_WHITESPACE) for line in lines]


@register(NAME)
def password_check(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Return "true" when the password is one of the exposed passwords, else "false"."""
    password_lines = _read_lines(runtime, PASSWORD)
    if not password_lines:
        raise FunctionError(f"{PASSWORD}: the input is empty")
    exposed = set(_read_lines(runtime, EXPOSED))
    return "true" if password_lines[0] in exposed else "false"
