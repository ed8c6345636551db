"""ExternalId parsing/printing and the storage-key helpers (spec §2.7)."""

from __future__ import annotations

import uuid

import pytest

from teaclave.types.errors import InvalidArgument, StatusCode
from teaclave.types.ids import (
    FUNCTION_PREFIX,
    INPUT_PREFIX,
    OUTPUT_PREFIX,
    TASK_PREFIX,
    ExternalId,
    usage_key,
    user_record_key,
)

U = uuid.UUID("00000000-0000-0000-0000-000000000001")


@pytest.mark.parametrize(
    ("text", "prefix", "length"),
    [
        ("function-00000000-0000-0000-0000-000000000001", FUNCTION_PREFIX, 45),
        ("input-00000000-0000-0000-0000-000000000001", INPUT_PREFIX, 42),
        ("output-00000000-0000-0000-0000-000000000001", OUTPUT_PREFIX, 43),
        ("task-00000000-0000-0000-0000-000000000001", TASK_PREFIX, 41),
    ],
)
def test_parse_accepts_teaclave_ids_and_prints_them_back(text: str, prefix: str, length: int):
    parsed = ExternalId.parse(text, prefix)
    assert parsed == ExternalId(prefix, U)
    assert str(parsed) == text
    assert len(text) == length
    assert parsed.key == text.encode()


def test_new_ids_are_random_v4_and_parse_back():
    a, b = ExternalId.new(TASK_PREFIX), ExternalId.new(TASK_PREFIX)
    assert a != b
    assert a.uuid.version == 4
    assert ExternalId.parse(str(a), TASK_PREFIX) == a


def test_wrong_prefix_is_refused_naming_the_field():
    with pytest.raises(InvalidArgument) as err:
        ExternalId.parse(f"input-{U}", TASK_PREFIX, "task_id")
    assert err.value.code is StatusCode.INVALID_ARGUMENT
    assert err.value.message.startswith("invalid task_id")
    assert "'task-'" in err.value.message


def test_prefix_that_merely_starts_like_the_expected_one_is_refused():
    # "tasks-<uuid>" splits at the first dash into "tasks", not "task".
    with pytest.raises(InvalidArgument, match="invalid data_id"):
        ExternalId.parse(f"tasks-{U}", TASK_PREFIX, "data_id")


@pytest.mark.parametrize("text", ["task", "task" + str(U).replace("-", ""), str(U)])
def test_missing_dash_or_prefix_is_refused(text: str):
    with pytest.raises(InvalidArgument, match=r"^invalid task_id: .* does not start with 'task-'"):
        ExternalId.parse(text, TASK_PREFIX, "task_id")


def test_empty_text_is_refused_naming_the_field():
    with pytest.raises(InvalidArgument, match=r"^invalid function_id: empty$"):
        ExternalId.parse("", FUNCTION_PREFIX, "function_id")


@pytest.mark.parametrize(
    "rest", ["", "not-a-uuid", "00000000-0000-0000-0000-00000000000", "0000-zzzz", f"{U}-extra"]
)
def test_remainder_that_is_not_a_uuid_is_refused(rest: str):
    with pytest.raises(InvalidArgument, match=r"^invalid function_id: .*does not end in a UUID"):
        ExternalId.parse(f"function-{rest}", FUNCTION_PREFIX, "function_id")


@pytest.mark.parametrize(
    "rest",
    [
        U.hex,  # un-hyphenated ("simple") form
        "{" + str(U) + "}",  # braces
        "urn:uuid:" + str(U),
    ],
)
def test_non_hyphenated_uuid_forms_are_refused(rest: str):
    with pytest.raises(InvalidArgument, match=r"^invalid task_id: .* is not a hyphenated UUID$"):
        ExternalId.parse(f"task-{rest}", TASK_PREFIX, "task_id")


def test_uppercase_uuid_is_accepted_and_normalised_to_the_lowercase_key():
    parsed = ExternalId.parse(f"task-{str(U).upper()}", TASK_PREFIX, "task_id")
    assert parsed == ExternalId(TASK_PREFIX, U)
    assert parsed.key == f"task-{U}".encode()


def test_default_field_name_is_id():
    with pytest.raises(InvalidArgument, match=r"^invalid id: "):
        ExternalId.parse("x", TASK_PREFIX)


def test_serde_form_is_prefix_and_uuid_and_round_trips():
    ext = ExternalId(FUNCTION_PREFIX, U)
    assert ext.to_json() == {"prefix": "function", "uuid": str(U)}
    assert ExternalId.from_json(ext.to_json()) == ext
    assert ExternalId.from_json(str(ext)) == ext


def test_user_record_key_is_uuid5_of_the_user_id():
    key = user_record_key("frontend_user")
    assert key == f"user-{uuid.uuid5(uuid.NAMESPACE_DNS, 'frontend_user')}".encode()
    assert user_record_key("frontend_user") == key
    assert user_record_key("frontend_user1") != key


def test_usage_key_uses_the_bare_function_uuid():
    assert usage_key(U) == b"usage-00000000-0000-0000-0000-000000000001"
