"""The task state machine (spec §2.5, §2.6, §2.9 and §5.3 CreateTask/AssignData/...)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable

import pytest

from teaclave.types.errors import (
    DecodeError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    StatusCode,
)
from teaclave.types.files import CryptoSchema, FileCrypto, InputFile, OutputFile
from teaclave.types.function import (
    Executor,
    ExecutorType,
    Function,
    FunctionArgument,
    FunctionIo,
)
from teaclave.types.task import (
    REASON_CANCELED_BY_USER,
    REASON_CANCELED_EARLY,
    REASON_EXECUTOR_TIMEOUT,
    TaskOutputs,
    TaskResult,
    TaskState,
    TaskStatus,
    merge_arguments,
)

KEY = bytes(range(16))
TAG_A = bytes([1] * 16)
TAG_B = bytes([2] * 16)
CRYPTO = FileCrypto(CryptoSchema.TEACLAVE_FILE_128, KEY)


def function(
    *,
    owner: str = "fowner",
    public: bool = True,
    arguments: list[FunctionArgument] | None = None,
    inputs: list[FunctionIo] | None = None,
    outputs: list[FunctionIo] | None = None,
) -> Function:
    return Function(
        name="f",
        description="",
        executor_type=ExecutorType.BUILTIN,
        public=public,
        payload=b"",
        arguments=arguments or [],
        inputs=inputs or [],
        outputs=outputs or [],
        owner=owner,
        user_allowlist=[],
    )


def in_file(*owners: str) -> InputFile:
    return InputFile("http://h/in", TAG_A, CRYPTO, frozenset(owners))


def out_file(*owners: str, cmac: bytes | None = None) -> OutputFile:
    return OutputFile("http://h/out", CRYPTO, frozenset(owners), cmac)


def solo_task(creator: str = "alice") -> TaskState:
    """No data, public function: a single participant."""
    return TaskState.create(
        creator=creator,
        function=function(),
        arguments={},
        executor=Executor.BUILTIN,
        inputs_ownership={},
        outputs_ownership={},
    )


def two_party_task() -> TaskState:
    """alice creates; input "a" owned by alice, input "b" by bob, output "out" by both."""
    return TaskState.create(
        creator="alice",
        function=function(inputs=[FunctionIo("a"), FunctionIo("b")], outputs=[FunctionIo("out")]),
        arguments={},
        executor=Executor.MESAPY,
        inputs_ownership={"a": frozenset({"alice"}), "b": frozenset({"bob"})},
        outputs_ownership={"out": frozenset({"alice", "bob"})},
    )


def assign_all(task: TaskState) -> None:
    task.assign_data("alice", {"a": in_file("alice")}, {"out": out_file("alice", "bob")})
    task.assign_data("bob", {"b": in_file("bob")}, {})


def snapshot(task: TaskState) -> object:
    return json.loads(json.dumps(task.to_json()))


# ====================================================================== create
class TestCreateArguments:
    ARGS = [
        FunctionArgument("n_trees", "", True),
        FunctionArgument("ratio", "", True),
        FunctionArgument("verbose", "", True),
        FunctionArgument("depth", "10", False),
        FunctionArgument("name", "gbdt", False),
    ]

    def create(self, arguments: dict[str, object]) -> TaskState:
        return TaskState.create(
            creator="alice",
            function=function(arguments=self.ARGS),
            arguments=arguments,
            executor=Executor.BUILTIN,
            inputs_ownership={},
            outputs_ownership={},
        )

    def test_overwritable_values_keep_their_type_and_defaults_are_strings(self):
        task = self.create({"n_trees": 4, "ratio": 0.1, "verbose": True})
        assert task.function_arguments == {
            "n_trees": 4,
            "ratio": 0.1,
            "verbose": True,
            "depth": "10",
            "name": "gbdt",
        }
        assert isinstance(task.function_arguments["n_trees"], int)
        assert isinstance(task.function_arguments["depth"], str)

    def test_structured_values_are_kept(self):
        task = self.create({"n_trees": [1, 2], "ratio": {"a": None}, "verbose": "yes"})
        assert task.function_arguments["n_trees"] == [1, 2]
        assert task.function_arguments["ratio"] == {"a": None}

    def test_missing_overwritable_key_is_refused(self):
        with pytest.raises(InvalidArgument) as err:
            self.create({"n_trees": 4})
        assert err.value.code is StatusCode.INVALID_ARGUMENT
        assert err.value.message == "invalid task: function_arguments: missing ratio, verbose"

    def test_non_overwritable_key_cannot_be_set(self):
        with pytest.raises(
            InvalidArgument,
            match=r"^invalid task: function_arguments: not overwritable or not declared: depth$",
        ):
            self.create({"n_trees": 4, "ratio": 0.1, "verbose": True, "depth": 3})

    def test_undeclared_key_is_refused(self):
        with pytest.raises(InvalidArgument, match=r"not overwritable or not declared: save_log"):
            self.create({"n_trees": 4, "ratio": 0.1, "verbose": True, "save_log": "true"})

    def test_missing_and_extra_are_both_reported(self):
        with pytest.raises(InvalidArgument) as err:
            self.create({"n_trees": 4, "bogus": 1})
        assert err.value.message == (
            "invalid task: function_arguments: missing ratio, verbose; "
            "not overwritable or not declared: bogus"
        )

    def test_merge_arguments_directly(self):
        f = function(arguments=[FunctionArgument("a", "1", False), FunctionArgument("b")])
        assert merge_arguments(f, {"b": 2}) == {"a": "1", "b": 2}
        assert merge_arguments(function(), {}) == {}


class TestCreateOwnership:
    F = function(
        inputs=[FunctionIo("in"), FunctionIo("opt_in", optional=True)],
        outputs=[FunctionIo("out"), FunctionIo("opt_out", optional=True)],
    )

    def create(
        self, inputs: dict[str, frozenset[str]], outputs: dict[str, frozenset[str]]
    ) -> TaskState:
        return TaskState.create(
            creator="alice",
            function=self.F,
            arguments={},
            executor=Executor.BUILTIN,
            inputs_ownership=inputs,
            outputs_ownership=outputs,
        )

    def test_required_slots_suffice_and_optional_slots_may_be_given(self):
        task = self.create({"in": frozenset({"alice"})}, {"out": frozenset({"alice"})})
        assert set(task.inputs_ownership) == {"in"}
        task = self.create(
            {"in": frozenset({"alice"}), "opt_in": frozenset({"bob"})},
            {"out": frozenset({"alice"}), "opt_out": frozenset({"carol"})},
        )
        assert task.inputs_ownership["opt_in"] == frozenset({"bob"})
        assert task.outputs_ownership["opt_out"] == frozenset({"carol"})

    def test_missing_required_input_is_refused(self):
        with pytest.raises(
            InvalidArgument, match=r"^invalid task: inputs_ownership: no owners given for in$"
        ):
            self.create({"opt_in": frozenset({"alice"})}, {"out": frozenset({"alice"})})

    def test_missing_required_output_is_refused(self):
        with pytest.raises(
            InvalidArgument, match=r"^invalid task: outputs_ownership: no owners given for out$"
        ):
            self.create({"in": frozenset({"alice"})}, {})

    def test_undeclared_names_are_refused(self):
        with pytest.raises(
            InvalidArgument, match=r"^invalid task: inputs_ownership: extra not declared$"
        ):
            self.create(
                {"in": frozenset({"a"}), "extra": frozenset({"a"})}, {"out": frozenset({"a"})}
            )
        with pytest.raises(InvalidArgument, match=r"^invalid task: outputs_ownership: in not"):
            self.create({"in": frozenset({"a"})}, {"out": frozenset({"a"}), "in": frozenset()})

    @pytest.mark.parametrize("owners", [frozenset(), frozenset({""}), frozenset({"a", ""})])
    def test_empty_owner_lists_are_refused(self, owners: frozenset[str]):
        with pytest.raises(InvalidArgument, match=r"^invalid task: outputs_ownership\[out\]: "):
            self.create({"in": frozenset({"a"})}, {"out": owners})


class TestCreateParticipants:
    def test_participants_are_creator_and_all_owners(self):
        task = two_party_task()
        assert task.participants == frozenset({"alice", "bob"})
        assert task.creator == "alice"

    def test_owners_of_optional_slots_take_part(self):
        task = TaskState.create(
            creator="alice",
            function=function(inputs=[FunctionIo("x", optional=True)]),
            arguments={},
            executor=Executor.BUILTIN,
            inputs_ownership={"x": frozenset({"dave", "erin"})},
            outputs_ownership={},
        )
        assert task.participants == frozenset({"alice", "dave", "erin"})

    def test_private_function_owner_takes_part(self):
        task = TaskState.create(
            creator="alice",
            function=function(owner="fowner", public=False),
            arguments={},
            executor=Executor.BUILTIN,
            inputs_ownership={},
            outputs_ownership={},
        )
        assert task.participants == frozenset({"alice", "fowner"})
        assert task.function_owner == "fowner"

    def test_public_function_owner_does_not(self):
        task = solo_task()
        assert task.participants == frozenset({"alice"})
        assert task.function_owner == "fowner"

    def test_initial_state(self):
        f = function()
        task = TaskState.create(
            creator="alice",
            function=f,
            arguments={},
            executor=Executor.WAMR,
            inputs_ownership={},
            outputs_ownership={},
        )
        assert task.status is TaskStatus.CREATED
        assert task.function_id == f.external_id
        assert task.executor is Executor.WAMR
        assert task.approved_users == set()
        assert task.assigned_inputs == {} and task.assigned_outputs == {}
        assert not task.result.is_ready
        assert task.attempts == 0
        assert task.task_id.version == 4
        assert str(task.external_id) == f"task-{task.task_id}"
        assert solo_task().task_id != task.task_id


# ====================================================================== assign_data
class TestAssignData:
    def test_partial_assignment_stays_created_then_completes_to_data_assigned(self):
        task = two_party_task()
        task.assign_data("alice", {"a": in_file("alice")}, {})
        assert task.status is TaskStatus.CREATED
        assert task.missing_assignments() == ["b", "out"]
        task.assign_data("bob", {"b": in_file("bob")}, {"out": out_file("alice", "bob")})
        assert task.status is TaskStatus.DATA_ASSIGNED
        assert task.all_data_assigned
        assert task.missing_assignments() == []
        assert task.assigned_inputs["b"].owner == frozenset({"bob"})

    def test_a_task_without_slots_advances_on_an_empty_assignment(self):
        task = solo_task()
        task.assign_data("alice", {}, {})
        assert task.status is TaskStatus.DATA_ASSIGNED

    def test_non_participant_is_refused(self):
        task = two_party_task()
        with pytest.raises(PermissionDenied) as err:
            task.assign_data("mallory", {}, {})
        assert err.value.code is StatusCode.PERMISSION_DENIED
        assert err.value.message == (
            "permission denied: 'mallory' is not a participant of the task"
        )

    def test_assignment_after_data_assigned_is_refused(self):
        task = two_party_task()
        assign_all(task)
        with pytest.raises(FailedPrecondition, match=r"^failed to assign data to task: "):
            task.assign_data("alice", {}, {})

    @pytest.mark.parametrize(
        ("caller", "inputs", "outputs", "where", "why"),
        [
            ("alice", {"zzz": in_file("alice")}, {}, "inputs[zzz]", "no such data name"),
            ("alice", {}, {"a": out_file("alice")}, "outputs[a]", "no such data name"),
            ("alice", {"b": in_file("bob")}, {}, "inputs[b]", "caller does not own the file"),
            ("alice", {"a": in_file("alice", "bob")}, {}, "inputs[a]", "file owners"),
            ("alice", {}, {"out": out_file("alice")}, "outputs[out]", "file owners"),
            ("bob", {}, {"out": out_file("alice", "bob", "carol")}, "outputs[out]", "differ"),
        ],
    )
    def test_refusals_name_the_slot(
        self,
        caller: str,
        inputs: dict[str, InputFile],
        outputs: dict[str, OutputFile],
        where: str,
        why: str,
    ):
        task = two_party_task()
        before = snapshot(task)
        with pytest.raises(PermissionDenied) as err:
            task.assign_data(caller, inputs, outputs)
        assert err.value.message.startswith(f"permission denied: {where}: ")
        assert why in err.value.message
        assert snapshot(task) == before

    def test_already_assigned_slot_is_refused(self):
        task = two_party_task()
        task.assign_data("alice", {"a": in_file("alice")}, {})
        with pytest.raises(PermissionDenied, match=r"^permission denied: inputs\[a\]: already"):
            task.assign_data("alice", {"a": in_file("alice")}, {})

    def test_all_or_nothing_within_inputs(self):
        task = two_party_task()
        before = snapshot(task)
        with pytest.raises(PermissionDenied):
            task.assign_data("alice", {"a": in_file("alice"), "b": in_file("bob")}, {})
        assert snapshot(task) == before
        assert task.assigned_inputs == {}

    def test_all_or_nothing_across_inputs_and_outputs(self):
        task = two_party_task()
        with pytest.raises(PermissionDenied, match=r"outputs\[out\]"):
            task.assign_data("alice", {"a": in_file("alice")}, {"out": out_file("alice")})
        assert task.assigned_inputs == {} and task.assigned_outputs == {}
        assert task.status is TaskStatus.CREATED

    def test_an_optional_slot_left_out_of_the_task_cannot_be_assigned(self):
        task = TaskState.create(
            creator="alice",
            function=function(inputs=[FunctionIo("x", optional=True)]),
            arguments={},
            executor=Executor.BUILTIN,
            inputs_ownership={},
            outputs_ownership={},
        )
        assert task.all_data_assigned
        with pytest.raises(PermissionDenied, match=r"inputs\[x\]: no such data name"):
            task.assign_data("alice", {"x": in_file("alice")}, {})


# ====================================================================== approve
class TestApprove:
    def test_two_participants_must_both_approve(self):
        task = two_party_task()
        assign_all(task)
        task.approve("bob")
        assert task.status is TaskStatus.DATA_ASSIGNED
        assert task.approved_users == {"bob"}
        assert not task.everyone_approved
        task.approve("bob")  # approving again while waiting changes nothing
        assert task.status is TaskStatus.DATA_ASSIGNED
        task.approve("alice")
        assert task.status is TaskStatus.APPROVED
        assert task.everyone_approved

    def test_approve_before_assignment_is_refused_naming_missing_data(self):
        task = two_party_task()
        task.assign_data("alice", {"a": in_file("alice")}, {})
        before = snapshot(task)
        with pytest.raises(FailedPrecondition) as err:
            task.approve("alice")
        assert err.value.message == "failed to approve task: data not assigned: b, out"
        assert snapshot(task) == before

    def test_created_task_with_everything_assigned_is_advanced_then_approved(self):
        task = solo_task()
        assert task.status is TaskStatus.CREATED
        task.approve("alice")
        assert task.status is TaskStatus.APPROVED

    def test_non_participant_is_refused_and_nothing_changes(self):
        task = two_party_task()
        assign_all(task)
        before = snapshot(task)
        with pytest.raises(PermissionDenied, match="'mallory' is not a participant"):
            task.approve("mallory")
        assert snapshot(task) == before

    def test_non_participant_refused_on_a_created_task_leaves_it_created(self):
        task = solo_task()
        before = snapshot(task)
        with pytest.raises(PermissionDenied):
            task.approve("mallory")
        assert task.status is TaskStatus.CREATED
        assert snapshot(task) == before

    def test_re_approve_after_approved_is_refused(self):
        task = solo_task()
        task.approve("alice")
        with pytest.raises(FailedPrecondition, match=r"^failed to approve task: task is Approved$"):
            task.approve("alice")

    @pytest.mark.parametrize("status", ["Staged", "Running", "Finished", "Failed", "Canceled"])
    def test_approve_in_later_states_is_refused(self, status: str):
        task = task_in(status)
        with pytest.raises(FailedPrecondition, match=rf"task is {status}$"):
            task.approve("alice")


# ====================================================================== stage
class TestStage:
    def test_single_participant_without_data_goes_straight_to_staged(self):
        task = solo_task()
        task.stage("alice")
        assert task.status is TaskStatus.STAGED

    def test_single_participant_with_data_can_invoke_without_approving(self):
        task = TaskState.create(
            creator="alice",
            function=function(inputs=[FunctionIo("in")]),
            arguments={},
            executor=Executor.BUILTIN,
            inputs_ownership={"in": frozenset({"alice"})},
            outputs_ownership={},
        )
        task.assign_data("alice", {"in": in_file("alice")}, {})
        assert task.status is TaskStatus.DATA_ASSIGNED
        task.stage("alice")
        assert task.status is TaskStatus.STAGED

    def test_approved_task_is_staged_by_its_creator(self):
        task = two_party_task()
        assign_all(task)
        task.approve("alice")
        task.approve("bob")
        task.stage("alice")
        assert task.status is TaskStatus.STAGED

    def test_only_the_creator_may_invoke(self):
        task = two_party_task()
        assign_all(task)
        task.approve("alice")
        task.approve("bob")
        with pytest.raises(PermissionDenied, match="only the task creator"):
            task.stage("bob")
        assert task.status is TaskStatus.APPROVED

    def test_missing_data_is_refused_naming_the_slots(self):
        task = two_party_task()
        with pytest.raises(FailedPrecondition) as err:
            task.stage("alice")
        assert err.value.message == "failed to invoke task: data not assigned: a, b, out"
        assert task.status is TaskStatus.CREATED

    def test_missing_approvals_are_refused_naming_who_is_awaited(self):
        task = two_party_task()
        assign_all(task)
        before = snapshot(task)
        with pytest.raises(FailedPrecondition) as err:
            task.stage("alice")
        assert err.value.message == "failed to invoke task: waiting for approval from alice, bob"
        task.approve("alice")
        with pytest.raises(FailedPrecondition, match=r"waiting for approval from bob$"):
            task.stage("alice")
        assert task.status is TaskStatus.DATA_ASSIGNED
        task.approved_users.clear()
        assert snapshot(task) == before

    def test_private_function_owner_must_approve_too(self):
        task = TaskState.create(
            creator="alice",
            function=function(public=False, owner="fowner"),
            arguments={},
            executor=Executor.BUILTIN,
            inputs_ownership={},
            outputs_ownership={},
        )
        with pytest.raises(FailedPrecondition, match=r"waiting for approval from alice, fowner$"):
            task.stage("alice")
        task.approve("fowner")
        task.approve("alice")
        task.stage("alice")
        assert task.status is TaskStatus.STAGED

    @pytest.mark.parametrize("status", ["Staged", "Running", "Finished", "Failed", "Canceled"])
    def test_staging_again_or_after_the_end_is_refused(self, status: str):
        task = task_in(status)
        with pytest.raises(FailedPrecondition, match=rf"^failed to invoke task: task is {status}$"):
            task.stage("alice")
        assert task.status.serde_name == status


# ====================================================================== scheduler side
class TestRunAndComplete:
    def staged_with_outputs(self) -> TaskState:
        task = TaskState.create(
            creator="alice",
            function=function(outputs=[FunctionIo("o1"), FunctionIo("o2")]),
            arguments={},
            executor=Executor.BUILTIN,
            inputs_ownership={},
            outputs_ownership={"o1": frozenset({"alice"}), "o2": frozenset({"alice"})},
        )
        task.assign_data("alice", {}, {"o1": out_file("alice"), "o2": out_file("alice")})
        task.stage("alice")
        return task

    def test_start_running_only_from_staged(self):
        task = solo_task()
        with pytest.raises(FailedPrecondition, match=r"is Created, expected Staged$"):
            task.start_running()
        task.stage("alice")
        task.start_running()
        assert task.status is TaskStatus.RUNNING
        with pytest.raises(FailedPrecondition, match=r"is Running, expected Staged$"):
            task.start_running()

    def test_ok_result_finishes_and_writes_each_cmac_once(self):
        task = self.staged_with_outputs()
        task.start_running()
        outputs = TaskOutputs(b"summary", {"o1": TAG_A, "o2": TAG_B}, ["line"])
        task.complete(TaskResult.success(outputs))
        assert task.status is TaskStatus.FINISHED
        assert task.assigned_outputs["o1"].cmac == TAG_A
        assert task.assigned_outputs["o2"].cmac == TAG_B
        assert task.result.ok == outputs
        with pytest.raises(FailedPrecondition, match=r"is Finished, expected Running$"):
            task.complete(TaskResult.success(TaskOutputs(b"", {"o1": TAG_B})))
        assert task.assigned_outputs["o1"].cmac == TAG_A

    def test_err_result_fails_the_task(self):
        task = solo_task()
        task.stage("alice")
        task.start_running()
        task.complete(TaskResult.failure("function error"))
        assert task.status is TaskStatus.FAILED
        assert task.result.err == "function error"

    def test_unknown_tag_name_is_refused_and_nothing_is_written(self):
        task = self.staged_with_outputs()
        task.start_running()
        before = snapshot(task)
        with pytest.raises(InvalidArgument, match=r"^result\.tags_map: 'nope' is not an assigned"):
            task.complete(TaskResult.success(TaskOutputs(b"", {"o1": TAG_A, "nope": TAG_B})))
        assert snapshot(task) == before
        assert task.status is TaskStatus.RUNNING

    def test_an_output_already_written_is_not_overwritten(self):
        task = TaskState.create(
            creator="alice",
            function=function(outputs=[FunctionIo("o1"), FunctionIo("o2")]),
            arguments={},
            executor=Executor.BUILTIN,
            inputs_ownership={},
            outputs_ownership={"o1": frozenset({"alice"}), "o2": frozenset({"alice"})},
        )
        task.assign_data(
            "alice", {}, {"o1": out_file("alice"), "o2": out_file("alice", cmac=TAG_B)}
        )
        task.stage("alice")
        task.start_running()
        with pytest.raises(FailedPrecondition, match=r"^cannot overwrite output file cmac of 'o2'"):
            task.complete(TaskResult.success(TaskOutputs(b"", {"o1": TAG_A, "o2": TAG_A})))
        assert task.assigned_outputs["o1"].cmac is None
        assert task.assigned_outputs["o2"].cmac == TAG_B
        assert task.status is TaskStatus.RUNNING

    def test_not_ready_result_is_refused(self):
        task = solo_task()
        task.stage("alice")
        task.start_running()
        with pytest.raises(InvalidArgument, match=r"^result: neither Ok nor Err"):
            task.complete(TaskResult())
        assert task.status is TaskStatus.RUNNING

    @pytest.mark.parametrize("status", ["Created", "Staged", "Finished", "Canceled"])
    def test_complete_outside_running_is_refused(self, status: str):
        task = task_in(status)
        with pytest.raises(FailedPrecondition, match=r"expected Running$"):
            task.complete(TaskResult.failure("x"))


class TestFailRequeueCancel:
    @pytest.mark.parametrize("status", ["Staged", "Running"])
    def test_fail_from_staged_or_running(self, status: str):
        task = task_in(status)
        task.fail(REASON_EXECUTOR_TIMEOUT)
        assert task.status is TaskStatus.FAILED
        assert task.result.err == "Runtime Error: Executor Timeout"

    @pytest.mark.parametrize(
        "status", ["Created", "DataAssigned", "Approved", "Finished", "Failed", "Canceled"]
    )
    def test_fail_elsewhere_is_refused(self, status: str):
        task = task_in(status)
        before = snapshot(task)
        with pytest.raises(FailedPrecondition, match="cannot fail it"):
            task.fail("x")
        assert snapshot(task) == before

    def test_requeue_counts_attempts(self):
        task = task_in("Running")
        task.requeue()
        assert task.status is TaskStatus.STAGED and task.attempts == 1
        task.start_running()
        task.requeue()
        assert task.status is TaskStatus.STAGED and task.attempts == 2
        task.requeue()  # a Staged task may be requeued too
        assert task.attempts == 3

    @pytest.mark.parametrize("status", ["Created", "Approved", "Finished", "Canceled"])
    def test_requeue_elsewhere_is_refused(self, status: str):
        task = task_in(status)
        with pytest.raises(FailedPrecondition, match="cannot retry it"):
            task.requeue()
        assert task.attempts == 0

    @pytest.mark.parametrize("status", ["Created", "DataAssigned", "Approved"])
    def test_cancel_early_before_staging(self, status: str):
        task = task_in(status)
        assert task.cancel_early() is True
        assert task.status is TaskStatus.CANCELED
        assert task.result.err == REASON_CANCELED_EARLY == "Task canceled"

    @pytest.mark.parametrize("status", ["Staged", "Running"])
    def test_cancel_early_defers_staged_and_running_tasks_to_the_scheduler(self, status: str):
        task = task_in(status)
        before = snapshot(task)
        assert task.cancel_early() is False
        assert snapshot(task) == before

    @pytest.mark.parametrize("status", ["Finished", "Failed", "Canceled"])
    def test_cancel_early_of_an_ended_task_is_refused(self, status: str):
        task = task_in(status)
        with pytest.raises(FailedPrecondition, match=r"^failed to cancel task, reason: task has"):
            task.cancel_early()
        assert task.status.serde_name == status

    @pytest.mark.parametrize("status", ["Staged", "Running"])
    def test_cancel_by_scheduler(self, status: str):
        task = task_in(status)
        task.cancel_by_scheduler()
        assert task.status is TaskStatus.CANCELED
        assert task.result.err == REASON_CANCELED_BY_USER == "Task Canceled by the user"

    @pytest.mark.parametrize("status", ["Created", "Approved", "Finished", "Canceled"])
    def test_cancel_by_scheduler_elsewhere_is_refused(self, status: str):
        task = task_in(status)
        with pytest.raises(FailedPrecondition, match="cannot cancel it"):
            task.cancel_by_scheduler()


# ====================================================================== serde
def _created() -> TaskState:
    return two_party_task()


def _data_assigned() -> TaskState:
    task = two_party_task()
    assign_all(task)
    return task


def _approved() -> TaskState:
    task = _data_assigned()
    task.approve("alice")
    task.approve("bob")
    return task


def _staged() -> TaskState:
    task = _approved()
    task.stage("alice")
    return task


def _running() -> TaskState:
    task = _staged()
    task.start_running()
    return task


def _finished() -> TaskState:
    task = _running()
    task.complete(TaskResult.success(TaskOutputs(b"7", {"out": TAG_B}, ["[INFO x] hi"])))
    return task


def _failed() -> TaskState:
    task = _running()
    task.requeue()
    task.fail(REASON_EXECUTOR_TIMEOUT)
    return task


def _canceled() -> TaskState:
    task = _created()
    task.cancel_early()
    return task


BUILDERS: dict[str, Callable[[], TaskState]] = {
    "Created": _created,
    "DataAssigned": _data_assigned,
    "Approved": _approved,
    "Staged": _staged,
    "Running": _running,
    "Finished": _finished,
    "Failed": _failed,
    "Canceled": _canceled,
}


def task_in(status: str) -> TaskState:
    task = BUILDERS[status]()
    assert task.status.serde_name == status
    return task


@pytest.mark.parametrize("status", list(BUILDERS))
def test_task_round_trips_through_json_text_in_every_status(status: str):
    task = task_in(status)
    text = json.dumps(task.to_json())
    again = TaskState.from_json(json.loads(text))
    assert again == task
    assert again.to_json() == task.to_json()
    assert json.loads(text)["status"] == status


def test_task_serde_shape():
    task = _finished()
    value = json.loads(json.dumps(task.to_json()))
    assert value["task_id"] == str(task.task_id)
    assert value["creator"] == "alice"
    assert value["function_id"] == {"prefix": "function", "uuid": str(task.function_id.uuid)}
    assert value["function_arguments"] == {"inner": {}}
    assert value["executor"] == "MesaPy"
    assert value["inputs_ownership"] == {
        "inner": {"a": {"uids": ["alice"]}, "b": {"uids": ["bob"]}}
    }
    assert value["outputs_ownership"] == {"inner": {"out": {"uids": ["alice", "bob"]}}}
    assert value["function_owner"] == "fowner"
    assert value["participants"] == ["alice", "bob"]
    assert value["approved_users"] == ["alice", "bob"]
    assert set(value["assigned_inputs"]["inner"]) == {"a", "b"}
    assert value["assigned_outputs"]["inner"]["out"]["cmac"] == {"tag": list(TAG_B)}
    assert value["result"] == {
        "Ok": {
            "return_value": list(b"7"),
            "tags_map": {"inner": {"out": {"tag": list(TAG_B)}}},
            "log": ["[INFO x] hi"],
        }
    }
    assert value["status"] == "Finished"
    assert value["attempts"] == 0


def test_result_serde_shapes():
    assert TaskResult().to_json() == "NotReady"
    assert TaskResult.failure("boom").to_json() == {"Err": {"reason": "boom"}}
    for result in (
        TaskResult(),
        TaskResult.failure("boom"),
        TaskResult.success(TaskOutputs(b"", {}, [])),
        TaskResult.success(TaskOutputs(b"\x00\xff", {"x": TAG_A}, ["a", "b"])),
    ):
        assert TaskResult.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert TaskResult.from_json(None) == TaskResult()
    with pytest.raises(DecodeError):
        TaskResult.from_json({"Maybe": {}})
    with pytest.raises(DecodeError):
        TaskResult.from_json({"Err": {}})


@pytest.mark.parametrize(
    ("member", "number", "name"),
    [
        (TaskStatus.CREATED, 0, "Created"),
        (TaskStatus.DATA_ASSIGNED, 1, "DataAssigned"),
        (TaskStatus.APPROVED, 2, "Approved"),
        (TaskStatus.STAGED, 3, "Staged"),
        (TaskStatus.RUNNING, 4, "Running"),
        (TaskStatus.FINISHED, 10, "Finished"),
        (TaskStatus.CANCELED, 20, "Canceled"),
        (TaskStatus.FAILED, 99, "Failed"),
    ],
)
def test_status_wire_numbers_and_variant_names(member: TaskStatus, number: int, name: str):
    assert int(member) == number
    assert member.serde_name == name
    assert TaskStatus.from_serde(name) is member
    assert member.is_ended == (name in ("Finished", "Canceled", "Failed"))


def test_from_json_refuses_broken_records():
    value = _created().to_json()
    for key in ("task_id", "creator", "function_id", "status", "participants"):
        broken = copy.deepcopy(value)
        del broken[key]
        with pytest.raises(DecodeError, match=repr(key)):
            TaskState.from_json(broken)
    broken = copy.deepcopy(value)
    broken["status"] = "Done"
    with pytest.raises(DecodeError, match="Done"):
        TaskState.from_json(broken)


def test_attempts_default_to_zero_for_teaclave_records():
    value = _staged().to_json()
    del value["attempts"]
    assert TaskState.from_json(value).attempts == 0


def test_task_ids_are_distinct():
    assert len({solo_task().task_id for _ in range(50)}) == 50
    assert isinstance(solo_task().task_id, uuid.UUID)
