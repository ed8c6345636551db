"""``@teaclave_service``: turn a plain class into the gRPC servicer of a Teaclave API.

Each RPC ``FooBar`` of the proto service is served by the method ``foo_bar(request, ctx)`` of
the class. The decorator refuses classes that miss an RPC (at definition time, so a service
cannot start half-implemented), maps ``TeaclaveError`` (and the service's own ``error`` class)
to gRPC status codes, and hides unexpected exceptions behind INTERNAL "service internal error"
while logging them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from teaclave.rpc.context import CallContext
from teaclave.rpc.errors import to_grpc_code
from teaclave.types.errors import TeaclaveError

log = logging.getLogger(__name__)

T = TypeVar("T")

INTERNAL_MESSAGE = "service internal error"


def snake_case(rpc_name: str) -> str:
    """``UserLogin`` → ``user_login`` (the method name a service class implements)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", rpc_name).lower()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What the decorator recorded: enclave name, API descriptor and error class."""

    name: str
    api: ServiceDescriptor
    error: type[TeaclaveError]

    @property
    def full_name(self) -> str:
        """Proto full name, e.g. ``teaclave_storage_service_proto.TeaclaveStorage``."""
        return str(self.api.full_name)


def teaclave_service(
    name: str, api: ServiceDescriptor, error: type[TeaclaveError] = TeaclaveError
) -> Callable[[type[T]], type[T]]:
    """Class decorator declaring that the class implements ``api`` as service ``name``."""

    def wrap(cls: type[T]) -> type[T]:
        missing = [
            m.name for m in api.methods if not callable(getattr(cls, snake_case(m.name), None))
        ]
        if missing:
            wanted = ", ".join(f"{snake_case(m)} ({m})" for m in missing)
            raise TypeError(f"{cls.__name__} does not implement {api.full_name}: missing {wanted}")
        cls.__teaclave_service__ = ServiceSpec(name, api, error)  # type: ignore[attr-defined]
        return cls

    return wrap


def service_spec(instance: object) -> ServiceSpec:
    """The ``ServiceSpec`` of a decorated service instance."""
    spec = getattr(type(instance), "__teaclave_service__", None)
    if not isinstance(spec, ServiceSpec):
        raise TypeError(f"{type(instance).__name__} is not decorated with @teaclave_service")
    return spec


def message_class(descriptor: Any) -> type[Message]:
    """The generated message class for a message descriptor."""
    return message_factory.GetMessageClass(descriptor)


PeerCheck = Callable[[CallContext, str], None]


def _make_handler(
    spec: ServiceSpec,
    method: MethodDescriptor,
    impl: Callable[[Any, CallContext], Any],
    identity_of: Callable[[grpc.ServicerContext], str | None],
    peer_check: PeerCheck | None,
) -> grpc.RpcMethodHandler:
    request_cls = message_class(method.input_type)
    response_cls = message_class(method.output_type)
    rpc = f"{spec.full_name}/{method.name}"

    def handle(request: Message, context: grpc.ServicerContext) -> Message:
        ctx = CallContext(
            metadata={k: v for k, v in context.invocation_metadata() if isinstance(v, str)},
            peer=context.peer(),
            peer_identity=identity_of(context),
            grpc_context=context,
        )
        try:
            if peer_check is not None:
                peer_check(ctx, method.name)
            response = impl(request, ctx)
        except TeaclaveError as exc:
            context.abort(to_grpc_code(exc.code), exc.message)
        except Exception:
            log.exception("%s failed", rpc)
            context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
        if not isinstance(response, response_cls):
            log.error("%s returned %s, expected %s", rpc, type(response), response_cls)
            context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
        result: Message = response
        return result

    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=request_cls.FromString,
        response_serializer=response_cls.SerializeToString,
    )


def generic_handler(
    instance: object,
    identity_of: Callable[[grpc.ServicerContext], str | None],
    peer_check: PeerCheck | None = None,
) -> grpc.GenericRpcHandler:
    """Build the grpc handler that dispatches every RPC of ``instance``'s API to it."""
    spec = service_spec(instance)
    handlers = {
        m.name: _make_handler(
            spec, m, getattr(instance, snake_case(m.name)), identity_of, peer_check
        )
        for m in spec.api.methods
    }
    return grpc.method_handlers_generic_handler(spec.full_name, handlers)
