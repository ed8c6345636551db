"""The execution service: a worker node. It has no gRPC server; it is a scheduler client.

``start_service`` starts the node loop (``node.ExecutionNode``) on a thread and returns it as
the service's only ``Stoppable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from teaclave.binder import Enclave
from teaclave.config import RuntimeConfig
from teaclave.config.build import EXECUTION
from teaclave.services.execution.node import ExecutionNode
from teaclave.services.launcher import Stoppable, service_identity
from teaclave.worker.file_agent import FileAgent
from teaclave.worker.protected_staging import ProtectedFileStager, default_work_dir
from teaclave.worker.task_runner import TaskRunner
from teaclave.worker.worker import Worker


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Start a worker node with a fresh executor id."""
    identity, verifier = service_identity(config, EXECUTION)
    cache_dir = config.executor.cache_dir or str(Path(config.state_dir) / "cache")
    executor_config = replace(config.executor, cache_dir=cache_dir)
    stager = ProtectedFileStager(
        FileAgent.from_config(config),
        default_work_dir(config.state_dir, config.file_agent.work_dir),
    )
    node = ExecutionNode(
        config, identity, verifier, TaskRunner(Worker.default(executor_config), stager)
    )
    node.start()
    return [node]
