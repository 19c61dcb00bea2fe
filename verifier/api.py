"""The verifier's HTTP service: verification endpoints, the traceability tree, and the bilingual web page.

No authentication: anyone may verify a public certificate. Uploads (``POST /v1/verify``) are rate limited per
client address. The service takes any :class:`~tracecert.verification.chainview.ChainView` (a live node now, the
verifier's own index when configured) and any :class:`~tracecert.verification.sources.BundleSource`;
:func:`create_app` accepts a ready :class:`~tracecert.verification.engine.Verifier`, otherwise one is built from
:class:`VerifierSettings` on first use.

Endpoints::

    POST /v1/verify                                       a bundle, {"bundle"|"record", "as_of", "expected_kind"},
                                                          or multipart (file / bundle / document) → report
    GET  /v1/certificates/{digest}/verification           the bundle looked up in the sources → report
    GET  /v1/labs/{lab_id}/certificates/{number}/verification    lab id (0x…) or lab code (统一社会信用代码) → report
    GET  /v1/trace/{digest}                               the traceability tree
    GET  /v1/checks                                       the check catalog (codes, names, severities, zh/en)
    GET  /health                                          chain reachable?
    GET  /, /c/{digest}                                   the web page (a certificate's QR code points at /c/{digest})

A digest the verifier cannot find gives, on the verification endpoints, a 200 report with ``verdict: INVALID`` and
``unknown: true`` (a verification always answers with a report: unknown is an answer, never "valid"); on
``/v1/trace/{digest}`` it is 404 NOT_FOUND (there is no tree to draw).

Every error is ``{"error": {"code", "message"}}``; clients act on ``code``. The base and the generic HTTP leaves
(marked *) are :mod:`tracecert.service_errors`' (shared with the registry); the tree::

    ServiceError*                      500 INTERNAL_ERROR
    ├── MalformedBody*                 400 MALFORMED_JSON / MALFORMED_MULTIPART    (= MalformedRequest)
    ├── NotFound*                      404 NOT_FOUND
    ├── MethodNotAllowed*              405 METHOD_NOT_ALLOWED
    ├── PayloadTooLarge*               413 PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType*          415 UNSUPPORTED_MEDIA_TYPE
    ├── InvalidRequest (ValueError)    422 INVALID_REQUEST / INVALID_DIGEST / INVALID_LAB_ID / INVALID_AS_OF /
    │                                      INVALID_KIND   (a subclass of the shared InvalidRequest*)
    ├── RateLimited                    429 RATE_LIMITED (Retry-After)
    └── SetupError                     503 NO_RPC_URL / NO_DEPLOYMENT / UNTRUSTED_DEPLOYMENT / CHAIN_UNAVAILABLE
                                           (Retry-After); the CLI exits 2 on these
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from web3 import Web3

from tracecert import service_errors
from tracecert.certificate.canonical import MAX_JSON_DEPTH, parse_json
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.errors import CertificateError, JsonTooDeep
from tracecert.certificate.model import Kind
from tracecert.chain.client import ChainClient, revert_guard
from tracecert.chain.compile import load_artifact
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import Deployment, expected_runtime_code, find_deployment
from tracecert.chain.errors import ChainError, ChainUnavailable
from tracecert.service_errors import MalformedRequest as MalformedBody
from tracecert.service_errors import (
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
)
from tracecert.verification.chainview import ChainView, LiveChainView
from tracecert.verification.engine import Policy, Verifier
from tracecert.verification.report import Report, catalog
from tracecert.verification.sources import BundleSource, ChainedSource, DirectorySource, MemorySource, RegistrySource

__all__ = [
    "InvalidRequest",
    "MalformedBody",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceError",
    "SetupError",
    "TokenBucket",
    "UnsupportedMediaType",
    "VerificationInput",
    "VerifierService",
    "VerifierSettings",
    "build_sources",
    "build_verifier",
    "create_app",
    "input_from_file",
    "load_settings",
    "open_index",
    "parse_as_of",
    "parse_kind",
    "resolve_deployment",
    "sniff",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

STATIC_DIR = Path(__file__).parent / "static"
DIGEST_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
LAB_HEX_RE = re.compile(r"^0x[0-9a-fA-F]*$")
ZERO_ADDRESS = "0x" + "00" * 20
#: What a 503 tells the client to wait before retrying.
RETRY_AFTER_SECONDS = 5


# ---------------------------------------------------------------------------------------------------- errors


class InvalidRequest(service_errors.InvalidRequest, ValueError):
    """Well-formed, but not a request this endpoint can answer (bad digest, date, kind, shape).

    Also a ValueError: the parsers (:func:`parse_as_of`, ...) raise it where a ValueError is expected.
    """


class RateLimited(ServiceError):
    """Too many uploads from one client address; retry after ``retry_after`` seconds."""

    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SetupError(ServiceError):
    """The verifier cannot reach or trust a chain: no RPC URL, no deployment, an untrusted one, a silent node."""

    code = "CHAIN_UNAVAILABLE"
    http_status = 503


# ---------------------------------------------------------------------------------------------------- settings


def _split(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class VerifierSettings(BaseSettings):
    """Where the verifier finds the chain and documents, and its HTTP limits (env prefix ``TRACECERT_VERIFIER_``).

    ``rpc_url`` and ``data_dir`` fall back to the chain layer's ``TRACECERT_CHAIN_RPC_URL`` / ``TRACECERT_DATA_DIR``,
    and ``registry_urls`` to ``TRACECERT_REGISTRY_URL``, so a verifier started beside a registry finds both. Lists
    are comma-separated (or JSON) in the environment.
    """

    model_config = SettingsConfigDict(env_prefix="TRACECERT_VERIFIER_", extra="ignore", populate_by_name=True)

    rpc_url: str | None = Field(
        default=None, validation_alias=AliasChoices("TRACECERT_VERIFIER_RPC_URL", "TRACECERT_CHAIN_RPC_URL", "rpc_url")
    )
    data_dir: Path = Field(
        default=Path(".tracecert"),
        validation_alias=AliasChoices("TRACECERT_VERIFIER_DATA_DIR", "TRACECERT_DATA_DIR", "data_dir"),
    )
    #: The deployment file (default ``{data_dir}/deployment.json``).
    deployment_file: Path | None = None
    #: Without a deployment file: the CertificateRegistry address (its TrustRegistry is read from it).
    certificate_registry: str | None = None
    #: National authority addresses trusted as the root of a deployment; empty trusts the deployment file.
    trusted_authorities: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Registries (or mirrors) asked for bundles; never trusted, only a place to find documents.
    registry_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("TRACECERT_VERIFIER_REGISTRY_URLS", "TRACECERT_REGISTRY_URL", "registry_urls"),
    )
    registry_token: SecretStr | None = None
    #: A folder of ``*.json`` proof bundles (read when the verifier is built).
    bundles_dir: Path | None = None
    #: ``live`` asks the node for every check; ``index`` uses the verifier's own event index (verifier.index),
    #: kept up to date by a thread while the service runs.
    chain_view: Literal["live", "index"] = "live"
    #: The index's SQLite file (default ``{data_dir}/verifier-index.sqlite``) and seconds between its syncs.
    index_file: Path | None = None
    index_interval: float = Field(default=1.0, gt=0)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: Upload rate limit per client address: tokens refilled per minute, bucket size; 0 disables it.
    rate_limit_per_minute: float = Field(default=60.0, ge=0)
    rate_limit_burst: int = Field(default=20, ge=1)
    #: Take the client address from X-Forwarded-For (only behind a proxy you run).
    trust_forwarded_for: bool = False
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    #: Traceability thresholds.
    tur: float = Field(default=4.0, gt=0)
    max_depth: int = Field(default=12, ge=1)
    max_anchor_lag_days: int = Field(default=14, ge=0)
    rpc_timeout: float = Field(default=10.0, gt=0)
    #: Verifications run at once in one process (default: 2 on the index, 8 on the index with registry URLs, 16 on
    #: a live node). Verification is Python work under the GIL: threads beyond the cores only queue for it, and each
    #: release (a SQLite read, a signature check) then costs a hand-over. Round trips to a node or a registry are
    #: waiting, not work: more threads.
    #: To use more cores, run more worker processes (``tracecert verifier serve --workers``).
    verify_threads: int | None = Field(default=None, ge=1)

    @field_validator("trusted_authorities", "registry_urls", "cors_allow_origins", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("trusted_authorities")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not Web3.is_address(address):
                raise ValueError(f"not an address: {address!r}")
        return [Web3.to_checksum_address(a) for a in value]

    @property
    def index_path(self) -> Path:
        """The index's database file."""
        return self.index_file or self.data_dir / "verifier-index.sqlite"

    @property
    def deployment_path(self) -> Path:
        """The deployment file to read."""
        return self.deployment_file or self.data_dir / "deployment.json"

    def policy(self) -> Policy:
        """The engine's thresholds."""
        from decimal import Decimal

        return Policy(
            tur=Decimal(str(self.tur)), max_depth=self.max_depth, max_anchor_lag_days=self.max_anchor_lag_days
        )


def load_settings() -> VerifierSettings:
    """Settings from the environment (tests pass their own to :func:`create_app` instead)."""
    return VerifierSettings()


# ---------------------------------------------------------------------------------------------------- building


def resolve_deployment(
    client: ChainClient, settings: VerifierSettings, *, contract_hint: str | None = None
) -> Deployment:
    """Find the deployment to verify against and check that it is trusted.

    In order: the deployment file (explicit, or ``{data_dir}/deployment.json`` when it exists), then the
    CertificateRegistry address from the settings, then ``contract_hint`` (the contract a bundle names; the CLI's
    offline mode). Code at both addresses must be exactly the compiled contracts. With ``trusted_authorities``
    the deployment's root regulator (read on chain) must be one of them.

    Raises:
        SetupError: NO_DEPLOYMENT, UNTRUSTED_DEPLOYMENT, CHAIN_UNAVAILABLE.
    """
    try:
        if settings.deployment_file is not None or settings.deployment_path.exists():
            deployment = find_deployment(client, settings.deployment_path)
        elif address := settings.certificate_registry or contract_hint:
            deployment = _deployment_from_contract(client, address)
        else:
            raise SetupError(
                f"no deployment file at {settings.deployment_path} and no CertificateRegistry address "
                "(set TRACECERT_VERIFIER_DEPLOYMENT_FILE or TRACECERT_VERIFIER_CERTIFICATE_REGISTRY)",
                code="NO_DEPLOYMENT",
            )
        if settings.trusted_authorities:
            _require_trusted_root(client, deployment, settings.trusted_authorities)
    except ChainUnavailable as exc:
        raise SetupError(f"the chain node at {client.url} does not answer: {exc}", code="CHAIN_UNAVAILABLE") from exc
    except ChainError as exc:
        raise SetupError(str(exc), code="NO_DEPLOYMENT") from exc
    return deployment


def _deployment_from_contract(client: ChainClient, address: str) -> Deployment:
    if not Web3.is_address(address):
        raise SetupError(f"not a contract address: {address!r}", code="NO_DEPLOYMENT")
    certificates = client.contract("CertificateRegistry", address)
    if not client.code(address):
        raise SetupError(f"no contract at {address} on chain {client.chain_id}", code="NO_DEPLOYMENT")
    try:
        trust_address = Web3.to_checksum_address(client.call(certificates.functions.TRUST_REGISTRY()))
    except ChainError as exc:
        raise SetupError(f"{address} is not a CertificateRegistry: {exc}", code="NO_DEPLOYMENT") from exc
    trust_word = bytes(12) + bytes.fromhex(trust_address[2:])
    refs = load_artifact("CertificateRegistry").get("immutableReferences", {})
    if client.code(trust_address) != expected_runtime_code("TrustRegistry") or client.code(
        address
    ) != expected_runtime_code("CertificateRegistry", dict.fromkeys(refs, trust_word)):
        raise SetupError(f"the code at {address} is not TraceCert's contracts", code="NO_DEPLOYMENT")
    trust = client.contract("TrustRegistry", trust_address)
    logs = revert_guard(
        lambda: trust.events.RegulatorRegistered().get_logs(from_block=0, argument_filters={"parent": ZERO_ADDRESS}),
        what="eth_getLogs",
    )
    if not logs:
        raise SetupError(f"no national authority registered in {trust_address}", code="NO_DEPLOYMENT")
    return Deployment(
        chain_id=client.chain_id,
        trust_registry=trust_address,
        certificate_registry=Web3.to_checksum_address(address),
        national_authority=Web3.to_checksum_address(str(logs[0]["args"]["account"])),
        deployer="",
        block_number=int(logs[0]["blockNumber"]),
    )


def _require_trusted_root(client: ChainClient, deployment: Deployment, trusted: Sequence[str]) -> None:
    trust = client.contract("TrustRegistry", deployment.trust_registry)
    for address in trusted:
        jurisdiction, _active, exists, parent = client.call(trust.functions.regulator(address))
        # Only the constructor registers a regulator without a parent: that is the deployment's root of trust.
        if exists and jurisdiction == 0 and int(parent, 16) == 0:
            return
    raise SetupError(
        f"the deployment at {deployment.trust_registry} is not rooted at a trusted national authority "
        f"({', '.join(trusted)})",
        code="UNTRUSTED_DEPLOYMENT",
    )


def build_sources(settings: VerifierSettings, extra: Iterable[BundleSource] = ()) -> BundleSource:
    """The bundle sources: ``extra`` first, then the bundles folder, then each registry, asked in that order."""
    parts: list[BundleSource] = list(extra)
    if settings.bundles_dir is not None:
        if not settings.bundles_dir.is_dir():
            raise SetupError(f"the bundles folder {settings.bundles_dir} does not exist", code="NO_BUNDLES_DIR")
        parts.append(DirectorySource(settings.bundles_dir))
    token = settings.registry_token.get_secret_value() if settings.registry_token else None
    parts.extend(RegistrySource(url, token, timeout=settings.rpc_timeout) for url in settings.registry_urls)
    if not parts:
        return MemorySource()
    return parts[0] if len(parts) == 1 else ChainedSource(*parts)


def open_index(
    settings: VerifierSettings, client: ChainClient, deployment: Deployment, *, follow: bool = True
) -> tuple[ChainView, Callable[[], None]]:
    """The verifier's own index (:mod:`verifier.index`) as the chain view: caught up once, then (``follow``) kept
    up to date by a daemon thread. Returns the view and the function that stops the thread and closes the index.

    Raises:
        SetupError: NO_INDEX (not installed, or its file belongs to another deployment), CHAIN_UNAVAILABLE.
    """
    try:
        module = importlib.import_module("verifier.index")
    except ImportError as exc:
        raise SetupError("chain_view=index needs verifier.index, which is not installed", code="NO_INDEX") from exc
    try:
        index = module.Index(settings.index_path, client, deployment, mirrors=settings.registry_urls, catch_up=True)
    except ValueError as exc:  # IndexMismatch: the file was built for another chain or deployment
        raise SetupError(str(exc), code="NO_INDEX") from exc
    try:
        report = index.sync()
    except ChainUnavailable as exc:
        index.close()
        raise SetupError(f"the chain node does not answer: {exc}") from exc
    logger.info("index caught up: %s events in %s blocks (%.2f s)", report.events, report.blocks, report.elapsed)
    stop = threading.Event()
    thread = None
    if follow:

        def keep_following() -> None:
            # follow() retries node errors itself; anything else (a reorg deeper than the kept hashes, another
            # deployment) must not stop the thread silently.
            while not stop.is_set():
                try:
                    index.follow(stop, settings.index_interval)
                except Exception:
                    logger.exception("the verifier's index stopped following the chain; retrying in 30 s")
                    stop.wait(30)

        thread = threading.Thread(target=keep_following, name="verifier-index", daemon=True)
        thread.start()

    def close() -> None:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)
        index.close()

    view: ChainView = index
    return view, close


def build_verifier(
    settings: VerifierSettings,
    *,
    sources: Iterable[BundleSource] = (),
    contract_hint: str | None = None,
    chain: ChainView | None = None,
    closers: list[Callable[[], None]] | None = None,
) -> Verifier:
    """A :class:`Verifier` from the settings: a chain view over the resolved deployment (``live``, or the
    ``index``), and the sources from the settings asked after ``sources``.

    Args:
        chain: use this chain view instead of opening one.
        closers: receives what must be called to release the chain view (the index's follower thread).

    Raises:
        SetupError: no RPC URL, no (trusted) deployment, the node does not answer, no index.
    """
    if chain is None:
        if not settings.rpc_url:
            raise SetupError(
                "no chain RPC URL (set TRACECERT_VERIFIER_RPC_URL or TRACECERT_CHAIN_RPC_URL, or --rpc-url)",
                code="NO_RPC_URL",
            )
        client = ChainClient(settings.rpc_url, timeout=settings.rpc_timeout)
        deployment = resolve_deployment(client, settings, contract_hint=contract_hint)
        if settings.chain_view == "index":
            chain, close = open_index(settings, client, deployment)
            if closers is not None:
                closers.append(close)
        else:
            chain = LiveChainView(ChainContracts(client, deployment))
    return Verifier(chain, build_sources(settings, sources), settings.policy())


# ---------------------------------------------------------------------------------------------------- inputs


def parse_as_of(value: str | int | float | None, *, tz_hours: int = 8) -> int | None:
    """The moment to verify at, as a unix time; None (or ``now``) for the chain's current time.

    Accepts unix seconds, an ISO 8601 date (``2026-04-10``: the *end* of that day in China Standard Time, so
    "was it valid on that day" also catches a revocation during the day), or an ISO 8601 date-time (naive means
    UTC+8).

    Raises:
        InvalidRequest: INVALID_AS_OF.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "now")):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidRequest("as_of must be a date, a date-time or unix seconds", code="INVALID_AS_OF")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"as_of {value!r} is out of range", code="INVALID_AS_OF")
    if isinstance(value, int | float):
        seconds = int(value)
    else:
        text = value.strip()
        tz = dt.timezone(dt.timedelta(hours=tz_hours))
        try:
            if re.fullmatch(r"\d{1,12}", text):
                seconds = int(text)
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                day = dt.date.fromisoformat(text)
                seconds = int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()) + 86_399
            else:
                moment = dt.datetime.fromisoformat(text)
                seconds = int((moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp())
        except (ValueError, OverflowError) as exc:
            raise InvalidRequest(
                f"as_of {value!r} is not a date (YYYY-MM-DD), an ISO date-time or unix seconds", code="INVALID_AS_OF"
            ) from exc
    if not 0 <= seconds < 2**40:
        raise InvalidRequest(f"as_of {value!r} is out of range", code="INVALID_AS_OF")
    return seconds


def parse_kind(value: str | None) -> Kind | None:
    """An expected certificate kind (case-insensitive): verification, calibration, verification_fail_notice.

    Raises:
        InvalidRequest: INVALID_KIND.
    """
    if value is None or not str(value).strip():
        return None
    try:
        return Kind(str(value).strip().upper())
    except ValueError as exc:
        choices = ", ".join(k.value.lower() for k in Kind)
        raise InvalidRequest(f"expected_kind {value!r} is not one of {choices}", code="INVALID_KIND") from exc


def parse_digest(value: str) -> str:
    """A certificate digest, normalized to lower-case ``0x`` + 64 hex.

    Raises:
        InvalidRequest: INVALID_DIGEST.
    """
    text = value.strip()
    if not text.startswith("0x") and len(text) == 64:
        text = "0x" + text
    if not DIGEST_RE.match(text):
        raise InvalidRequest(f"{value!r} is not a certificate digest (0x + 64 hex digits)", code="INVALID_DIGEST")
    return text.lower()


def parse_lab(value: str) -> str:
    """A lab id (``0x`` + 64 hex), or a lab code such as a unified social credit code, as the lab id.

    Raises:
        InvalidRequest: INVALID_LAB_ID.
    """
    text = value.strip()
    if LAB_HEX_RE.match(text):
        if not DIGEST_RE.match(text):
            raise InvalidRequest(f"{value!r} is not a lab id (0x + 64 hex digits)", code="INVALID_LAB_ID")
        return text.lower()
    try:
        return "0x" + derive_lab_id(text).hex()
    except CertificateError as exc:
        raise InvalidRequest(f"{value!r} is not a lab id or lab code", code="INVALID_LAB_ID") from exc


FileKind = Literal["json", "pdf", "xml"]


def sniff(data: bytes) -> FileKind | None:
    """What a file is, from its first bytes: JSON (a bundle or record), PDF, XML (a DCC), or None."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return "json"
    if head.startswith(b"<"):
        return "xml"
    return None


def _is_bundle(obj: dict[str, Any]) -> bool:
    return "format" in obj or ("digest" in obj and ("anchor" in obj or "proof" in obj))


def _is_record(obj: dict[str, Any]) -> bool:
    return "certificate_number" in obj and "kind" in obj


@dataclass
class VerificationInput:
    """One thing to verify: a bundle (optionally with its document), a bare record, or a document alone."""

    bundle: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    document: bytes | None = None
    as_of: int | None = None
    expected_kind: Kind | None = None

    @property
    def kind(self) -> str:
        """bundle, record or document."""
        return "bundle" if self.bundle is not None else "record" if self.record is not None else "document"

    def run(self, verifier: Verifier) -> Report:
        """Verify it."""
        if self.bundle is not None:
            return verifier.verify_bundle(
                self.bundle, document=self.document, as_of=self.as_of, expected_kind=self.expected_kind
            )
        if self.record is not None:
            return verifier.verify_record(self.record, as_of=self.as_of, expected_kind=self.expected_kind)
        assert self.document is not None
        return verifier.verify_document(self.document, as_of=self.as_of, expected_kind=self.expected_kind)


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = parse_json(data)
    except JsonTooDeep as exc:
        raise MalformedBody(
            f"{what} is nested deeper than {MAX_JSON_DEPTH} levels", code=exc.code, details={"limit": MAX_JSON_DEPTH}
        ) from exc
    except CertificateError as exc:
        raise MalformedBody(f"{what} is not valid JSON: {exc.message}") from exc
    if not isinstance(obj, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    return obj


def input_from_file(data: bytes, *, name: str = "the file") -> VerificationInput:
    """Classify a file's content: a proof bundle or a record (JSON), or a document (PDF or DCC XML).

    Raises:
        MalformedBody: JSON that does not parse.
        UnsupportedMediaType: neither JSON, PDF nor XML.
        InvalidRequest: JSON that is not an object.
    """
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMediaType(f"{name} is neither a proof bundle (JSON), a PDF nor a DCC XML")
    if kind != "json":
        return VerificationInput(document=data)
    obj = _json_object(data, name)
    if _is_record(obj) and not _is_bundle(obj):
        return VerificationInput(record=obj)
    return VerificationInput(bundle=obj)


def input_from_json(
    obj: dict[str, Any], *, as_of: int | None = None, expected_kind: Kind | None = None
) -> VerificationInput:
    """A JSON body: a bundle itself, or ``{"bundle"|"record", "as_of"?, "expected_kind"?, "document_base64"?}``.

    Raises:
        InvalidRequest: neither shape, an unknown field, a bad date or kind.
    """
    if _is_bundle(obj):
        return VerificationInput(bundle=obj, as_of=as_of, expected_kind=expected_kind)
    allowed = {"bundle", "record", "as_of", "expected_kind", "document_base64"}
    unknown = sorted(set(obj) - allowed)
    if unknown or ("bundle" in obj) == ("record" in obj):
        raise InvalidRequest(
            'expected a proof bundle, {"bundle": …} or {"record": …}'
            + (f" (unknown field {', '.join(unknown)})" if unknown else "")
        )
    if "as_of" in obj:
        as_of = parse_as_of(obj["as_of"])
    if "expected_kind" in obj:
        expected_kind = parse_kind(obj["expected_kind"])
    document = None
    if "document_base64" in obj:
        try:
            document = base64.b64decode(str(obj["document_base64"]), validate=True)
        except ValueError as exc:
            raise InvalidRequest("document_base64 is not base64") from exc
    target = obj.get("bundle", obj.get("record"))
    if not isinstance(target, dict):
        raise InvalidRequest(f"{'bundle' if 'bundle' in obj else 'record'} must be a JSON object")
    if "bundle" in obj:
        return VerificationInput(bundle=target, document=document, as_of=as_of, expected_kind=expected_kind)
    if document is not None:
        raise InvalidRequest("a document can only be checked together with its proof bundle")
    return VerificationInput(record=target, as_of=as_of, expected_kind=expected_kind)


async def input_from_form(
    headers: Headers, body: bytes, *, as_of: int | None, expected_kind: Kind | None
) -> VerificationInput:
    """A multipart body: ``file`` part(s) (a bundle and/or a document, told apart by content), or ``bundle`` and
    ``document`` parts; optional ``as_of`` and ``expected_kind`` fields.

    Raises:
        MalformedBody: MALFORMED_MULTIPART, or a bundle that is not JSON.
        UnsupportedMediaType: a file that is neither JSON, PDF nor XML.
        InvalidRequest: no file, too many, an unknown field.
    """

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    try:
        form = await MultiPartParser(headers, stream(), max_files=4, max_fields=8).parse()
    except MultiPartException as exc:
        raise MalformedBody(f"the multipart body cannot be read: {exc.message}", code="MALFORMED_MULTIPART") from exc
    found = VerificationInput(as_of=as_of, expected_kind=expected_kind)
    try:
        for name, value in form.multi_items():
            if name in ("as_of", "expected_kind"):
                if not isinstance(value, str):
                    raise InvalidRequest(f"{name} must be a form field, not a file")
                if name == "as_of":
                    found.as_of = parse_as_of(value)
                else:
                    found.expected_kind = parse_kind(value)
                continue
            if name not in ("file", "bundle", "document"):
                raise InvalidRequest(f"unknown form field {name!r} (file, bundle, document, as_of, expected_kind)")
            data = await value.read() if isinstance(value, UploadFile) else value.encode("utf-8")
            label = value.filename if isinstance(value, UploadFile) and value.filename else name
            if name == "bundle":
                part = VerificationInput(bundle=_json_object(data, label))
            else:
                part = input_from_file(data, name=label)
                if name == "document" and part.document is None:
                    raise UnsupportedMediaType(f"{label}: the document must be a PDF or a DCC XML")
            taken = found.document is not None if part.document is not None else found.kind != "document"
            if taken:
                raise InvalidRequest("send at most one proof bundle (or record) and one document")
            found.bundle = part.bundle if part.bundle is not None else found.bundle
            found.record = part.record if part.record is not None else found.record
            found.document = part.document if part.document is not None else found.document
    finally:
        await form.close()
    if found.bundle is None and found.record is None and found.document is None:
        raise InvalidRequest("no file: send a proof bundle, a PDF or a DCC XML in a 'file' part")
    if found.record is not None and found.document is not None:
        raise InvalidRequest("a document can only be checked together with its proof bundle")
    return found


# ---------------------------------------------------------------------------------------------------- rate limit


class TokenBucket:
    """A token bucket per key (client address): ``burst`` tokens, refilled at ``per_minute``; the least recently
    seen keys are forgotten beyond ``max_keys``. Thread-safe."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0 when allowed, else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


# ---------------------------------------------------------------------------------------------------- service


class VerifierService:
    """What the routes share: the settings, the verifier (given, or built on first use), the upload limiter."""

    def __init__(self, settings: VerifierSettings, verifier: Verifier | None = None) -> None:
        self.settings = settings
        self._verifier = verifier
        self._lock = threading.Lock()
        self._failed_at = 0.0
        self._last_error: SetupError | None = None
        self._closers: list[Callable[[], None]] = []
        self.limiter = TokenBucket(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self._threads: anyio.CapacityLimiter | None = None
        self._threads_settled = False

    def verify_threads(self) -> int:
        """How many verifications may run at once: the setting, else by the chain view and the sources (2 on the
        index with local sources, 8 on the index when registries are asked over the network, 16 on a live node;
        16 too while the chain view is not known yet)."""
        if self.settings.verify_threads is not None:
            return self.settings.verify_threads
        if self._verifier is None or isinstance(self._verifier.chain, LiveChainView):
            return 16
        return 8 if self.settings.registry_urls else 2

    def _thread_limiter(self) -> anyio.CapacityLimiter:
        # One limiter for the process (created in the event loop), resized once the chain view is known.
        if self._threads is None:
            self._threads = anyio.CapacityLimiter(self.verify_threads())
        if not self._threads_settled and (self._verifier is not None or self.settings.verify_threads is not None):
            self._threads.total_tokens = self.verify_threads()
            self._threads_settled = True
        return self._threads

    async def run(self, work: Callable[[], T]) -> T:
        """Run blocking verification work in a worker thread, at most :meth:`verify_threads` at once."""
        return await anyio.to_thread.run_sync(work, limiter=self._thread_limiter())

    def verifier(self) -> Verifier:
        """The verifier; built from the settings on first use (a failure is retried after a few seconds).

        Raises:
            SetupError: the chain or the deployment cannot be used.
        """
        if self._verifier is not None:
            return self._verifier
        with self._lock:
            if self._verifier is None:
                if self._last_error is not None and time.monotonic() - self._failed_at < RETRY_AFTER_SECONDS:
                    raise self._last_error
                try:
                    self._verifier = build_verifier(self.settings, closers=self._closers)
                except SetupError as exc:
                    self._last_error, self._failed_at = exc, time.monotonic()
                    raise
                logger.info("verifier ready: %s over %s", type(self._verifier.chain).__name__, self.settings.rpc_url)
            return self._verifier

    def close(self) -> None:
        """Release what the service opened (the index's follower thread)."""
        while self._closers:
            self._closers.pop()()

    def client_address(self, request: Request) -> str:
        """The address the rate limit counts against."""
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for", "")
            if forwarded.strip():
                return forwarded.split(",")[0].strip()
        return request.client.host if request.client else "unknown"

    def limit_upload(self, request: Request) -> None:
        """Count an upload against its client.

        Raises:
            RateLimited: the client's bucket is empty.
        """
        wait = self.limiter.take(self.client_address(request))
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise RateLimited(f"too many uploads from this address; retry in {seconds} s", retry_after=seconds)


def _unknown_report(verifier: Verifier, digest: str, as_of: int | None, what: str) -> Report:
    report = Report(digest, as_of if as_of is not None else verifier.chain.now(), unknown=True)
    report.add("ANCHORED", False, what)
    return report


def _report_response(report: Report) -> JSONResponse:
    return JSONResponse(report.to_dict(), headers={"Cache-Control": "no-store"})


def _error_response(exc: ServiceError) -> JSONResponse:
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, SetupError):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse(exc.to_body(), status_code=exc.http_status, headers=headers)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _SecurityHeaders:
    """Pure ASGI middleware: no framing, no sniffing, no referrer; the page loads only its own files."""

    CSP = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", self.CSP.encode()),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


_ERRORS_DOC: dict[int | str, dict[str, Any]] = {
    400: {"description": "MALFORMED_JSON, MALFORMED_MULTIPART"},
    413: {"description": "PAYLOAD_TOO_LARGE"},
    415: {"description": "UNSUPPORTED_MEDIA_TYPE"},
    422: {"description": "INVALID_REQUEST, INVALID_DIGEST, INVALID_LAB_ID, INVALID_AS_OF, INVALID_KIND"},
    429: {"description": "RATE_LIMITED (Retry-After)"},
    503: {"description": "NO_RPC_URL, NO_DEPLOYMENT, UNTRUSTED_DEPLOYMENT, CHAIN_UNAVAILABLE (Retry-After)"},
}

AsOf = Annotated[str | None, Query(description="unix seconds, YYYY-MM-DD (end of day, UTC+8) or ISO date-time")]
ExpectedKind = Annotated[str | None, Query(description="verification | calibration | verification_fail_notice")]


def create_app(settings: VerifierSettings | None = None, *, verifier: Verifier | None = None) -> FastAPI:
    """The verifier's FastAPI application. Nothing is opened at creation: the verifier is built on first use.

    Args:
        settings: limits and, without ``verifier``, where the chain and the bundles are; default: the
            environment (:func:`load_settings`).
        verifier: a ready verifier over any chain view and bundle source (tests, the index, ``tracecert up``).
    """
    settings = settings if settings is not None else load_settings()
    service = VerifierService(settings, verifier)
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncGenerator[None, None]:
        try:  # warm up (the index catches up here); a chain that is not there yet is retried on use
            await run_in_threadpool(service.verifier)
        except SetupError as exc:
            logger.warning("verifier not ready: %s: %s", exc.code, exc.message)
        try:
            yield
        finally:
            await run_in_threadpool(service.close)

    app = FastAPI(
        lifespan=lifespan,
        title="TraceCert verifier",
        version="1",
        description="Verify calibration and verification certificates against the chain: authenticity, status, "
        'the lab\'s authorization and the traceability chain. Errors are `{"error": {"code", "message"}}`.',
        docs_url=None,  # Swagger UI loads from a CDN; the page and the API must work on closed networks
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.cors_allow_origins, allow_methods=["GET", "POST"], allow_headers=["*"]
    )
    app.add_middleware(_SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(ChainUnavailable)
    async def _chain_down(_: Request, exc: ChainUnavailable) -> JSONResponse:
        return _error_response(SetupError(f"the chain node does not answer: {exc}"))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error_response(InvalidRequest(f"{where}: {first.get('msg', 'invalid request')}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error_response(NotFound("no such resource"))
        if exc.status_code == 405:
            return _error_response(MethodNotAllowed("method not allowed on this resource"))
        error = ServiceError(str(exc.detail), code=f"HTTP_{exc.status_code}")
        error.http_status = exc.status_code
        return _error_response(error)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=exc)
        return _error_response(ServiceError("internal error"))

    @app.post("/v1/verify", responses=_ERRORS_DOC, summary="Verify a bundle, a record, or an uploaded file")
    async def verify(request: Request, as_of: AsOf = None, expected_kind: ExpectedKind = None) -> JSONResponse:
        """Body: a proof bundle (JSON); or `{"bundle": …, "as_of"?, "expected_kind"?, "document_base64"?}`; or
        `{"record": …}`; or multipart/form-data with a `file` (bundle JSON, PDF or DCC XML — a document alone is
        looked up by its SHA-256), or a `bundle` and a `document` together. Answers the report."""
        service.limit_upload(request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = media == "application/json" or media.endswith("+json")
        if not is_json and media != "multipart/form-data":
            raise UnsupportedMediaType(
                f"Content-Type {media or '(none)'} is not read here: send application/json or multipart/form-data"
            )
        when, kind = parse_as_of(as_of), parse_kind(expected_kind)
        body = await _read_limited(request, settings.max_upload_bytes)
        if is_json:
            job = input_from_json(_json_object(body, "the body"), as_of=when, expected_kind=kind)
        else:
            job = await input_from_form(request.headers, body, as_of=when, expected_kind=kind)
        return await service.run(lambda: _report_response(job.run(service.verifier())))

    @app.get("/v1/certificates/{digest}/verification", responses=_ERRORS_DOC, summary="Verify a certificate")
    async def verify_digest(digest: str, as_of: AsOf = None, expected_kind: ExpectedKind = None) -> JSONResponse:
        """The certificate's bundle is looked up in the sources; one that cannot be found is reported INVALID with
        `unknown: true` (200)."""
        key, when, kind = parse_digest(digest), parse_as_of(as_of), parse_kind(expected_kind)

        def work() -> JSONResponse:
            engine = service.verifier()
            bundle = engine.sources.by_digest(key)
            if bundle is None:
                return _report_response(
                    _unknown_report(
                        engine, key, when, "no proof bundle with this digest was found in the verifier's sources"
                    )
                )
            return _report_response(engine.verify_bundle(bundle, as_of=when, expected_kind=kind))

        return await service.run(work)

    @app.get(
        "/v1/labs/{lab_id}/certificates/{number:path}/verification",
        responses=_ERRORS_DOC,
        summary="Verify a lab's certificate by its number",
    )
    async def verify_number(lab_id: str, number: str, as_of: AsOf = None) -> JSONResponse:
        """`lab_id`: the lab id (0x + 64 hex) or the lab's code (统一社会信用代码). Unknown numbers are reported INVALID
        with `unknown: true`; a number anchored with different contents fails NUMBER_UNIQUE."""
        lab, when = parse_lab(lab_id), parse_as_of(as_of)
        if not number.strip():
            raise InvalidRequest("empty certificate number")
        return await service.run(lambda: _report_response(service.verifier().verify_number(lab, number, as_of=when)))

    @app.get("/v1/trace/{digest}", responses={404: {"description": "NOT_FOUND"}, **_ERRORS_DOC})
    async def trace(digest: str, as_of: AsOf = None) -> JSONResponse:
        """The traceability tree of a certificate: each node a certificate with its lab and verdict, its children
        the certificates of the standards it used, up to a national metrology institute."""
        key, when = parse_digest(digest), parse_as_of(as_of)

        def work() -> JSONResponse:
            engine = service.verifier()
            bundle = engine.sources.by_digest(key)
            if bundle is None:
                raise NotFound(f"no proof bundle with digest {key} was found in the verifier's sources")
            report = engine.verify_bundle(bundle, as_of=when)
            body = {
                "digest": key,
                "verdict": report.verdict.value,
                "as_of": report.as_of,
                "trace": report.trace.to_dict() if report.trace else None,
            }
            return JSONResponse(body, headers={"Cache-Control": "no-store"})

        return await service.run(work)

    @app.get("/v1/checks", summary="The check catalog: every check's code, names, severity and meaning (zh/en)")
    async def checks() -> JSONResponse:
        """The one catalog the checks are declared in (the registry runs the same ones at acceptance): what the
        page and any client label checks with."""
        return JSONResponse({"checks": catalog()}, headers={"Cache-Control": "public, max-age=300"})

    @app.get("/health", summary="Is the chain reachable?")
    async def health() -> JSONResponse:
        """200 with the chain and deployment when the chain answers, else 503 with the error."""

        def work() -> JSONResponse:
            try:
                engine = service.verifier()
                now = engine.chain.now()
            except ServiceError as exc:
                return JSONResponse({"status": "unavailable", **exc.to_body()}, status_code=503)
            except ChainUnavailable as exc:
                return JSONResponse(
                    {"status": "unavailable", **SetupError(f"the chain node does not answer: {exc}").to_body()},
                    status_code=503,
                )
            return JSONResponse(
                {
                    "status": "ok",
                    "chain_id": engine.chain.chain_id(),
                    "certificate_registry": engine.chain.certificate_registry(),
                    "chain_time": now,
                    "chain_view": type(engine.chain).__name__,
                }
            )

        return await run_in_threadpool(work)  # not behind verifications: a probe must answer while they queue

    def _page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return _page()

    @app.get("/c/{digest}", include_in_schema=False)
    def certificate_page(digest: str) -> Response:
        return _page()

    return app
