"""The audit query language (a subset of tantivy's syntax), without any server."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from teaclave.services.management.audit_query import parse_query, tokenize
from teaclave.types.errors import InvalidArgument

V4_COMPAT = bytes(12) + bytes([10, 0, 0, 1])
V4_MAPPED = bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])


@dataclass(frozen=True)
class Line:
    microsecond: int = 0
    ip: bytes = bytes(16)
    user: str = ""
    message: str = ""
    result: bool = True


ADMIN_LINE = Line(
    microsecond=5,
    ip=V4_COMPAT,
    user="{ user: frontend_user, role: PlatformAdmin }",
    message="register_function",
)
FAILED_LINE = Line(
    microsecond=9,
    message="authenticate to register_function: authentication failed",
    result=False,
)


def matches(text: str, line: Line) -> bool:
    return parse_query(text).matches(line)


def test_tokenize_splits_on_non_word_characters():
    assert tokenize("{ user: Frontend_User, role: PlatformAdmin }") == (
        "user",
        "frontend_user",
        "role",
        "platformadmin",
    )
    assert tokenize("get_task:permission denied") == ("get_task", "permission", "denied")
    assert tokenize("--") == ()


def test_star_matches_everything():
    assert matches("*", ADMIN_LINE)
    assert matches("*", Line())
    assert matches("user:*", Line())


def test_user_term_is_token_containment():
    assert matches("user:frontend_user", ADMIN_LINE)
    assert matches("user:FRONTEND_USER", ADMIN_LINE)
    assert matches("user:PlatformAdmin", ADMIN_LINE)
    assert not matches("user:frontend", ADMIN_LINE)  # the underscore joins the token
    assert not matches("user:frontend_user", FAILED_LINE)


def test_message_term_and_default_field():
    for text in ("message:register_function", "register_function"):
        assert matches(text, ADMIN_LINE)
        assert matches(text, FAILED_LINE)
    assert matches("message:authenticate", FAILED_LINE)
    assert not matches("message:authenticate", ADMIN_LINE)
    assert not matches("authentication_failed", FAILED_LINE)


def test_multi_token_values_are_phrases():
    assert matches('message:"authentication failed"', FAILED_LINE)
    assert matches('"authentication failed"', FAILED_LINE)
    assert not matches('message:"failed authentication"', FAILED_LINE)
    assert matches("message:register_function:authentication", FAILED_LINE)
    assert matches("user:user:frontend_user", ADMIN_LINE)


def test_implicit_and_explicit_and():
    assert matches("user:frontend_user message:register_function", ADMIN_LINE)
    assert matches("user:frontend_user AND message:register_function", ADMIN_LINE)
    assert not matches("user:frontend_user message:authenticate", ADMIN_LINE)
    assert not matches("user:frontend_user AND result:false", ADMIN_LINE)


def test_or_binds_looser_than_and():
    query = "message:authenticate OR user:frontend_user result:true"
    assert matches(query, ADMIN_LINE)
    assert matches(query, FAILED_LINE)
    assert not matches(query, Line(user="{ user: frontend_user }", result=False))
    assert str(parse_query(query)) == ("message:authenticate OR user:frontend_user AND result:true")


def test_ip_terms():
    assert matches("ip:10.0.0.1", ADMIN_LINE)
    assert matches("ip:10.0.0.1", Line(ip=V4_MAPPED))
    assert matches("ip:::10.0.0.1", ADMIN_LINE)
    assert not matches("ip:10.0.0.2", ADMIN_LINE)
    v6 = ipaddress.IPv6Address("fe80::1").packed
    assert matches("ip:fe80::1", Line(ip=v6))
    assert matches("ip:::", Line())


def test_result_terms():
    assert matches("result:true", ADMIN_LINE)
    assert matches("result:FALSE", FAILED_LINE)
    assert not matches("result:false", ADMIN_LINE)


def test_date_terms():
    line = Line(microsecond=2_000_000)
    assert matches("date:2000000", line)
    assert not matches("date:2000001", line)
    assert matches("date:1970-01-01T00:00:02Z", line)
    assert matches("date:1970-01-01T00:00:02+00:00", line)
    assert matches("date:[2000000 TO 2000000]", line)
    assert not matches("date:{2000000 TO 3000000}", line)
    assert not matches("date:{1000000 TO 2000000}", line)
    assert matches("date:{1999999 TO 2000001}", line)
    assert matches("date:[* TO *]", line)
    assert matches("date:[1970-01-01T00:00:01Z TO *]", line)
    assert not matches("date:[* TO 1970-01-01T00:00:01Z]", line)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("foo:bar", "unknown field 'foo'"),
        ("Message:x", "unknown field 'Message'"),
        ("(user:a)", "parentheses"),
        ("user:a AND", "AND needs a clause on its right"),
        ("OR user:a", "OR needs a clause on its left"),
        ("user:a AND OR user:b", "OR needs a clause on its left"),
        ("AND", "AND needs a clause on its left"),
        ('message:"open', "unterminated quote"),
        ("date:[1 TO 2", "not closed"),
        ("date:[1 2]", "must look like"),
        (":x", "without a field name"),
        ("user:", "user: missing value"),
        ("ip:300.1.1.1", "ip: "),
        ("result:yes", "result: expected true or false"),
        ("date:yesterday", "date: "),
        ("date:2024-01-01T00:00:00", "time zone"),
        ("message:!!!", "no letters or digits"),
    ],
)
def test_unsupported_or_malformed_queries(text, reason):
    with pytest.raises(InvalidArgument) as info:
        parse_query(text)
    assert info.value.message.startswith("query: ")
    assert reason in info.value.message
