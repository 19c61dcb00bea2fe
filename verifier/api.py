"""The verifier's HTTP service: verification endpoints, the traceability tree, and the bilingual web page.

No authentication: anyone may verify a public certificate or read a credit record. Uploads (``POST /v1/verify``)
and credit lookups are rate limited per client address (one bucket for both). The service takes any
:class:`~tracecert.verification.chainview.ChainView` (a live node now, the verifier's own index when configured) and
any :class:`~tracecert.verification.sources.BundleSource`;
:func:`create_app` accepts a ready :class:`~tracecert.verification.engine.Verifier`, otherwise one is built from
:class:`VerifierSettings` on first use.

Endpoints::

    POST /v1/verify                                       a bundle, {"bundle"|"record", "as_of", "expected_kind"},
                                                          or multipart (file / bundle / document) → report
    GET  /v1/certificates/{digest}/verification           the bundle looked up in the sources → report
    GET  /v1/labs/{lab_id}/certificates/{number}/verification    lab id (0x…) or lab code (统一社会信用代码) → report
    GET  /v1/trace/{digest}                               the traceability tree
    GET  /v1/credit/{subject}, /v1/labs, /v1/labs/{lab_id}   credit records and the lab directory:
                                                          :mod:`verifier.oversight`
    GET  /v1/checks                                       the check catalog (codes, names, severities, zh/en)
    GET  /health                                          chain reachable?
    GET  /, /c/{digest}                                   the web page (a certificate's QR code points at /c/{digest})

A digest the verifier cannot find gives, on the verification endpoints, a 200 report with ``verdict: INVALID`` and
``unknown: true`` (a verification always answers with a report: unknown is an answer, never "valid"); on
``/v1/trace/{digest}`` it is 404 NOT_FOUND (there is no tree to draw).

Errors: :mod:`verifier.errors` (the tree); settings: :mod:`verifier.config`; building the verifier:
:mod:`verifier.bootstrap`; what a request or a file holds: :mod:`verifier.inputs`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracecert import SHARED_STATIC
from tracecert.chain.errors import ChainUnavailable
from tracecert.service_errors import (
    RETRY_AFTER_SECONDS,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
)
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Report, catalog
from verifier.bootstrap import build_verifier
from verifier.config import VerifierSettings, load_settings
from verifier.errors import InvalidRequest, RateLimited, SetupError
from verifier.fast_json import FastJSONResponse
from verifier.inputs import (
    input_from_form,
    input_from_json,
    json_object,
    parse_as_of,
    parse_digest,
    parse_kind,
    parse_lab,
)
from verifier.oversight import oversight_router
from verifier.reports import reports_router

__all__ = ["TokenBucket", "VerifierApp", "VerifierService", "create_app"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

STATIC_DIR = Path(__file__).parent / "static"


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

    def inline(self) -> bool:
        """Whether a light verification (a bundle or a certificate looked up, no document) runs in the event loop
        itself: when it only reads this machine (the verifier's own index, local bundles, no registry asked over
        the network) and no thread count was set. It then takes about 0.4 ms of CPU, and handing it to a thread
        and back cost more than that: under 16 clients, the thread hand-off (queue, condition, the loop woken
        again) held the GIL for a third of a worker's time. A thread would not have kept the loop free anyway:
        this is CPU work under one GIL."""
        verifier = self._verifier
        return (
            verifier is not None
            and self.settings.verify_threads is None
            and not self.settings.registry_urls
            and not isinstance(verifier.chain, LiveChainView)
        )

    async def run(self, work: Callable[[], T], *, light: bool = False) -> T:
        """Run blocking verification work in a worker thread, at most :meth:`verify_threads` at once; ``light``
        work in the event loop when :meth:`inline` says so."""
        if light and self.inline():
            return work()
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

    def limit_upload(self, request: Request, what: str = "uploads") -> None:
        """Count an upload (or another limited request, named by ``what``) against its client.

        Raises:
            RateLimited: the client's bucket is empty.
        """
        wait = self.limiter.take(self.client_address(request))
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise RateLimited(f"too many {what} from this address; retry in {seconds} s", retry_after=seconds)


def _unknown_report(verifier: Verifier, digest: str, as_of: int | None, what: str) -> Report:
    report = Report(digest, as_of if as_of is not None else verifier.chain.now(), unknown=True)
    report.add("ANCHORED", False, what)
    return report


def _report_response(report: Report) -> Response:
    # Response (not JSONResponse) with JSON's media type: the same head; the body written by Report.to_json.
    return Response(report.to_json(), media_type="application/json", headers={"Cache-Control": "no-store"})


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


_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: What every answer carries: no framing, no sniffing, no referrer; the page loads only its own files.
_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", _CSP.encode()),
)


class _SecurityHeaders:
    """Pure ASGI middleware adding :data:`_SECURITY_HEADERS` to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


_ERRORS_DOC: dict[int | str, dict[str, Any]] = {
    400: {"description": "MALFORMED_JSON, MALFORMED_MULTIPART"},
    413: {"description": "PAYLOAD_TOO_LARGE"},
    415: {"description": "UNSUPPORTED_MEDIA_TYPE"},
    422: {"description": "REQUEST_INVALID, INVALID_DIGEST, INVALID_LAB_ID, INVALID_AS_OF, INVALID_KIND"},
    429: {"description": "RATE_LIMITED (Retry-After)"},
    503: {"description": "NO_RPC_URL, NO_DEPLOYMENT, UNTRUSTED_DEPLOYMENT, CHAIN_UNAVAILABLE (Retry-After)"},
}

#: A lane's route: the request in, the answer out (errors raised as the routes raise them).
LaneRoute = Callable[[Request], Awaitable[Response]]


class VerifierApp(FastAPI):
    """The verifier's FastAPI application, with a lane for the two requests a busy verifier answers most.

    ``POST /v1/verify`` with a JSON body and ``GET /v1/certificates/{digest}/verification``, without a query string,
    an ``Origin`` header (CORS) or a root path, are answered by the same functions as their routes, without the
    framework's layers around them (five middlewares, the router, the dependencies): under 16 clients those took
    a sixth of a worker's CPU, more than a light verification's own checks. The answer is the one the routes give,
    byte for byte, headers included: ``tests/verifier/api/test_fast_lane.py`` holds the lane to them. Every other
    request, and all of them when :attr:`fast_lane` is False, goes through FastAPI.
    """

    #: Serve the lane's requests in the lane (False: through the routes, the reference the tests compare with).
    fast_lane: bool = True

    def __init__(self, *, lane: Callable[[Scope], LaneRoute | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lane = lane

    def lane_route(self, scope: Scope) -> LaneRoute | None:
        """The lane's function for an HTTP request's scope, or None when FastAPI is to answer it."""
        return None if scope.get("root_path") else self._lane(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.lane_route(scope) if self.fast_lane and scope["type"] == "http" else None
        if route is None:
            await super().__call__(scope, receive, send)
            return
        try:
            response = await route(Request(scope, receive))
        except ServiceError as exc:
            response = _error_response(exc)
        except ChainUnavailable as exc:
            response = _chain_down_response(exc)
        except Exception as exc:  # as the app's catch-all handler answers, the security headers added
            logger.exception("unexpected error", exc_info=exc)
            response = _error_response(ServiceError("internal error"))
        response.raw_headers.extend(_LANE_HEADERS)
        await response(scope, receive, send)


def _is_json(content_type: bytes) -> bool:
    """Whether a Content-Type header names JSON (``application/json``, ``…+json``)."""
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def _chain_down_response(exc: ChainUnavailable) -> JSONResponse:
    return _error_response(SetupError(f"the chain node does not answer: {exc}"))


#: What the middlewares add to an answer to a request without an ``Origin``: CORS's ``Vary``, then the security
#: headers.
_LANE_HEADERS = ((b"vary", b"Origin"), *_SECURITY_HEADERS)
_LANE_DIGEST = re.compile(r"/v1/certificates/([^/]+)/verification")


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

    def lane(scope: Scope) -> LaneRoute | None:
        if scope["query_string"]:
            return None
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == "/v1/verify":
            route: LaneRoute = verify_posted
        elif method == "GET" and path.startswith("/v1/certificates/") and (found := _LANE_DIGEST.fullmatch(path)):
            digest = found.group(1)

            async def route(_: Request) -> Response:
                return await verify_looked_up(digest, None, None)

        else:
            return None
        for name, value in scope["headers"]:
            if name == b"origin" or (name == b"content-type" and route is verify_posted and not _is_json(value)):
                return None
        return route

    app = VerifierApp(
        lane=lane,
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
    app.mount("/shared", StaticFiles(directory=SHARED_STATIC), name="shared")

    def _page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    app.include_router(oversight_router(service, _page))
    app.include_router(reports_router(service))

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(ChainUnavailable)
    async def _chain_down(_: Request, exc: ChainUnavailable) -> JSONResponse:
        return _chain_down_response(exc)

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

    async def verify_posted(request: Request, as_of: str | None = None, expected_kind: str | None = None) -> Response:
        service.limit_upload(request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = _is_json(media.encode("latin-1"))
        if not is_json and media != "multipart/form-data":
            raise UnsupportedMediaType(
                f"Content-Type {media or '(none)'} is not read here: send application/json or multipart/form-data"
            )
        when, kind = parse_as_of(as_of), parse_kind(expected_kind)
        body = await _read_limited(request, settings.max_upload_bytes)
        if is_json:
            job = input_from_json(json_object(body, "the body"), as_of=when, expected_kind=kind)
        else:
            job = await input_from_form(request.headers, body, as_of=when, expected_kind=kind)
        light = is_json and job.document is None  # a document (PDF, DCC XML) may take long to read: a thread
        return await service.run(lambda: _report_response(job.run(service.verifier())), light=light)

    async def verify_looked_up(digest: str, as_of: str | None, expected_kind: str | None) -> Response:
        key, when, kind = parse_digest(digest), parse_as_of(as_of), parse_kind(expected_kind)

        def work() -> Response:
            engine = service.verifier()
            bundle = engine.sources.by_digest(key)
            if bundle is None:
                return _report_response(
                    _unknown_report(
                        engine, key, when, "no proof bundle with this digest was found in the verifier's sources"
                    )
                )
            return _report_response(engine.verify_bundle(bundle, as_of=when, expected_kind=kind))

        return await service.run(work, light=True)

    @app.post("/v1/verify", responses=_ERRORS_DOC, summary="Verify a bundle, a record, or an uploaded file")
    async def verify(request: Request, as_of: AsOf = None, expected_kind: ExpectedKind = None) -> Response:
        """Body: a proof bundle (JSON); or `{"bundle": …, "as_of"?, "expected_kind"?, "document_base64"?}`; or
        `{"record": …}`; or a W3C Verifiable Credential of a certificate (as is, or `{"credential": …}`); or
        multipart/form-data with a `file` (bundle or credential JSON, PDF or DCC XML — a document alone is looked up
        by its SHA-256, a DCC that TraceCert exported is read back into its record), or a `bundle` and a
        `document` together. A signed DCC's signature is checked (DCC_SIGNATURE). Answers the report."""
        return await verify_posted(request, as_of, expected_kind)

    @app.get("/v1/certificates/{digest}/verification", responses=_ERRORS_DOC, summary="Verify a certificate")
    async def verify_digest(digest: str, as_of: AsOf = None, expected_kind: ExpectedKind = None) -> Response:
        """The certificate's bundle is looked up in the sources; one that cannot be found is reported INVALID with
        `unknown: true` (200)."""
        return await verify_looked_up(digest, as_of, expected_kind)

    @app.get(
        "/v1/labs/{lab_id}/certificates/{number:path}/verification",
        # A number with a line break matches no route (``path`` is ``.*``): the router's 404 NOT_FOUND.
        responses={404: {"description": "NOT_FOUND: no route matches (a number with a line break)"}, **_ERRORS_DOC},
        summary="Verify a lab's certificate by its number",
    )
    async def verify_number(lab_id: str, number: str, as_of: AsOf = None) -> Response:
        """`lab_id`: the lab id (0x + 64 hex) or the lab's code (统一社会信用代码). Unknown numbers are reported INVALID
        with `unknown: true`; a number anchored with different contents fails NUMBER_UNIQUE."""
        lab, when = parse_lab(lab_id), parse_as_of(as_of)
        if not number.strip():
            raise InvalidRequest("empty certificate number")
        return await service.run(
            lambda: _report_response(service.verifier().verify_number(lab, number, as_of=when)), light=True
        )

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
            return FastJSONResponse(body, headers={"Cache-Control": "no-store"})

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

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return _page()

    @app.get("/c/{digest}", include_in_schema=False)
    def certificate_page(digest: str) -> Response:
        return _page()

    return app
