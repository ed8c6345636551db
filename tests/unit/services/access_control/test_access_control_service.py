"""AuthorizeApi: the full role-by-API matrix (spec §5.2), peers, and concurrent callers."""

from __future__ import annotations

import threading

import pytest

from teaclave.config.build import EXECUTION, FRONTEND, MANAGEMENT, SCHEDULER
from teaclave.rpc.apis import TeaclaveFrontend
from teaclave.rpc.errors import RemoteError
from teaclave.rpc.service import snake_case
from teaclave.services.access_control import acl
from teaclave.types.errors import StatusCode

PA, FO, DOM, DO = "PlatformAdmin", "FunctionOwner", "DataOwnerManager", "DataOwner"

# The spec table, written out row by row (API → roles other than PlatformAdmin allowed).
SPEC_TABLE: dict[str, set[str]] = {
    "register_function": {FO},
    "update_function": {FO},
    "delete_function": {FO},
    "disable_function": {FO},
    "get_function": {FO, DOM, DO},
    "list_functions": {FO, DOM, DO},
    "get_function_usage_stats": {FO, DOM, DO},
    "register_input_file": {DOM, DO},
    "register_output_file": {DOM, DO},
    "update_input_file": {DOM, DO},
    "update_output_file": {DOM, DO},
    "register_fusion_output": {DOM, DO},
    "register_input_from_output": {DOM, DO},
    "get_input_file": {DOM, DO},
    "get_output_file": {DOM, DO},
    "create_task": {DOM, DO},
    "get_task": {DOM, DO},
    "assign_data": {DOM, DO},
    "approve_task": {DOM, DO},
    "invoke_task": {DOM, DO},
    "cancel_task": {DOM, DO},
    "query_audit_logs": set(),
    "Arbitrary_api": set(),
    "": set(),
    "get_function ": set(),  # no trimming of the request (casbin only trims the policy)
}

FRONTEND_APIS = [snake_case(m.name) for m in TeaclaveFrontend.methods]


def expected(role: str, api: str) -> bool:
    kind, _, _ = role.partition("-")
    if role in (PA,):
        return True
    if kind in (DOM, DO):
        return kind in SPEC_TABLE.get(api, set())
    return role == FO and FO in SPEC_TABLE.get(api, set())


def test_spec_table_covers_every_frontend_rpc():
    assert set(FRONTEND_APIS) <= set(SPEC_TABLE)
    assert set(acl.API_ACL) | {"query_audit_logs"} == set(FRONTEND_APIS)


ROLES = [PA, FO, DOM, DO, "DataOwner-bank1", "DataOwnerManager-bank1", "DataOwner-"]
DENIED_ROLES = ["Invalid", "", "platformadmin", "Admin", "PlatformAdmin-x", "FunctionOwner-x", "-"]


def test_access_api_full_matrix(frontend_client):
    checked = 0
    for role in ROLES + DENIED_ROLES:
        for api in SPEC_TABLE:
            answer = frontend_client.authorize_api(role, api)
            assert answer is expected(role, api), (role, api)
            assert acl.authorize_api(role, api) is answer
            checked += 1
    assert checked == len(SPEC_TABLE) * 14


def test_access_api_teaclave_cases(frontend_client):
    # Teaclave's test_access_api, case by case.
    ok = frontend_client.authorize_api
    for api in [*FRONTEND_APIS, "query_audit_logs", "Arbitrary_api"]:
        assert ok(PA, api)
        assert not ok("Invalid", api)
    for api in [
        "register_function",
        "update_function",
        "delete_function",
        "disable_function",
        "get_function",
        "list_functions",
        "get_function_usage_stats",
    ]:
        assert ok(FO, api)
    assert not ok(FO, "get_task")
    assert not ok(FO, "query_audit_logs")
    for api in [
        "register_input_file",
        "get_output_file",
        "create_task",
        "approve_task",
        "invoke_task",
        "get_function",
    ]:
        assert ok(DO, api)
    for api in [
        "create_task",
        "get_task",
        "assign_data",
        "approve_task",
        "invoke_task",
        "cancel_task",
        "get_function",
        "list_functions",
        "get_function_usage_stats",
    ]:
        assert ok(DOM, api)
    assert not ok(DO, "register_function")
    assert not ok(DOM, "query_audit_logs")


@pytest.mark.parametrize("identity", [FRONTEND, MANAGEMENT])
def test_allowed_callers(make_client, identity):
    assert make_client(identity).authorize_api(DO, "get_function")


@pytest.mark.parametrize("identity", [EXECUTION, SCHEDULER])
def test_other_identities_are_refused(make_client, identity):
    with pytest.raises(RemoteError) as exc:
        make_client(identity).authorize_api(PA, "get_function")
    assert exc.value.code is StatusCode.PERMISSION_DENIED


def test_concurrency(access_control):
    # Teaclave's test_concurrency: 10 threads by 10 rounds, and here every answer is checked.
    threads_n, rounds = 10, 10
    answers: list[tuple[bool, bool, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads_n)

    def worker() -> None:
        client = access_control.client()
        try:
            barrier.wait()
            for _ in range(rounds):
                result = (
                    client.authorize_api(PA, "Arbitrary_api"),
                    client.authorize_api(DO, "get_function"),
                    client.authorize_api(FO, "invoke_task"),
                )
                with lock:
                    answers.append(result)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(answers) == threads_n * rounds
    assert all(a == (True, True, False) for a in answers)
