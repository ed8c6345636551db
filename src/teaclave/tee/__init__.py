"""Attestation: TEE platforms, evidence, RA-TLS certificates, enclave_info, auditors, sealing.

Issuing (a service)::

    platform = get_platform(config.attestation.platform, config.state_dir)   # loud if absent
    ident = issue_attested_identity("teaclave_storage_service", platform, validity_secs=3600)
    # ident.cert_pem / ident.key_pem → TLS; renew before ident.renew_at()

Verifying (a client or a mutually attested server)::

    info = load_audited_enclave_info(path, signature_paths, auditor_key_paths, quorum=2)
    policy = VerificationPolicy.simulation(state_dir, info)            # or hardware roots
    peer = verify_peer_certificate(der, "teaclave_frontend_service", policy)
    # or, for an internal endpoint: verify_peer_certificate(der, INBOUND["storage"], policy)

Every refusal is an :class:`AttestationError` subclass from :mod:`teaclave.tee.errors`.
``sim`` evidence is labelled "simulation — no hardware protection" wherever it is shown.
This package does not import grpc.
"""

from teaclave.tee.dcap import (
    Collateral,
    CollateralSource,
    DcapVerdict,
    FileCollateral,
    PccsCollateral,
    check_quote,
    verify_quote,
)
from teaclave.tee.enclave_info import (
    AuditorKey,
    EnclaveIdentity,
    EnclaveInfo,
    generate_auditor_key,
    load_audited_enclave_info,
    load_auditor_key,
    sign_enclave_info,
    verify_auditor_signatures,
)
from teaclave.tee.errors import AttestationError
from teaclave.tee.evidence import SIM_NOTICE, EndorsedEvidence
from teaclave.tee.identity import AttestedIdentity, VerifiedIdentity, issue_attested_identity
from teaclave.tee.measurement import measure_service
from teaclave.tee.platforms import (
    ConfigfsTsmPlatform,
    GramineSgxPlatform,
    SimPlatform,
    TeePlatform,
    get_platform,
)
from teaclave.tee.policy import VerificationPolicy
from teaclave.tee.ratls import (
    EVIDENCE_OID,
    RaTlsCertificate,
    build_ratls_certificate,
    parse_ratls_certificate,
)
from teaclave.tee.sealing import Sealer, SealingKey
from teaclave.tee.verifier import (
    match_service,
    verify_certificate_evidence,
    verify_peer_certificate,
)

__all__ = [
    "EVIDENCE_OID",
    "SIM_NOTICE",
    "AttestationError",
    "AttestedIdentity",
    "AuditorKey",
    "Collateral",
    "CollateralSource",
    "ConfigfsTsmPlatform",
    "DcapVerdict",
    "EnclaveIdentity",
    "EnclaveInfo",
    "EndorsedEvidence",
    "FileCollateral",
    "GramineSgxPlatform",
    "PccsCollateral",
    "RaTlsCertificate",
    "Sealer",
    "SealingKey",
    "SimPlatform",
    "TeePlatform",
    "VerificationPolicy",
    "VerifiedIdentity",
    "build_ratls_certificate",
    "check_quote",
    "generate_auditor_key",
    "get_platform",
    "issue_attested_identity",
    "load_audited_enclave_info",
    "load_auditor_key",
    "match_service",
    "measure_service",
    "parse_ratls_certificate",
    "sign_enclave_info",
    "verify_auditor_signatures",
    "verify_certificate_evidence",
    "verify_peer_certificate",
    "verify_quote",
]
