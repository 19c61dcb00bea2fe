"""Bulk verification as a job (issue 13): upload a ZIP of certificate files, a CSV of certificates (digests, or
numbers with their lab), or several files; poll the job; fetch the report as CSV, JSON or HTML — the same rows and
the same bytes as ``tracecert verify --report``.

Endpoints::

    POST /v1/reports                multipart: one or more ``file`` parts (a ZIP, a CSV, bundles, PDFs, DCC XML);
                                    ?as_of, ?expected_kind → 202 {id, status, done, total}, Location   (rate limited)
    GET  /v1/reports/{id}           the job: status (running, done, failed), done / total; when done, its rows
    GET  /v1/reports/{id}?format=   csv (UTF-8 with a BOM), json or html: the report file (409 until done)

What is read is bounded before any verification: each file or ZIP member by the upload limit
(``max_upload_bytes``; a ZIP member's uncompressed size, whatever its header claims), the upload and the members
together by :data:`TOTAL_UPLOADS` uploads, the entries by :data:`MAX_ITEMS`. Jobs run in a thread pool of their own,
never in the event loop; the last :data:`MAX_JOBS` are kept in memory (the oldest finished one is forgotten first),
and the inputs of unfinished jobs together are bounded (:data:`PENDING_UPLOADS` full uploads): beyond, 429
REPORTS_BUSY. Bundles in an upload also serve as sources for the others' traceability, as a folder's do on the
command line.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from tracecert.certificate.model import Kind
from tracecert.chain.errors import ChainUnavailable
from tracecert.service_errors import MalformedRequest, NotFound, ServiceError, UnsupportedMediaType
from tracecert.verification.engine import Verifier
from tracecert.verification.sources import ChainedSource, MemorySource
from verifier.errors import InvalidRequest, RateLimited, SetupError
from verifier.inputs import (
    BulkEntry,
    BulkLimits,
    bulk_entries,
    csv_entries,
    file_entry,
    is_bulk,
    is_zip,
    parse_as_of,
    parse_kind,
    report_empty,
    report_invalid,
    report_too_large,
)
from verifier.report_file import REPORT_MEDIA_TYPES, render_report, report_rows

if TYPE_CHECKING:
    from verifier.api import VerifierService

__all__ = [
    "MAX_ITEMS",
    "MAX_JOBS",
    "PENDING_UPLOADS",
    "TOTAL_UPLOADS",
    "ReportJob",
    "ReportNotReady",
    "ReportStore",
    "ReportsBusy",
    "reports_router",
]

logger = logging.getLogger(__name__)

#: Jobs kept in memory (finished ones forgotten oldest first).
MAX_JOBS = 100
#: Entries (files, ZIP members, CSV rows) in one job.
MAX_ITEMS = 1000
#: One upload, and the ZIP members it holds uncompressed together: this many times ``max_upload_bytes``.
TOTAL_UPLOADS = 10
#: The inputs of the jobs not finished yet, together: this many full uploads.
PENDING_UPLOADS = 4
#: Threads running jobs (each job verifies its entries one after the other).
WORKERS = 2
#: Seconds a client is told to wait when the jobs are full.
BUSY_RETRY_SECONDS = 30

_NO_STORE = {"Cache-Control": "no-store"}
_CSV_MEDIA = ("text/csv", "application/csv")


class ReportsBusy(RateLimited):
    """429 REPORTS_BUSY: too many jobs, or too many bytes, are waiting to be verified (Retry-After)."""

    code = "REPORTS_BUSY"


class ReportNotReady(ServiceError):
    """409 REPORT_NOT_READY: the report file of a job still running (or failed: its ``error`` says why)."""

    code = "REPORT_NOT_READY"
    http_status = 409


@dataclass
class ReportJob:
    """One bulk verification: its entries until it has run, then its report rows."""

    id: str
    entries: list[BulkEntry]
    size: int  # the bytes uploaded, counted against the pending bound until the job finishes
    total: int
    created_at: float = field(default_factory=time.time)
    status: str = "running"  # running, done, failed
    done: int = 0
    rows: list[dict[str, str]] = field(default_factory=list)
    error: ServiceError | None = None
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        """Done or failed."""
        return self.status != "running"

    def run(self, engine: Verifier, stop: threading.Event) -> None:
        """Verify every entry in order with ``engine`` (the upload's bundles as extra sources), one row each;
        a chain that stops answering (or ``stop``) fails the job."""
        try:
            given = MemorySource(e.job.bundle for e in self.entries if e.job is not None and e.job.bundle is not None)
            verifier = Verifier(engine.chain, ChainedSource(given, engine.sources), engine.policy) if given else engine
            for entry in self.entries:
                if stop.is_set():
                    raise SetupError("the service is stopping", code="SERVICE_STOPPING")
                report = entry.job.run(verifier) if entry.job is not None else None
                self.rows.extend(report_rows([(entry.label, report.to_dict() if report else None, entry.error)]))
                self.done += 1
            self.status = "done"
        except ServiceError as exc:
            self.error, self.status = exc, "failed"
        except ChainUnavailable as exc:
            self.error, self.status = SetupError(f"the chain node does not answer: {exc}"), "failed"
        except Exception:
            logger.exception("report %s failed", self.id)
            self.error, self.status = ServiceError("internal error"), "failed"
        finally:
            self.entries = []  # the uploaded files are not kept once verified
            self.finished_at = time.time()

    def to_dict(self) -> dict[str, Any]:
        """The job as the API answers it: rows, a count per verdict and the report files' links once done."""
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "created_at": int(self.created_at),
            "finished_at": int(self.finished_at) if self.finished_at is not None else None,
        }
        if self.status == "done":
            summary: dict[str, int] = {}
            for row in self.rows:
                summary[row["verdict"]] = summary.get(row["verdict"], 0) + 1
            out["summary"] = summary
            out["files"] = {s[1:]: f"/v1/reports/{self.id}?format={s[1:]}" for s in REPORT_MEDIA_TYPES}
            out["rows"] = self.rows
        if self.error is not None:
            out["error"] = self.error.to_dict()
        return out


class ReportStore:
    """The jobs in memory, and the thread pool that runs them. Thread-safe."""

    def __init__(self, *, max_jobs: int = MAX_JOBS, pending_bytes: int, workers: int = WORKERS) -> None:
        self.max_jobs = max_jobs
        self.pending_bytes = pending_bytes
        self.workers = workers
        self._jobs: OrderedDict[str, ReportJob] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()

    def submit(self, entries: list[BulkEntry], size: int, engine: Verifier) -> ReportJob:
        """Keep a new job and start it.

        Raises:
            ReportsBusy: as many jobs as are kept are still running, or their inputs and this one's are over the
                pending bound.
        """
        with self._lock:
            running = [j for j in self._jobs.values() if not j.finished]
            if len(running) >= self.max_jobs or sum(j.size for j in running) + size > self.pending_bytes:
                raise ReportsBusy(
                    f"{len(running)} reports are being verified; retry in {BUSY_RETRY_SECONDS} s",
                    retry_after=BUSY_RETRY_SECONDS,
                )
            job = ReportJob(secrets.token_urlsafe(16), entries, size, len(entries))
            self._jobs[job.id] = job
            while len(self._jobs) > self.max_jobs:
                oldest = next(k for k, j in self._jobs.items() if j.finished)
                del self._jobs[oldest]
            if self._pool is None:
                self._stop = threading.Event()
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="tracecert-report")
            self._pool.submit(job.run, engine, self._stop)
        return job

    def get(self, job_id: str) -> ReportJob:
        """A kept job.

        Raises:
            NotFound: REPORT_NOT_FOUND (never made, or forgotten).
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no report {job_id!r} (never made, or no longer kept)", code="REPORT_NOT_FOUND")
        return job

    def close(self) -> None:
        """Stop the running jobs after their current entry, and drop the queued ones."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._stop.set()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise report_too_large(f"the upload is {declared} bytes; the limit is {limit}", limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise report_too_large(f"the upload is over the limit of {limit} bytes", limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _files(headers: Headers, body: bytes, max_files: int) -> list[tuple[str, bytes, str]]:
    """The ``file`` parts of a multipart body: (name, content, media type); one more than ``max_files`` is read, to
    be refused as too many (REPORT_TOO_LARGE), not as a broken body."""

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    try:
        form = await MultiPartParser(headers, stream(), max_files=max_files + 1, max_fields=8).parse()
    except MultiPartException as exc:
        raise MalformedRequest(f"the multipart body cannot be read: {exc.message}", code="MALFORMED_MULTIPART") from exc
    files: list[tuple[str, bytes, str]] = []
    try:
        for name, value in form.multi_items():
            if name != "file":
                raise report_invalid(f"unknown form field {name!r}: send the files in 'file' parts", field=name)
            if not isinstance(value, UploadFile):
                raise report_invalid("a 'file' part must be a file", field=name)
            label = value.filename or f"file{len(files) + 1}"
            files.append((label, await value.read(), (value.content_type or "").split(";")[0].strip().lower()))
    finally:
        await form.close()
    return files


def _entries(
    files: list[tuple[str, bytes, str]], limits: BulkLimits, as_of: int | None, kind: Kind | None
) -> list[BulkEntry]:
    if not files:
        raise report_empty("no file: send a ZIP, a CSV or certificate files in 'file' parts")
    entries: list[BulkEntry] = []
    for name, data, media in files:
        if is_bulk(data, name):
            entries.extend(bulk_entries(data, name, limits, as_of=as_of, expected_kind=kind))
        elif media in _CSV_MEDIA and not is_zip(data):
            entries.extend(csv_entries(data, name, limits, as_of=as_of, expected_kind=kind))
        elif len(data) > limits.member_bytes:
            raise report_too_large(f"{name} is over the limit of {limits.member_bytes} bytes", limits.member_bytes)
        else:
            entries.append(file_entry(data, name, as_of=as_of, expected_kind=kind))
        if len(entries) > limits.max_items:
            raise report_too_large(f"the upload holds more than {limits.max_items} certificates", limits.max_items)
    return entries


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "MALFORMED_MULTIPART"},
    413: {"description": "REPORT_TOO_LARGE (a file or ZIP member, the whole, or too many entries)"},
    415: {"description": "UNSUPPORTED_MEDIA_TYPE (not multipart/form-data)"},
    422: {
        "description": "REPORT_EMPTY, REPORT_INPUT_INVALID (details name the member, row or field), INVALID_AS_OF, "
        "INVALID_KIND"
    },
    429: {"description": "RATE_LIMITED, REPORTS_BUSY (Retry-After)"},
    503: {"description": "NO_RPC_URL, NO_DEPLOYMENT, UNTRUSTED_DEPLOYMENT, CHAIN_UNAVAILABLE (Retry-After)"},
}


def reports_router(service: VerifierService) -> APIRouter:
    """The bulk verification routes over ``service`` (its verifier, settings and upload rate limit); the jobs'
    threads stop with the application."""
    settings = service.settings
    limits = BulkLimits(settings.max_upload_bytes, TOTAL_UPLOADS * settings.max_upload_bytes, MAX_ITEMS)
    store = ReportStore(max_jobs=MAX_JOBS, pending_bytes=PENDING_UPLOADS * limits.total_bytes)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    router = APIRouter(lifespan=lifespan)

    @router.post("/v1/reports", status_code=202, responses=_ERRORS, summary="Verify many certificates: a job")
    async def create_report(
        request: Request,
        as_of: Annotated[str | None, Query(description="unix seconds, YYYY-MM-DD (end of day, UTC+8) or ISO")] = None,
        expected_kind: Annotated[str | None, Query(description="verification | calibration | …")] = None,
    ) -> JSONResponse:
        """multipart/form-data with `file` parts: one ZIP (each member verified as a file: bundle JSON, PDF, DCC
        XML; named `zip!member` in the report), one CSV (a `digest` column, or `certificate_number` and `lab`: the
        lab id or code; one row per certificate, named `csv:line`), or several certificate files. Answers 202 with
        the job and its `Location`; a row that cannot be resolved is an UNKNOWN or ERROR row of the report, never
        a failed job."""
        service.limit_upload(request, "reports")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "multipart/form-data":
            raise UnsupportedMediaType(f"Content-Type {media or '(none)'} is not read here: send multipart/form-data")
        when, kind = parse_as_of(as_of), parse_kind(expected_kind)
        body = await _read_body(request, limits.total_bytes)
        files = await _files(request.headers, body, limits.max_items)
        entries = await run_in_threadpool(_entries, files, limits, when, kind)
        engine = await run_in_threadpool(service.verifier)  # a chain that is not there: 503 now, not a failed job
        job = store.submit(entries, len(body), engine)
        location = f"/v1/reports/{job.id}"
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": location, **_NO_STORE})

    @router.get(
        "/v1/reports/{report_id}",
        response_model=None,
        responses={
            404: {"description": "REPORT_NOT_FOUND"},
            409: {"description": "REPORT_NOT_READY (a report file before the job is done)"},
            422: {"description": "INVALID_FORMAT"},
        },
        summary="A bulk verification's progress and rows, or its report file",
    )
    async def get_report(
        report_id: str, format: Annotated[str | None, Query(description="csv, json or html")] = None
    ) -> Response:
        """Without `format`: the job (`status` running, done or failed; `done` of `total`; when done `summary`,
        `rows` and the report files' links; when failed `error`). With `format`: the report file, as
        `tracecert verify --report` writes it (CSV in UTF-8 with a BOM, for Excel)."""
        job = store.get(report_id)
        if format is None:
            return JSONResponse(job.to_dict(), headers=_NO_STORE)
        suffix = "." + format.strip().lower()
        if suffix not in REPORT_MEDIA_TYPES:
            raise InvalidRequest(f"format {format!r} is not csv, json or html", code="INVALID_FORMAT")
        if job.status != "done":
            reason = f"it failed: {job.error.message}" if job.error is not None else f"{job.done} of {job.total} done"
            raise ReportNotReady(f"report {report_id} is not ready ({reason})")
        return Response(
            render_report(job.rows, suffix),
            media_type=REPORT_MEDIA_TYPES[suffix],
            headers={
                "Content-Disposition": f'attachment; filename="tracecert-report-{job.id}{suffix}"',
                **_NO_STORE,
            },
        )

    return router
