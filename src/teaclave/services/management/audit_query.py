"""The audit-log query language: the part of tantivy's query syntax Teaclave's clients use.

Supported syntax (anything else is refused with INVALID_ARGUMENT naming ``query``):

* ``*`` — every entry (``field:*`` too).
* ``field:value`` with ``field`` one of ``user``, ``message``, ``ip``, ``result``, ``date``;
  a bare ``value`` searches ``message`` (tantivy's default field here).
* ``value`` may be double-quoted to include spaces: ``message:"authentication failed"``.
* Text fields (``user``, ``message``): case-insensitive token containment. Texts are split
  into tokens at every character that is not a letter, digit or underscore; the value's
  tokens must appear consecutively in the field's tokens. So ``message:register_function``
  matches ``register_function`` and ``authenticate to register_function: ...``, and
  ``user:frontend_user`` matches ``{ user: frontend_user, role: PlatformAdmin }``.
* ``ip:<address>`` — equality; an IPv4 address also matches its IPv4-compatible
  (``::a.b.c.d``, what the frontend records) and IPv4-mapped forms.
* ``result:true`` / ``result:false``.
* ``date:<t>`` (exact) and ranges ``date:[<t> TO <t>]`` (inclusive) / ``date:{<t> TO <t>}``
  (exclusive), ``*`` for an open end; ``<t>`` is microseconds since the epoch or an RFC 3339
  timestamp (``2024-01-01T00:00:00Z``).
* Clauses separated by spaces must all match (AND); the keyword ``AND`` may be written
  explicitly; ``OR`` separates alternatives and binds looser than AND:
  ``a OR b c`` means ``a OR (b AND c)``.

Not supported: parentheses, ``+``/``-``/``NOT`` modifiers, fuzzy/regex/boost operators.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from teaclave.types.errors import InvalidArgument

FIELDS = ("user", "message", "ip", "result", "date")
DEFAULT_FIELD = "message"

_TOKEN = re.compile(r"\w+")


class Searchable(Protocol):
    """What a query looks at in an audit entry."""

    @property
    def microsecond(self) -> int:
        """Microseconds since the epoch."""
        ...

    @property
    def ip(self) -> bytes:
        """16-byte address."""
        ...

    @property
    def user(self) -> str:
        """User description."""
        ...

    @property
    def message(self) -> str:
        """What happened."""
        ...

    @property
    def result(self) -> bool:
        """Whether it succeeded."""
        ...


def tokenize(text: str) -> tuple[str, ...]:
    """Lower-cased runs of letters, digits and underscores."""
    return tuple(t.casefold() for t in _TOKEN.findall(text))


def _contains_run(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    width = len(needle)
    return any(haystack[i : i + width] == needle for i in range(len(haystack) - width + 1))


def _error(reason: str) -> InvalidArgument:
    return InvalidArgument(f"query: {reason}")


Matcher = Callable[[Searchable], bool]


@dataclass(frozen=True, slots=True)
class Clause:
    """One ``field:value`` condition (``field`` None for ``*``)."""

    field: str | None
    text: str
    matches: Matcher

    def __str__(self) -> str:
        return "*" if self.field is None else f"{self.field}:{self.text}"


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: alternatives (OR) of clause lists (AND)."""

    alternatives: tuple[tuple[Clause, ...], ...]

    def matches(self, entry: Searchable) -> bool:
        """True when some alternative has all its clauses matching ``entry``."""
        return any(all(c.matches(entry) for c in group) for group in self.alternatives)

    def __str__(self) -> str:
        return " OR ".join(" AND ".join(str(c) for c in group) for group in self.alternatives)


# ---------------------------------------------------------------------- clause builders
def _match_all(_: Searchable) -> bool:
    return True


def _text_clause(field: str, value: str) -> Matcher:
    needle = tokenize(value)
    if not needle:
        raise _error(f"{field}: {value!r} has no letters or digits to search for")
    if field == "user":
        return lambda e: _contains_run(tokenize(e.user), needle)
    return lambda e: _contains_run(tokenize(e.message), needle)


def _ip_clause(value: str) -> Matcher:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise _error(f"ip: {value!r} is not an IP address") from None
    if isinstance(address, ipaddress.IPv4Address):
        forms = {bytes(12) + address.packed, bytes(10) + b"\xff\xff" + address.packed}
    else:
        forms = {address.packed}
    return lambda e: bytes(e.ip) in forms


def _result_clause(value: str) -> Matcher:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise _error(f"result: expected true or false, got {value!r}")
    wanted = lowered == "true"
    return lambda e: e.result is wanted


def _timestamp(value: str) -> int:
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _error(f"date: {value!r} is neither microseconds nor an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise _error(f"date: {value!r} needs a time zone (e.g. a trailing Z)")
    return round(moment.timestamp() * 1_000_000)


def _date_clause(value: str) -> Matcher:
    if value[0] not in "[{":
        exact = _timestamp(value)
        return lambda e: e.microsecond == exact
    closing = "]" if value[0] == "[" else "}"
    if not value.endswith(closing):
        raise _error(f"date: range {value!r} must end with {closing!r}")
    parts = value[1:-1].split()
    if len(parts) != 3 or parts[1] != "TO":
        raise _error(f"date: range {value!r} must look like [<from> TO <to>]")
    low = None if parts[0] == "*" else _timestamp(parts[0])
    high = None if parts[2] == "*" else _timestamp(parts[2])
    inclusive = value[0] == "["

    def within(entry: Searchable) -> bool:
        t = entry.microsecond
        if low is not None and (t < low if inclusive else t <= low):
            return False
        return high is None or (t <= high if inclusive else t < high)

    return within


def _clause(field: str, value: str) -> Clause:
    if field not in FIELDS:
        raise _error(f"unknown field {field!r} (fields: {', '.join(FIELDS)})")
    if not value:
        raise _error(f"{field}: missing value")
    if value == "*":
        return Clause(field, value, _match_all)
    if field in ("user", "message"):
        return Clause(field, value, _text_clause(field, value))
    if field == "ip":
        return Clause(field, value, _ip_clause(value))
    if field == "result":
        return Clause(field, value, _result_clause(value))
    return Clause(field, value, _date_clause(value))


# ---------------------------------------------------------------------- lexer and parser
_AND = "AND"
_OR = "OR"
_STOP = set('"()')


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    end = text.find('"', start + 1)
    if end < 0:
        raise _error("unterminated quote")
    return text[start + 1 : end], end + 1


def _read_range(text: str, start: int) -> tuple[str, int]:
    closing = "]" if text[start] == "[" else "}"
    end = text.find(closing, start)
    if end < 0:
        raise _error(f"range starting at {text[start:]!r} is not closed with {closing!r}")
    return text[start : end + 1], end + 1


def _read_word(text: str, start: int) -> tuple[str, int]:
    end = start
    while end < len(text) and not text[end].isspace() and text[end] not in _STOP:
        end += 1
    return text[start:end], end


def _lex(text: str) -> list[str | Clause]:
    items: list[str | Clause] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "()":
            raise _error("parentheses are not supported")
        if char == '"':
            value, i = _read_quoted(text, i)
            items.append(_clause(DEFAULT_FIELD, value))
            continue
        end = i
        while end < len(text) and not text[end].isspace() and text[end] not in _STOP | {":"}:
            end += 1
        head = text[i:end]
        if end < len(text) and text[end] == ":":
            if not head:
                raise _error("':' without a field name")
            j = end + 1
            if j < len(text) and text[j] == '"':
                value, i = _read_quoted(text, j)
            elif j < len(text) and text[j] in "[{":
                value, i = _read_range(text, j)
            else:
                value, i = _read_word(text, j)
            items.append(_clause(head, value))
            continue
        i = end
        if head in (_AND, _OR):
            items.append(head)
        elif head == "*":
            items.append(Clause(None, "*", _match_all))
        else:
            items.append(_clause(DEFAULT_FIELD, head))
    return items


def parse_query(text: str) -> Query:
    """Parse ``text``; raises ``InvalidArgument`` ("query: ...") on unsupported syntax."""
    items = _lex(text)
    if not items:
        raise _error("empty (use * to match every entry)")
    groups: list[list[Clause]] = [[]]
    previous: str | Clause | None = None
    for item in items:
        if isinstance(item, str):
            if previous is None or isinstance(previous, str):
                raise _error(f"{item} needs a clause on its left")
            if item == _OR:
                groups.append([])
        else:
            groups[-1].append(item)
        previous = item
    if isinstance(previous, str):
        raise _error(f"{previous} needs a clause on its right")
    return Query(tuple(tuple(group) for group in groups))
