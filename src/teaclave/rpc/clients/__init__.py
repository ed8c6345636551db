"""Typed clients of the internal services, one module per service.

Each client wraps a ``ServiceClient`` on a verified channel (``teaclave.rpc.channel.connect``)
and speaks domain types, so services never handle raw stubs.
"""
