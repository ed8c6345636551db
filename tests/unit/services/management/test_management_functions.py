"""Function RPCs: register, get (visibility rules), usage stats, update, delete, disable, list."""

from __future__ import annotations

import uuid

from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.types.errors import StatusCode
from teaclave.types.ids import user_record_key

MOCK_FUNCTION_1 = "function-00000000-0000-0000-0000-000000000001"
MOCK_FUNCTION_3 = "function-00000000-0000-0000-0000-000000000003"


def unique(name: str) -> str:
    """A user id no other test uses."""
    return f"{name}_{uuid.uuid4().hex[:8]}"


def user_index(platform, user_id: str):
    return platform.storage.get_json(user_record_key(user_id))


def test_register_function(mgmt, platform):
    function_id = mgmt.function(
        "mock_user",
        name="mock_function",
        executor_type="python",
        public=True,
        arguments=[fe.FunctionArgument(key="arg", allow_overwrite=True)],
        inputs=[fe.FunctionInput(name="input", description="input_desc")],
        outputs=[fe.FunctionOutput(name="output", description="output_desc")],
        usage_quota=0,
    )
    stored = platform.record(function_id)
    assert stored["owner"] == "mock_user"
    assert stored["executor_type"] == "Python"
    assert stored["usage_quota"] == 0
    usage = platform.record(f"usage-{function_id.removeprefix('function-')}")
    assert usage["use_numbers"] == 0
    assert function_id in user_index(platform, "mock_user")["registered_functions"]


def test_register_private_function_indexes_the_allowlist(mgmt, platform):
    owner, allowed = unique("owner"), unique("allowed")
    function_id = mgmt.function(owner, public=False, user_allowlist=[allowed])
    assert user_index(platform, owner)["registered_functions"] == [function_id]
    assert user_index(platform, allowed)["allowed_functions"] == [function_id]
    assert platform.record(function_id)["usage_quota"] is None


def test_get_function_visibility(mgmt):
    owner, allowed, stranger = unique("owner"), unique("allowed"), unique("stranger")
    function_id = mgmt.function(
        owner, public=False, payload=b"secret code", user_allowlist=[allowed]
    )
    request = fe.GetFunctionRequest(function_id=function_id)

    full = mgmt.call("GetFunction", request, owner, "FunctionOwner")
    assert full.payload == b"secret code"
    assert list(full.user_allowlist) == [allowed]
    assert full.owner == owner
    assert full.executor_type == "python"

    restricted = mgmt.call("GetFunction", request, allowed, "DataOwner-x")
    assert restricted.payload == b""
    assert list(restricted.user_allowlist) == []
    assert restricted.name == "mock_function"

    admin = mgmt.call("GetFunction", request, stranger, "PlatformAdmin")
    assert admin.payload == b"secret code"

    mgmt.fail(StatusCode.PERMISSION_DENIED, "GetFunction", request, stranger, "DataOwner-x")


def test_get_mock_functions(mgmt):
    public = mgmt.call(
        "GetFunction", fe.GetFunctionRequest(function_id=MOCK_FUNCTION_1), "anyone", "DataOwner-"
    )
    assert public.name == "mock-func-1"
    assert [i.name for i in public.inputs] == ["input", "input2"]
    assert [a.key for a in public.arguments] == ["arg1", "arg2"]

    request = fe.GetFunctionRequest(function_id=MOCK_FUNCTION_3)
    assert mgmt.call("GetFunction", request, "mock_user", "DataOwner-").payload == b"mock-payload"
    assert mgmt.call("GetFunction", request, "mock_user1", "DataOwner-").payload == b""
    assert mgmt.call("GetFunction", request, "mock_user2").payload == b"mock-payload"


def test_get_unknown_function(mgmt):
    request = fe.GetFunctionRequest(function_id="function-00000000-0000-0000-0000-000000000006")
    message = mgmt.fail(StatusCode.INVALID_ARGUMENT, "GetFunction", request)
    assert message.startswith("invalid function id: function_id: ")


def test_usage_stats_visibility(mgmt):
    owner, allowed, stranger = unique("owner"), unique("allowed"), unique("stranger")
    function_id = mgmt.function(owner, public=False, user_allowlist=[allowed], usage_quota=3)
    request = fe.GetFunctionUsageStatsRequest(function_id=function_id)
    # Fixed §13 #4: the owner is not in the allowlist but may read the stats.
    stats = mgmt.call("GetFunctionUsageStats", request, owner, "FunctionOwner")
    assert (stats.function_quota, stats.current_usage) == (3, 0)
    assert mgmt.call("GetFunctionUsageStats", request, allowed, "DataOwner-x").function_quota == 3
    assert mgmt.call("GetFunctionUsageStats", request, stranger).function_quota == 3
    mgmt.fail(
        StatusCode.PERMISSION_DENIED, "GetFunctionUsageStats", request, stranger, "DataOwner-x"
    )

    public_id = mgmt.function(owner)
    stats = mgmt.call(
        "GetFunctionUsageStats",
        fe.GetFunctionUsageStatsRequest(function_id=public_id),
        stranger,
        "DataOwner-x",
    )
    assert (stats.function_quota, stats.current_usage) == (-1, 0)


def test_update_function(mgmt, platform):
    function_id = mgmt.function("mock_user", description="v1")
    request = fe.UpdateFunctionRequest(
        function_id=function_id,
        name="mock_function",
        description="v2",
        executor_type="builtin",
        public=True,
        usage_quota=7,
    )
    assert mgmt.call("UpdateFunction", request).function_id == function_id
    stored = platform.record(function_id)
    assert (stored["description"], stored["executor_type"], stored["usage_quota"]) == (
        "v2",
        "Builtin",
        7,
    )

    unknown = fe.UpdateFunctionRequest()
    unknown.CopyFrom(request)
    unknown.function_id = "function-00000000-0000-0000-0000-000000000006"
    mgmt.fail(StatusCode.INVALID_ARGUMENT, "UpdateFunction", unknown)
    mgmt.fail(StatusCode.PERMISSION_DENIED, "UpdateFunction", request, "another_mock_user")


def test_update_function_refreshes_allowlist_indexes(mgmt, platform):
    owner, kept, dropped, added = (unique(n) for n in ("owner", "kept", "dropped", "added"))
    function_id = mgmt.function(owner, public=False, user_allowlist=[kept, dropped])
    request = fe.UpdateFunctionRequest(
        function_id=function_id,
        name="mock_function",
        executor_type="python",
        public=False,
        user_allowlist=[kept, added],
        usage_quota=-1,
    )
    mgmt.call("UpdateFunction", request, owner)
    assert user_index(platform, kept)["allowed_functions"] == [function_id]
    assert user_index(platform, dropped)["allowed_functions"] == []
    assert user_index(platform, added)["allowed_functions"] == [function_id]
    listing = mgmt.call(
        "ListFunctions", fe.ListFunctionsRequest(user_id=added), added, "DataOwner-"
    )
    assert list(listing.allowed_functions) == [function_id]


def test_delete_function(mgmt, platform):
    function_id = mgmt.function("mock_user")
    request = fe.DeleteFunctionRequest(function_id=function_id)
    # DeleteFunction stays owner-only, even for a PlatformAdmin.
    mgmt.fail(StatusCode.PERMISSION_DENIED, "DeleteFunction", request, "some_admin")
    mgmt.call("DeleteFunction", request)
    assert platform.record(function_id) is None
    get = fe.GetFunctionRequest(function_id=function_id)
    mgmt.fail(StatusCode.INVALID_ARGUMENT, "GetFunction", get)


def test_disable_function(mgmt, platform):
    owner, allowed = unique("owner"), unique("allowed")
    function_id = mgmt.function(owner, public=True, user_allowlist=[allowed])
    request = fe.DisableFunctionRequest(function_id=function_id)
    mgmt.fail(StatusCode.PERMISSION_DENIED, "DisableFunction", request, allowed, "FunctionOwner")
    mgmt.call("DisableFunction", request, owner, "FunctionOwner")

    function_uuid = function_id.removeprefix("function-")
    marker = platform.record(f"disabled-{function_uuid}")
    assert marker["function_id"] == function_uuid
    assert marker["disabled_by"] == owner
    assert platform.record(function_id)["user_allowlist"] == []
    assert user_index(platform, owner)["registered_functions"] == []
    assert user_index(platform, allowed)["allowed_functions"] == []
    # Still readable.
    assert mgmt.call("GetFunction", fe.GetFunctionRequest(function_id=function_id)).name
    # Disabling twice is harmless; an admin may do it.
    mgmt.call("DisableFunction", request, "some_admin", "PlatformAdmin")


def test_disabled_function_cannot_be_used_for_new_tasks(mgmt):
    function_id = mgmt.function("mock_user", public=True)
    mgmt.task("mock_user", function_id=function_id)
    mgmt.call("DisableFunction", fe.DisableFunctionRequest(function_id=function_id))
    create = fe.CreateTaskRequest(
        function_id=function_id, function_arguments="{}", executor="mesapy"
    )
    for user, role in (("mock_user", "PlatformAdmin"), ("data_user", "DataOwner-org")):
        message = mgmt.fail(StatusCode.FAILED_PRECONDITION, "CreateTask", create, user, role)
        assert message.startswith("failed to create task: ")
    update = fe.UpdateFunctionRequest(
        function_id=function_id, name="f", executor_type="python", public=True
    )
    mgmt.fail(StatusCode.FAILED_PRECONDITION, "UpdateFunction", update)


def test_deleting_a_disabled_function_removes_its_marker(mgmt, platform):
    function_id = mgmt.function("mock_user")
    mgmt.call("DisableFunction", fe.DisableFunctionRequest(function_id=function_id))
    mgmt.call("DeleteFunction", fe.DeleteFunctionRequest(function_id=function_id))
    assert platform.record(f"disabled-{function_id.removeprefix('function-')}") is None


def test_list_functions(mgmt, platform):
    owner, allowed = unique("owner"), unique("allowed")
    registered = mgmt.function(owner, public=False, user_allowlist=[allowed])
    listing = mgmt.call(
        "ListFunctions", fe.ListFunctionsRequest(user_id=owner), owner, "FunctionOwner"
    )
    assert list(listing.registered_functions) == [registered]
    assert list(listing.allowed_functions) == []

    listing = mgmt.call(
        "ListFunctions", fe.ListFunctionsRequest(user_id=allowed), allowed, "DataOwner-x"
    )
    assert (list(listing.registered_functions), list(listing.allowed_functions)) == (
        [],
        [registered],
    )

    request = fe.ListFunctionsRequest(user_id=owner)
    mgmt.fail(StatusCode.PERMISSION_DENIED, "ListFunctions", request, allowed, "DataOwner-x")

    nobody_id = unique("nobody")
    nobody = mgmt.call(
        "ListFunctions", fe.ListFunctionsRequest(user_id=nobody_id), nobody_id, "DataOwner-"
    )
    assert list(nobody.registered_functions) == list(nobody.allowed_functions) == []


def test_list_functions_as_admin_shows_every_enabled_function(mgmt, platform):
    disabled = mgmt.function("mock_user")
    mgmt.call("DisableFunction", fe.DisableFunctionRequest(function_id=disabled))
    listed_user = unique("someone")  # has no user record at all
    listing = mgmt.call(
        "ListFunctions", fe.ListFunctionsRequest(user_id=listed_user), "admin", "PlatformAdmin"
    )
    every = {k.decode() for k in platform.storage.keys_by_prefix("function")}
    markers = platform.storage.keys_by_prefix("disabled")
    all_disabled = {"function-" + k.decode().removeprefix("disabled-") for k in markers}
    assert disabled in all_disabled
    assert set(listing.allowed_functions) == every - all_disabled
    assert len(listing.allowed_functions) == len(set(listing.allowed_functions))
    assert MOCK_FUNCTION_1 in listing.allowed_functions
    assert disabled in every


def test_list_functions_adds_the_attribute_allowlist(mgmt):
    owner, member = unique("owner"), unique("member")
    org = unique("org")
    by_attribute = mgmt.function(owner, public=False, user_allowlist=[org])
    by_id = mgmt.function(owner, public=False, user_allowlist=[member])
    listing = mgmt.call(
        "ListFunctions", fe.ListFunctionsRequest(user_id=member), member, f"DataOwner-{org}"
    )
    assert list(listing.allowed_functions) == [by_id, by_attribute]
