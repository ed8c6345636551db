"""TeeBinder against a small test enclave, in-process and in a child process (spec §9)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sample_enclave import RawInput, RawOutput, StartInput, StartOutput

from teaclave.binder import (
    ECallCommand,
    InitEnclaveInput,
    InitEnclaveOutput,
    TeeBinder,
    TeeServiceError,
)
from teaclave.binder.binder import enclave_module
from teaclave.binder.enclave import Enclave, decode_result, dispatch

MODES = ["in-process", "child-process"]

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=MODES)
def tee(request: pytest.FixtureRequest) -> Iterator[TeeBinder]:
    binder = TeeBinder("sample_enclave", mode=request.param)
    yield binder
    binder.finalize()


def raw(tee: TeeBinder, op: str, text: str = "", secs: float = 0.0) -> RawOutput:
    return tee.invoke(ECallCommand.RAW, RawInput(op, text, secs), RawOutput)


class Background:
    """Run a blocking invoke on a thread and keep its outcome."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 10.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "call did not return"


def test_payload_round_trip_crosses_as_json(tee: TeeBinder):
    out = raw(tee, "echo", "hello")
    # RawInput.to_json wraps in <>, RawInput.from_json appends |decoded (enclave side),
    # RawOutput.from_json appends |received (app side): all three steps really happened.
    assert out.text == "<hello>|decoded|received"
    assert out.counters["init"] == 1  # TeeBinder sent InitEnclave once on creation


def test_child_mode_runs_in_another_process():
    here = TeeBinder("sample_enclave", mode="in-process")
    child = TeeBinder("sample_enclave", mode="child-process")
    try:
        assert raw(here, "echo").pid == os.getpid()
        assert raw(child, "echo").pid != os.getpid()
        assert raw(child, "status").text == "sample_enclave|received"
    finally:
        here.finalize()
        child.finalize()


def test_handler_error_becomes_service_error(tee: TeeBinder):
    with pytest.raises(TeeServiceError) as err:
        raw(tee, "fail", "bad input")
    assert err.value.kind == "ServiceError"
    assert err.value.message == "boom: <bad input>|decoded"
    assert str(err.value) == "ServiceError: boom: <bad input>|decoded"
    # The enclave keeps serving after a failed command.
    assert raw(tee, "echo", "again").text == "<again>|decoded|received"


def test_handler_returning_the_wrong_type_is_a_service_error(tee: TeeBinder):
    with pytest.raises(TeeServiceError) as err:
        raw(tee, "wrong_output")
    assert err.value.kind == "ServiceError"
    assert "StartOutput" in err.value.message


@pytest.mark.parametrize("command", [ECallCommand.RUN_TEST, ECallCommand.UNIMPLEMENTED])
def test_unregistered_command(tee: TeeBinder, command: ECallCommand):
    with pytest.raises(TeeServiceError) as err:
        tee.invoke(command, RawInput("echo"), RawOutput)
    assert err.value.kind == "CommandNotRegistered"
    assert f"{int(command):#x}" in err.value.message


def test_start_service_blocks_until_finalize_in_process():
    tee = TeeBinder("sample_enclave", mode="in-process")
    call = Background(
        lambda: tee.invoke(ECallCommand.START_SERVICE, StartInput("svc"), StartOutput)
    )
    assert tee.wait_ready(5)
    time.sleep(0.2)
    assert call.thread.is_alive()
    assert raw(tee, "status").counters["started"] >= 1
    tee.finalize()
    call.join()
    assert call.error is None
    assert call.result == StartOutput("svc", True)


def test_start_service_blocks_until_finalize_in_a_child():
    tee = TeeBinder("sample_enclave", mode="child-process")
    call = Background(
        lambda: tee.invoke(ECallCommand.START_SERVICE, StartInput("svc"), StartOutput)
    )
    deadline = time.monotonic() + 5
    while raw(tee, "status").counters["started"] < 1:
        assert time.monotonic() < deadline, "StartService never reached the enclave"
        time.sleep(0.02)
    time.sleep(0.2)
    assert call.thread.is_alive()
    # Other commands are served concurrently with the blocked StartService.
    assert raw(tee, "echo", "x").text == "<x>|decoded|received"
    with pytest.raises(TeeServiceError, match="only observable in-process"):
        tee.wait_ready(0.1)
    tee.finalize()
    call.join()
    assert call.error is None
    assert call.result == StartOutput("svc", True)
    assert tee._child is not None and tee._child.returncode == 0


def test_child_exit_fails_pending_and_later_calls():
    tee = TeeBinder("sample_enclave", mode="child-process")
    pending = Background(lambda: raw(tee, "sleep", secs=20))
    started = Background(
        lambda: tee.invoke(ECallCommand.START_SERVICE, StartInput("svc"), StartOutput)
    )
    time.sleep(0.3)
    with pytest.raises(TeeServiceError) as err:
        raw(tee, "exit", secs=0.1)
    assert err.value.kind == "SgxError"
    assert "exited" in err.value.message
    for call in (pending, started):
        call.join()
        assert isinstance(call.error, TeeServiceError)
        assert call.error.kind == "SgxError"
    with pytest.raises(TeeServiceError) as later:
        raw(tee, "echo")
    assert later.value.kind == "SgxError"
    # Finalizing a dead enclave just reaps the process, and stays idempotent.
    tee.finalize()
    tee.finalize()
    assert tee._child is not None and tee._child.returncode == 3


def test_finalize_is_idempotent(tee: TeeBinder):
    assert raw(tee, "status").counters["finalize"] == 0
    tee.finalize()
    tee.finalize()
    if tee.mode == "in-process":
        # The in-process enclave is still there to ask: exactly one FinalizeEnclave arrived.
        assert raw(tee, "status").counters["finalize"] == 1
    else:
        assert tee._child is not None and tee._child.returncode == 0
        with pytest.raises(TeeServiceError, match="gone"):
            raw(tee, "echo")


def test_enclave_module_names():
    assert enclave_module("teaclave_storage_service") == "teaclave.services.storage.enclave"
    assert enclave_module("teaclave_access_control_service") == (
        "teaclave.services.access_control.enclave"
    )
    assert enclave_module("sample_enclave") == "sample_enclave"


def test_dispatch_speaks_json_both_ways():
    enclave = Enclave("sample_enclave")
    ok = dispatch(
        "sample_enclave",
        enclave,
        int(ECallCommand.RAW),
        json.dumps({"op": "echo", "text": "t", "secs": 0}).encode(),
    )
    value = json.loads(ok)
    assert value["Ok"]["text"] == "t|decoded"
    assert decode_result(ok, RawOutput).text == "t|decoded|received"
    err = dispatch("sample_enclave", enclave, 0x42, b"{}")
    assert json.loads(err) == {
        "Err": {"kind": "CommandNotRegistered", "message": "ECallCommandNotRegistered(0x42)"}
    }
    bad = dispatch("sample_enclave", enclave, int(ECallCommand.RAW), b"not json")
    assert json.loads(bad)["Err"]["kind"] == "ServiceError"


def test_missing_enclave_module_fails_to_bind():
    with pytest.raises(ModuleNotFoundError):
        TeeBinder("no_such_enclave_module", mode="in-process")
    with pytest.raises(TeeServiceError) as err:
        TeeBinder("no_such_enclave_module", mode="child-process")
    assert err.value.kind == "SgxError"


def test_init_enclave_can_be_invoked_again(tee: TeeBinder):
    assert tee.invoke(ECallCommand.INIT_ENCLAVE, InitEnclaveInput(), InitEnclaveOutput) == (
        InitEnclaveOutput()
    )
    assert raw(tee, "status").counters["init"] == 2
