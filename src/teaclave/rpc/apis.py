"""The gRPC service descriptors of the Teaclave 0.6 API, by their Teaclave names."""

from __future__ import annotations

from google.protobuf.descriptor import ServiceDescriptor

from teaclave.proto import (
    teaclave_access_control_service_pb2,
    teaclave_authentication_service_pb2,
    teaclave_frontend_service_pb2,
    teaclave_management_service_pb2,
    teaclave_scheduler_service_pb2,
    teaclave_storage_service_pb2,
)

TeaclaveAuthenticationApi: ServiceDescriptor = (
    teaclave_authentication_service_pb2.DESCRIPTOR.services_by_name["TeaclaveAuthenticationApi"]
)
TeaclaveAuthenticationInternal: ServiceDescriptor = (
    teaclave_authentication_service_pb2.DESCRIPTOR.services_by_name[
        "TeaclaveAuthenticationInternal"
    ]
)
TeaclaveFrontend: ServiceDescriptor = teaclave_frontend_service_pb2.DESCRIPTOR.services_by_name[
    "TeaclaveFrontend"
]
TeaclaveManagement: ServiceDescriptor = teaclave_management_service_pb2.DESCRIPTOR.services_by_name[
    "TeaclaveManagement"
]
TeaclaveAccessControl: ServiceDescriptor = (
    teaclave_access_control_service_pb2.DESCRIPTOR.services_by_name["TeaclaveAccessControl"]
)
TeaclaveScheduler: ServiceDescriptor = teaclave_scheduler_service_pb2.DESCRIPTOR.services_by_name[
    "TeaclaveScheduler"
]
TeaclaveStorage: ServiceDescriptor = teaclave_storage_service_pb2.DESCRIPTOR.services_by_name[
    "TeaclaveStorage"
]
