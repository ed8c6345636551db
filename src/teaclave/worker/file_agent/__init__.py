"""The file agent: moves (ciphertext) files between URLs and the execution worker's disk.

See ``agent.FileAgent`` for the schemes and guarantees; ``EgressDenied`` marks refusals by the
egress policy (non-public addresses, paths outside the configured roots).
"""

from teaclave.worker.file_agent.agent import FileAgent
from teaclave.worker.file_agent.errors import EgressDenied, FileAgentError

__all__ = ["EgressDenied", "FileAgent", "FileAgentError"]
