"""Certificates: issue (one, or in bulk), read, list, prove (a bundle, a W3C credential), publish, revoke and
substitute."""

from __future__ import annotations

import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Path, Query, Response

from registry.api.bodies import BulkSubmissions, RevocationBody, SubmissionBody, openapi_bodies
from registry.api.deps import (
    MAX_CURSOR,
    CoreDep,
    DigestPath,
    LabIdPath,
    MaybePrincipalDep,
    PrincipalDep,
    SettingsDep,
    check_hex32,
    check_text,
)
from registry.api.errors import documented
from registry.api.schemas import AcceptedOut, BulkOut, CertificateList, CertificateOut, OperationOut
from registry.errors import RegistryError, SignatureRejected
from registry.issuance import Accepted, Submission, accept, accept_many
from registry.lifecycle import publish, request_revocation, request_substitution
from registry.reads import bundle, certificate_view, find_by_number, list_certificates
from tracecert.certificate.bundle import parse_bundle
from tracecert.certificate.vc import build_credential
from tracecert.fast_json import dumps

__all__ = ["router"]

router = APIRouter(tags=["certificates"])

_BODIES = openapi_bodies()
_ACCEPTED: dict[int, dict[str, Any]] = {
    201: {"model": AcceptedOut, "description": "Accepted now, or queued again after it failed (status pending)"},
    200: {"model": AcceptedOut, "description": "Already accepted before (idempotent retry)"},
}
_WRITE = (400, 401, 403, 409, 413, 415, 422, 503)


def _accepted(result: Accepted, response: Response) -> dict[str, Any]:
    response.status_code = 201 if result.created or result.requeued else 200
    return result.to_dict()


@router.post(
    "/v1/certificates",
    status_code=201,
    response_model=None,
    responses=documented(_ACCEPTED, *_WRITE),
    openapi_extra=_BODIES["certificate"],
    summary="Issue a certificate",
)
def issue_certificate(
    principal: PrincipalDep, submission: SubmissionBody, core: CoreDep, response: Response
) -> dict[str, Any]:
    """Accept one certificate (JSON, or multipart with the original document). Signed by the lab
    (``signature``) or, without it, by the registry with the lab's held key. Anchoring follows asynchronously.
    ``public: true`` publishes it (anyone may download its bundle), also when it was accepted before."""
    return _accepted(accept(core, principal, submission), response)


@router.post(
    "/v1/certificates/bulk",
    response_model=None,
    responses=documented(
        {200: {"model": BulkOut, "description": "One result per item, in order"}}, 400, 401, 403, 413, 415, 422, 503
    ),
    openapi_extra=_BODIES["bulk"],
    summary="Issue certificates in bulk",
)
def issue_bulk(principal: PrincipalDep, items: BulkSubmissions, core: CoreDep) -> Response:
    """Accept up to ``bulk_max`` certificates; each is accepted or refused on its own (a refused item never
    stops the others), except when the chain cannot be asked: then nothing is accepted and the whole request is
    refused (503 CHAIN_UNAVAILABLE with Retry-After). Retrying the same bulk is safe: accepted items come back as
    existing (failed ones as requeued)."""
    submissions: list[Submission] = [item for item in items if isinstance(item, Submission)]
    outcomes = iter(accept_many(core, principal, submissions) if submissions else [])
    results: list[dict[str, Any]] = []
    counts = {"accepted": 0, "existing": 0, "rejected": 0, "requeued": 0}
    for index, item in enumerate(items):
        outcome: Accepted | RegistryError = item if isinstance(item, RegistryError) else next(outcomes)
        if isinstance(outcome, RegistryError):
            counts["rejected"] += 1
            results.append({"index": index, "ok": False, "error": outcome.to_dict()})
        else:
            counts["accepted" if outcome.created else "requeued" if outcome.requeued else "existing"] += 1
            results.append({"index": index, "ok": True, **outcome.to_dict()})
    # Written at once by the fast encoder: FastAPI's jsonable_encoder walked the 1,000 results in Python, 62 µs
    # per certificate (a fifth of accepting it). Everything here is JSON already, as error bodies are.
    return Response(dumps({**counts, "results": results}), media_type="application/json")


@router.get(
    "/v1/certificates",
    response_model=None,
    responses=documented({200: {"model": CertificateList, "description": "A page of summaries"}}, 401, 422),
    summary="List certificates",
)
def list_(
    core: CoreDep,
    principal: MaybePrincipalDep,
    lab_id: Annotated[str | None, Query(description="0x + 64 hex")] = None,
    status: Annotated[str | None, Query(description="pending, anchored or failed")] = None,
    number: Annotated[str | None, Query(description="Certificate number")] = None,
    serial_number: Annotated[str | None, Query(description="Instrument serial number")] = None,
    document_sha256: Annotated[
        str | None, Query(description="0x + 64 hex: SHA-256 of the original document (PDF, DCC XML) a record binds")
    ] = None,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_CURSOR, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(description="1..1000")] = 100,
) -> dict[str, Any]:
    """Summaries (no customer data), oldest first, with cursor pagination. Without a token only published
    certificates are listed, except for an exact lookup (``document_sha256``, or ``lab_id`` with ``number``), which
    also finds private ones with their serial number withheld; a lab's token lists its own too, a regulator's those
    of the labs under it."""
    if lab_id is not None:
        check_hex32(lab_id, "lab_id", "INVALID_LAB_ID")
    check_text(number, "number")
    check_text(serial_number, "serial_number")
    if document_sha256 is not None:
        check_hex32(document_sha256, "document_sha256", "INVALID_DOCUMENT_SHA256")
    return list_certificates(
        core,
        principal,
        lab_id=lab_id,
        status=status,
        number=number,
        serial_number=serial_number,
        document_sha256=document_sha256,
        cursor=cursor,
        limit=limit,
    )


_VIEW = documented({200: {"model": CertificateOut, "description": "The certificate"}}, 401, 404, 422, 503)


@router.get("/v1/certificates/{digest}", response_model=None, responses=_VIEW, summary="Read a certificate")
def read_certificate(digest: DigestPath, principal: MaybePrincipalDep, core: CoreDep) -> dict[str, Any]:
    """Status and public summary; the full record too for the issuing lab and regulators over it."""
    return certificate_view(core, principal, digest)


@router.get(
    "/v1/labs/{lab_id}/certificates/{number:path}",
    response_model=None,
    responses=_VIEW,
    summary="Read a certificate by its lab and number",
)
def read_by_number(
    lab_id: LabIdPath,
    number: Annotated[str, Path(description="Certificate number")],
    principal: MaybePrincipalDep,
    core: CoreDep,
) -> dict[str, Any]:
    """The certificate the lab issued under ``number``."""
    check_text(number, "number")
    return find_by_number(core, principal, lab_id, number)


@router.get(
    "/v1/certificates/{digest}/bundle",
    response_model=None,
    responses=documented(
        {200: {"description": "The proof bundle (tracecert-bundle/1, docs/bundle.md)"}}, 401, 403, 404, 422, 503
    ),
    summary="Download the proof bundle",
)
def read_bundle(principal: MaybePrincipalDep, digest: DigestPath, core: CoreDep) -> dict[str, Any]:
    """The proof bundle of an anchored certificate: for anyone, without a token, if its lab published it
    (``public``); otherwise for its lab and regulators over it (401 without a token). 404 NOT_ANCHORED while it
    is pending."""
    return bundle(core, principal, digest)


#: The response header that says whether and by which key a served credential is proved.
PROOF_HEADER = "TraceCert-Credential-Proof"


@router.get(
    "/v1/certificates/{digest}/vc",
    response_model=None,
    responses=documented(
        {200: {"description": "The certificate as a W3C Verifiable Credential 2.0 (docs/bundle.md)"}},
        401,
        403,
        404,
        422,
        503,
    ),
    summary="Download the certificate as a Verifiable Credential",
)
def read_credential(
    principal: MaybePrincipalDep, digest: DigestPath, core: CoreDep, response: Response
) -> dict[str, Any]:
    """The certificate as a W3C Verifiable Credential 2.0, to the same people as its proof bundle (and 404
    NOT_ANCHORED while it is pending): the record as ``credentialSubject``, the anchoring as ``evidence``, a
    ``credentialStatus`` the verifier answers from the chain. When this registry holds a signing key of the lab
    that is valid now, the credential is proved with it (``eddsa-jcs-2022``); otherwise it comes without a proof
    (its authenticity rests on the chain, and its ``description`` says so) and the lab can add one with
    ``tracecert vc export --key``. The ``TraceCert-Credential-Proof`` header names the proof's key, or ``none``."""
    found = parse_bundle(bundle(core, principal, digest))
    try:
        key = core.held_signing_key(found.record.lab.lab_id)
    except SignatureRejected:
        key = None
    credential = build_credential(found, key=key)
    response.headers[PROOF_HEADER] = (
        f"eddsa-jcs-2022; {credential['proof']['verificationMethod']}"
        if key is not None
        else "none; rests on the chain"
    )
    return credential


@router.post(
    "/v1/certificates/{digest}/publish",
    response_model=None,
    responses=documented(
        {200: {"model": CertificateOut, "description": "Published (now or before): the certificate"}},
        401,
        403,
        404,
        422,
        503,
    ),
    summary="Publish a certificate",
)
def publish_certificate(principal: PrincipalDep, digest: DigestPath, core: CoreDep) -> dict[str, Any]:
    """Publish a certificate (by its lab or a regulator over it), e.g. that of a reference standard others'
    certificates cite: anyone may then download its proof bundle. Idempotent and never undone; a pending
    certificate may be published before it is anchored."""
    return publish(core, principal, digest)


@router.get(
    "/v1/certificates/{digest}/qr.png",
    response_class=Response,
    responses=documented(
        {200: {"content": {"image/png": {}}, "description": "QR code of the verifier's page"}}, 404, 422
    ),
    summary="QR code for the verifier",
)
def read_qr(digest: DigestPath, core: CoreDep, settings: SettingsDep) -> Response:
    """A PNG QR code pointing at ``{verifier_url}/c/{digest}``, for printing on the certificate."""
    certificate_view(core, None, digest)  # 404 for a digest this registry never accepted
    out = io.BytesIO()
    segno.make(f"{settings.verifier_url.rstrip('/')}/c/{digest}", error="m").save(out, kind="png", scale=6, border=4)
    return Response(out.getvalue(), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


@router.post(
    "/v1/certificates/{digest}/revoke",
    status_code=202,
    response_model=None,
    responses=documented(
        {202: {"model": OperationOut, "description": "Accepted; the worker puts it on chain"}},
        400,
        401,
        403,
        404,
        409,
        413,
        415,
        422,
        503,
    ),
    openapi_extra=_BODIES["revoke"],
    summary="Revoke a certificate",
)
def revoke(principal: PrincipalDep, digest: DigestPath, body: RevocationBody, core: CoreDep) -> dict[str, Any]:
    """Revoke (by the issuing lab or a regulator over it) with a reason and an optional effective time."""
    return request_revocation(core, principal, digest, body.reason, body.effective_time)


@router.post(
    "/v1/certificates/{digest}/substitute",
    status_code=201,
    response_model=None,
    responses=documented(_ACCEPTED, 404, *_WRITE),
    openapi_extra=_BODIES["certificate"],
    summary="Substitute a certificate",
)
def substitute(
    principal: PrincipalDep, digest: DigestPath, submission: SubmissionBody, core: CoreDep, response: Response
) -> dict[str, Any]:
    """Issue a replacement whose ``record.replaces.certificate_digest`` is ``digest`` (422 SUBSTITUTE_MISMATCH
    otherwise); once it is anchored, the old one is marked substituted on chain."""
    return _accepted(request_substitution(core, principal, digest, submission), response)
