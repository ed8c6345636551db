"""SaveLogs and QueryAuditLogs through the running service."""

from __future__ import annotations

import ipaddress
import re
import time
import uuid

from teaclave.proto import teaclave_common_pb2 as common_pb
from teaclave.proto import teaclave_frontend_service_pb2 as fe
from teaclave.proto import teaclave_management_service_pb2 as mg
from teaclave.types.errors import StatusCode

LOOPBACK = bytes(12) + bytes([127, 0, 0, 1])  # IPv4-compatible, as the frontend records it


def entry(microsecond, user, message, result, ip=LOOPBACK):
    return common_pb.Entry(
        microsecond=microsecond, ip=ip, user=user, message=message, result=result
    )


def save(mgmt, *entries):
    mgmt.call("SaveLogs", mg.SaveLogsRequest(logs=list(entries)), "teaclave_frontend_service", None)


def query(mgmt, text, limit=100):
    request = fe.QueryAuditLogsRequest(query=text, limit=limit)
    return list(mgmt.call("QueryAuditLogs", request, "admin", "PlatformAdmin").logs)


def who(user):
    return f"{{ user: {user}, role: PlatformAdmin }}"


def test_teaclave_frontend_audit_scenario(mgmt):
    now = time.time_ns() // 1000
    failed_login = entry(
        now + 1, "", "authenticate to register_function: authentication failed", False
    )
    registered = entry(now + 2, who("frontend_user"), "register_function", True)
    fetched = entry(now + 3, who("frontend_user"), "get_function", True)
    acl_denied = entry(now + 4, "", "authenticate to get_task", False)
    save(mgmt, failed_login, registered)
    save(mgmt, fetched, acl_denied)

    assert query(mgmt, "user:frontend_user") == [fetched, registered]
    by_user = query(mgmt, "user:frontend_user AND message:register_function")
    assert by_user == [registered]
    assert by_user[0].result is True
    assert query(mgmt, "message:register_function") == [registered, failed_login]
    authenticate = query(mgmt, "message:authenticate")
    assert authenticate == [acl_denied, failed_login]
    assert all(e.user == "" and not e.result for e in authenticate)
    assert query(mgmt, "register_function") == [registered, failed_login]


def test_star_returns_the_newest_entries_up_to_the_limit(mgmt):
    far_future = 32_503_680_000_000_000  # year 3000
    entries = [entry(far_future + i, who("star_user"), f"event_{i}", True) for i in range(5)]
    save(mgmt, *entries)
    assert query(mgmt, "*", limit=2) == [entries[4], entries[3]]
    assert query(mgmt, "user:star_user", limit=3) == entries[:1:-1]


def test_field_queries(mgmt):
    user = f"field_user_{uuid.uuid4().hex[:8]}"
    v6 = ipaddress.IPv6Address("2001:db8::7").packed
    a = entry(1_000_000, who(user), "get_task", True)
    b = entry(2_000_000, who(user), "get_task:permission denied", False, ip=v6)
    c = entry(3_000_000, who(user), "approve_task", True)
    save(mgmt, a, b, c)
    scope = f"user:{user}"
    assert query(mgmt, f"{scope} AND result:false") == [b]
    assert query(mgmt, f"{scope} result:true") == [c, a]
    assert query(mgmt, f"{scope} ip:127.0.0.1") == [c, a]
    assert query(mgmt, f"{scope} ip:2001:db8::7") == [b]
    assert query(mgmt, f"{scope} date:[1500000 TO 3000000]") == [c, b]
    assert query(mgmt, f"{scope} date:{{1000000 TO 3000000}}") == [b]
    assert query(mgmt, f"{scope} date:1000000") == [a]
    assert query(mgmt, f"{scope} date:[* TO 1970-01-01T00:00:02Z]") == [b, a]
    assert query(mgmt, f"message:approve_task {scope} OR {scope} message:denied") == [c, b]
    assert query(mgmt, f'{scope} message:"permission denied"') == [b]
    assert query(mgmt, f"{scope} message:nothing_like_this") == []


def test_entries_round_trip_and_use_time_ordered_keys(mgmt, platform):
    user = f"round_trip_{uuid.uuid4().hex[:8]}"
    sent = entry(42, who(user), "list_functions", False, ip=bytes(16))
    save(mgmt, sent)
    assert query(mgmt, f"user:{user}") == [sent]
    keys = [k.decode() for k in platform.storage.keys_by_prefix("audit")]
    assert all(re.fullmatch(r"audit-\d{20}-[0-9a-f-]{36}", k) for k in keys)
    assert f"audit-{42:020d}-" in "\n".join(keys)


def test_only_platform_admins_may_query(mgmt):
    request = fe.QueryAuditLogsRequest(query="*", limit=1)
    for role in ("FunctionOwner", "DataOwner-x", "DataOwnerManager-x", "Invalid"):
        mgmt.fail(StatusCode.PERMISSION_DENIED, "QueryAuditLogs", request, "someone", role)
