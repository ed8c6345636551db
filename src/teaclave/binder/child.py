"""``python -m teaclave.binder.child MODULE``: host one enclave in a child process.

Requests arrive on stdin as frames and are served concurrently (``StartService`` blocks until
``FinalizeEnclave``); replies go out on the original stdout, which is moved away from fd 1 so
that stray prints cannot corrupt the protocol. End of stdin finalizes the enclave.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
from typing import BinaryIO

from teaclave.binder.commands import ECallCommand
from teaclave.binder.enclave import Enclave, dispatch
from teaclave.binder.framing import read_frame, write_frame


def main(argv: list[str] | None = None) -> int:
    """Serve enclave requests until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    module = args[0]
    logging.basicConfig(level=os.environ.get("TEACLAVE_LOG", "INFO").upper(), stream=sys.stderr)
    out_fd = os.dup(1)
    os.dup2(2, 1)
    replies: BinaryIO = os.fdopen(out_fd, "wb")
    requests: BinaryIO = sys.stdin.buffer
    importlib.import_module(module)
    enclave = Enclave(module)
    write_lock = threading.Lock()
    workers: list[threading.Thread] = []

    def serve(request_id: int, command: int, payload: bytes) -> None:
        result = dispatch(module, enclave, command, payload)
        with write_lock:
            write_frame(replies, request_id, 0, result)

    while True:
        frame = read_frame(requests)
        if frame is None:
            break
        thread = threading.Thread(target=serve, args=frame, daemon=True)
        thread.start()
        workers.append(thread)
    if not enclave.stop.is_set():
        dispatch(module, enclave, int(ECallCommand.FINALIZE_ENCLAVE), json.dumps({}).encode())
    for thread in workers:
        thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
