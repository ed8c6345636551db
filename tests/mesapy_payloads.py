"""Teaclave's MesaPy payloads, shared by the Python executor's unit and functional tests."""

from __future__ import annotations

# Teaclave's examples/python/mesapy_echo_payload.py (verbatim, licence header dropped).
MESAPY_ECHO = """
def entrypoint(argv):
    assert argv[0] == 'message'
    assert argv[1] is not None
    return argv[1]
"""

# Teaclave's tests/functional mesapy_data_fusion.rs payload (verbatim).
DATA_FUSION = """
def readlines(fid):
    lines = None
    with teaclave_open(fid, "rb") as f:
        lines = f.readlines()
    return lines

def entrypoint(argv):
    outfile = "OutFusionData"
    infiles = ["InPartyA", "InPartyB"]
    cnt = 0
    with teaclave_open(outfile, "wb") as of:
        for fid in infiles:
            for line in readlines(fid):
                of.write(line)
                cnt += 1
    summary = "Mixed %d lines of data" % cnt
    return summary
"""

# Teaclave's deadloop payload.
DEADLOOP = "def entrypoint(argv):\n    while True:\n        pass\n"
