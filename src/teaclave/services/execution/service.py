"""The execution service: a worker node. It has no gRPC server; it is a scheduler client.

``start_service`` starts the node loop (``node.ExecutionNode``) on a thread and returns it as
the service's only ``Stoppable``.
"""

from __future__ import annotations

from collections.abc import Sequence

from teaclave.binder import Enclave
from teaclave.config import RuntimeConfig
from teaclave.config.build import EXECUTION
from teaclave.services.execution.node import ExecutionNode
from teaclave.services.launcher import Stoppable, service_identity


def start_service(config: RuntimeConfig, enclave: Enclave) -> Sequence[Stoppable]:
    """Start a worker node with a fresh executor id."""
    identity, verifier = service_identity(config, EXECUTION)
    node = ExecutionNode(config, identity, verifier)
    node.start()
    return [node]
