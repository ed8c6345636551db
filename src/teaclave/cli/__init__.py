"""The ``teaclave`` command."""

import os

# gRPC core logs every refused TLS handshake at INFO on stderr; attestation refuses handshakes
# on purpose (fetching a peer's certificate without presenting one, unattested clients), so
# keep the command's output to errors unless the user asks for more.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
