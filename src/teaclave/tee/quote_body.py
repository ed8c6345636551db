"""The 432-byte SGX quote body (``spec/security.md`` §1.5): header (48) + enclave report (384).

Little-endian integers. Offsets::

      0   2  version (1/2 = EPID, 3 = ECDSA)       96  16  attributes (flags u64, xfrm u64)
      2   2  sig type / attestation key type      112  32  MRENCLAVE
      4   4  EPID group id                        176  32  MRSIGNER
      8   2  QE ISV SVN                           304   2  ISV_PROD_ID
     10   2  PCE ISV SVN                          306   2  ISV_SVN
     12  16  QE vendor id                         368  64  report_data
     28  20  user data
     48  16  cpu_svn, 64 4 misc_select (reserved bytes elsewhere are zero)

``flags`` bit 1 (0x2) is DEBUG. Used by the ``sim`` platform (which emits this exact layout)
and by Teaclave's AS reports (``isvEnclaveQuoteBody``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from teaclave.tee.errors import EvidenceFormatError

__all__ = [
    "ATTRIBUTE_DEBUG",
    "ATTRIBUTE_INIT",
    "ATTRIBUTE_MODE64BIT",
    "QUOTE_BODY_SIZE",
    "QuoteBody",
]

QUOTE_BODY_SIZE = 432
ATTRIBUTE_INIT = 0x1
ATTRIBUTE_DEBUG = 0x2
ATTRIBUTE_MODE64BIT = 0x4

_HEADER = struct.Struct("<HHIHH16s20s")  # 48 bytes
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class QuoteBody:
    """A parsed (not verified) 432-byte quote body."""

    version: int
    key_type: int
    epid_group_id: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes
    cpu_svn: bytes
    misc_select: int
    attribute_flags: int
    xfrm: int
    mr_enclave: bytes
    mr_signer: bytes
    isv_prod_id: int
    isv_svn: int
    report_data: bytes

    @property
    def debug(self) -> bool:
        """Whether the enclave's DEBUG attribute is set."""
        return bool(self.attribute_flags & ATTRIBUTE_DEBUG)

    @classmethod
    def parse(cls, body: bytes) -> QuoteBody:
        """Parse exactly 432 bytes; checks version and key/signature type like Teaclave."""
        if len(body) != QUOTE_BODY_SIZE:
            raise EvidenceFormatError(
                f"quote body: must be exactly {QUOTE_BODY_SIZE} bytes, got {len(body)}"
            )
        version, key_type, gid, qe_svn, pce_svn, vendor, user = _HEADER.unpack_from(body, 0)
        if version not in (1, 2, 3):
            raise EvidenceFormatError(f"quote body: version {version} is not 1, 2 or 3")
        allowed = (2, 3) if version == 3 else (0, 1)
        if key_type not in allowed:
            what = "attestation key type" if version == 3 else "EPID signature type"
            raise EvidenceFormatError(f"quote body: {what} {key_type} is not one of {allowed}")
        return cls(
            version=version,
            key_type=key_type,
            epid_group_id=gid,
            qe_svn=qe_svn,
            pce_svn=pce_svn,
            qe_vendor_id=vendor,
            user_data=user,
            cpu_svn=body[48:64],
            misc_select=_U32.unpack_from(body, 64)[0],
            attribute_flags=_U64.unpack_from(body, 96)[0],
            xfrm=_U64.unpack_from(body, 104)[0],
            mr_enclave=body[112:144],
            mr_signer=body[176:208],
            isv_prod_id=_U16.unpack_from(body, 304)[0],
            isv_svn=_U16.unpack_from(body, 306)[0],
            report_data=body[368:432],
        )

    def pack(self) -> bytes:
        """Serialize to the 432-byte layout (reserved fields zero)."""
        for name, value, size in (
            ("qe_vendor_id", self.qe_vendor_id, 16),
            ("user_data", self.user_data, 20),
            ("cpu_svn", self.cpu_svn, 16),
            ("mr_enclave", self.mr_enclave, 32),
            ("mr_signer", self.mr_signer, 32),
            ("report_data", self.report_data, 64),
        ):
            if len(value) != size:
                raise ValueError(f"quote body {name}: must be {size} bytes, got {len(value)}")
        out = bytearray(QUOTE_BODY_SIZE)
        _HEADER.pack_into(
            out,
            0,
            self.version,
            self.key_type,
            self.epid_group_id,
            self.qe_svn,
            self.pce_svn,
            self.qe_vendor_id,
            self.user_data,
        )
        out[48:64] = self.cpu_svn
        _U32.pack_into(out, 64, self.misc_select)
        _U64.pack_into(out, 96, self.attribute_flags)
        _U64.pack_into(out, 104, self.xfrm)
        out[112:144] = self.mr_enclave
        out[176:208] = self.mr_signer
        _U16.pack_into(out, 304, self.isv_prod_id)
        _U16.pack_into(out, 306, self.isv_svn)
        out[368:432] = self.report_data
        return bytes(out)
