"""``builtin-private-join-and-compute``: join N parties' ``identity : amount`` lists and sum.

Argument ``num_user`` (unsigned integer, at least 2). Inputs ``input_data0`` ...
``input_data{n-1}``: UTF-8 text, one ``identity : amount`` per line. As in Teaclave, a line is
trimmed and skipped when it is shorter than 3 bytes, does not split on ``:`` into exactly two
parts, or its amount is not a u32 (``+``? ASCII digits, at most 4294967295); within one input
the last line of an identity wins. The identities present in every input are written, with the
sum of their amounts over all inputs, as LF-terminated ``"<identity>, <sum>"`` lines to every
output ``output_data0`` ... ``output_data{n-1}`` (identical contents). Teaclave writes them in
hash-map order; this writes them in their order of first appearance in ``input_data0``. Sums
are exact (Teaclave's u32 addition would wrap or panic on overflow).
Summary: "N users join the task in total."
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from teaclave.functions import FunctionError, function_logger, register
from teaclave.functions._typed_args import uint_argument

if TYPE_CHECKING:
    from teaclave.worker.runtime import Runtime

NAME = "builtin-private-join-and-compute"
INPUT_PREFIX = "input_data"
OUTPUT_PREFIX = "output_data"
U32_MAX = 0xFFFF_FFFF
_U32 = re.compile(r"\+?[0-9]+")

#: The characters Rust's ``str::trim`` removes (Unicode ``White_Space``).
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

log = function_logger("private_join_and_compute")


def _num_user(arguments: dict[str, Any]) -> int:
    """``arguments["num_user"]`` as an unsigned integer (at least 2)."""
    value = uint_argument(arguments, "num_user")
    if value < 2:
        raise FunctionError("The demo requires at least two parties! (num_user < 2)")
    return value


def parse_amounts(data: bytes, name: str) -> dict[str, int]:
    """Parse one party's ``identity : amount`` lines (malformed lines are skipped)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FunctionError(f"{name}: not valid UTF-8 (byte {error.start})") from None
    amounts: dict[str, int] = {}
    skipped = 0
    for line in text.split("\n"):
        pair = line.strip(RUST_WHITESPACE)
        if len(pair) < 3 and len(pair.encode("utf-8")) < 3:
            continue
        parts = pair.split(":")
        amount = parts[1].strip(RUST_WHITESPACE) if len(parts) == 2 else ""
        if not _U32.fullmatch(amount) or int(amount) > U32_MAX:
            skipped += 1
            continue
        amounts[parts[0].strip(RUST_WHITESPACE)] = int(amount)
    if skipped:
        log.debug("%s: skipped %d malformed lines", name, skipped)
    return amounts


@register(NAME)
def private_join_and_compute(arguments: dict[str, Any], runtime: Runtime) -> str:
    """Write the common identities with summed amounts to every output."""
    num_user = _num_user(arguments)
    parties: list[dict[str, int]] = []
    for index in range(num_user):
        name = f"{INPUT_PREFIX}{index}"
        with runtime.open_input(name) as stream:
            parties.append(parse_amounts(stream.read(), name))
    presence: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for amounts in parties:
        presence.update(amounts.keys())
        totals.update(amounts)
    common = [identity for identity in parties[0] if presence[identity] == num_user]
    result = "".join(f"{identity}, {totals[identity]}\n" for identity in common).encode("utf-8")
    for index in range(num_user):
        with runtime.create_output(f"{OUTPUT_PREFIX}{index}") as stream:
            stream.write(result)
    return f"{num_user} users join the task in total."
