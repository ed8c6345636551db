"""Apache Teaclave 0.6 wire definitions and the Python code generated from them.

The ``*.proto`` files in this package are the single source of truth for every gRPC API:
proto packages, services, RPC names, messages, field numbers and enums follow Teaclave 0.6
exactly. The ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` modules are generated from
them by ``grpc_tools.protoc``; do not edit them by hand. After changing a ``.proto`` file,
run ``python scripts/gen_proto.py`` (``--check`` verifies the committed code is current).
"""
