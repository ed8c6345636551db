"""TCB statuses: the names the allow-list uses and how other vocabularies map onto them.

The canonical names are Intel's TCB-info statuses as dcap-qvl reports them. Teaclave's AS
reports use IAS strings (``OK``, ``SW_HARDENING_NEEDED``, ...); they are normalised here. Statuses
meaning the quote is invalid or revoked map to ``Revoked`` or ``Invalid``, which no policy may
allow (Teaclave's ``universal_quote_verifier`` accepted them: ``spec/security.md`` §1.10).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEFAULT_TCB_ALLOW",
    "NEVER_ALLOWED",
    "TCB_STATUSES",
    "normalize_ias_status",
]

TCB_STATUSES: Final = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
        "Invalid",
    }
)
NEVER_ALLOWED: Final = frozenset({"Revoked", "Invalid"})
DEFAULT_TCB_ALLOW: Final = frozenset({"UpToDate"})

_IAS: Final[dict[str, str]] = {
    "OK": "UpToDate",
    "SW_HARDENING_NEEDED": "SWHardeningNeeded",
    "CONFIGURATION_NEEDED": "ConfigurationNeeded",
    "CONFIGURATION_AND_SW_HARDENING_NEEDED": "ConfigurationAndSWHardeningNeeded",
    "OUT_OF_DATE": "OutOfDate",
    "GROUP_OUT_OF_DATE": "OutOfDate",
    "OUT_OF_DATE_CONFIGURATION_NEEDED": "OutOfDateConfigurationNeeded",
    "KEY_REVOKED": "Revoked",
    "GROUP_REVOKED": "Revoked",
    "SIGNATURE_REVOKED": "Revoked",
    "SIGNATURE_INVALID": "Invalid",
    "UNSPECIFIED": "Invalid",
}


def normalize_ias_status(status: str) -> str:
    """Map an IAS/Teaclave-AS ``isvEnclaveQuoteStatus`` to a TCB status; unknown → ``Invalid``."""
    return _IAS.get(status, "Invalid")
