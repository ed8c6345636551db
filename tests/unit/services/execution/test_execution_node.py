"""``ExecutionNode`` on its own: prompt stop, outages, identity."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from scheduler_harness import Platform, wait_for

from teaclave.config.build import EXECUTION, SCHEDULER, STORAGE
from teaclave.rpc.clients.scheduler import ExecutorStatus
from teaclave.services.execution.node import ExecutionNode
from teaclave.services.launcher import service_identity
from teaclave.types.task import TaskStatus


@pytest.fixture
def nodes() -> Iterator[list[ExecutionNode]]:
    started: list[ExecutionNode] = []
    yield started
    for node in started:
        node.stop(0)


def new_node(platform: Platform, nodes: list[ExecutionNode]) -> ExecutionNode:
    identity, verifier = service_identity(platform.config, EXECUTION)
    node = ExecutionNode(platform.config, identity, verifier)
    nodes.append(node)
    node.start()
    return node


def test_stop_is_prompt_while_the_heartbeat_is_held(
    make_platform: Callable[..., Platform], nodes: list[ExecutionNode]
) -> None:
    platform = make_platform(heartbeat_wait_secs=5.0, executor_timeout_secs=10.0)
    platform.start_core()
    node = new_node(platform, nodes)
    staged = platform.stage({"message": "one"})
    platform.wait_status(staged.task_id, TaskStatus.FINISHED)
    time.sleep(0.3)  # now idle, its heartbeat held for up to 5 s
    node.stop(0)  # joins for at most 1 s
    assert not node.is_alive()


def test_stop_is_prompt_while_the_scheduler_is_unreachable(
    make_platform: Callable[..., Platform], nodes: list[ExecutionNode]
) -> None:
    platform = make_platform()
    node = new_node(platform, nodes)
    time.sleep(0.5)
    assert node.is_alive()
    node.stop(0)
    assert not node.is_alive()


def test_each_node_has_its_own_executor_id(
    make_platform: Callable[..., Platform], nodes: list[ExecutionNode]
) -> None:
    platform = make_platform()
    first = new_node(platform, nodes)
    second = new_node(platform, nodes)
    assert first.executor_id != second.executor_id
    assert first.status is ExecutorStatus.IDLE


def test_node_runs_tasks_after_the_platform_comes_up(
    make_platform: Callable[..., Platform], nodes: list[ExecutionNode]
) -> None:
    platform = make_platform()
    node = new_node(platform, nodes)
    time.sleep(0.3)
    platform.start(STORAGE)
    platform.start(SCHEDULER)
    staged = platform.stage({"message": "eventually"})
    task = platform.wait_status(staged.task_id, TaskStatus.FINISHED, timeout=15)
    assert task.result.ok is not None and task.result.ok.return_value == b"eventually"
    wait_for(lambda: node.status is ExecutorStatus.IDLE, what="the node to be idle")
