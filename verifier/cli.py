"""``tracecert verify``: check certificate files (bundles, PDFs, DCC XML, folders, ZIPs of them, CSVs of digests or
numbers) against the chain.

Works offline from a registry: a proof bundle and a chain RPC URL are enough. Output is one verdict per file with
the failed checks (Chinese and English) and the traceability chain, or the reports as JSON.

``tracecert verifier serve``: the service; ``tracecert verifier credit|labs|lab``: credit records and the lab
directory (:mod:`verifier.cli_oversight`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from tracecert.certificate.model import Kind
from tracecert.chain.errors import ChainUnavailable
from tracecert.chain.types import LabKind
from tracecert.human import speaks_chinese
from tracecert.service_errors import ServiceError
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Report, Verdict
from tracecert.verification.sources import MemorySource
from verifier import cli_oversight
from verifier.bootstrap import SERVED_CHAIN_VIEW, build_verifier, chain_view_of
from verifier.config import VerifierSettings
from verifier.errors import SetupError
from verifier.inputs import (
    BulkLimits,
    VerificationInput,
    bulk_entries,
    input_from_file,
    is_bulk,
    is_bundle,
    parse_as_of,
    parse_kind,
    self_consistent,
)
from verifier.report_file import REPORT_SUFFIXES, report_rows, write_report

__all__ = ["register", "serve_command", "verify_command"]

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

USAGE_ERROR = 2
#: A run of this many certificates or more shows a progress bar (on a terminal, without --json).
PROGRESS_FROM = 10
#: Entries of one ZIP or CSV, and their bytes together (each member: the verifier's upload limit).
BULK_MAX_ITEMS = 10_000
BULK_MAX_BYTES = 512 * 1024 * 1024
STYLE = {Verdict.VALID: "bold green", Verdict.VALID_WITH_WARNINGS: "bold yellow", Verdict.INVALID: "bold red"}


@dataclass
class _Item:
    """One file (or ZIP member, or CSV row) to verify, and what came of it."""

    path: str  # the label: the file's path, ``x.zip!member``, ``x.csv:3``
    job: VerificationInput | None = None
    report: Report | None = None
    error: str | None = None  # unreadable: counts as INVALID
    skipped: str | None = None  # not a certificate file inside a folder: ignored

    @property
    def valid(self) -> bool:
        return self.report is not None and self.report.verdict is not Verdict.INVALID


def _usage(message: str) -> typer.Exit:
    err.print(Text("error: ", style="bold red") + Text(message))
    return typer.Exit(USAGE_ERROR)


def _collect(paths: list[Path]) -> list[tuple[Path, bool]]:
    """Files to verify, each with whether it was named explicitly (a folder's files are not)."""
    files: list[tuple[Path, bool]] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files.extend((p, False) for p in inside)
        elif path.is_file():
            files.append((path, True))
        else:
            raise _usage(f"{path}: no such file or folder")
    return files


def _read(path: Path, explicit: bool, limits: BulkLimits) -> list[_Item]:
    """The item of a file, or of each member of a ZIP or row of a CSV named explicitly (a folder's are skipped)."""
    item = _Item(str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _usage(f"{path}: cannot read ({exc.strerror})") from exc
    if explicit and is_bulk(data, path.name):
        try:
            entries = bulk_entries(data, str(path), limits)
        except ServiceError as exc:
            raise _usage(f"{exc.code}: {exc.message}") from exc
        return [_Item(e.label, e.job, error=e.error) for e in entries]
    return [_read_file(item, data, explicit)]


def _read_file(item: _Item, data: bytes, explicit: bool) -> _Item:
    path = item.path
    try:
        item.job = input_from_file(data, name=path)
    except ServiceError as exc:
        if exc.code == "UNSUPPORTED_MEDIA_TYPE":
            if explicit:
                raise _usage(f"{path}: not a proof bundle (JSON), a PDF, a DCC XML, a ZIP or a CSV") from exc
            item.skipped = "not a proof bundle, PDF or DCC XML"
        else:
            item.error = f"{exc.code}: {exc.message}"
        return item
    job = item.job
    if not explicit and job.bundle is not None and not is_bundle(job.bundle, declared=True):
        item.job, item.skipped = None, "JSON, but not a proof bundle or certificate record"
    return item


def _settings(**overrides: Any) -> VerifierSettings:
    try:
        return VerifierSettings(**{k: v for k, v in overrides.items() if v not in (None, [], ())})
    except ValueError as exc:
        raise _usage(f"bad setting: {exc}") from exc


def _trust_note(settings: VerifierSettings, verifier: Verifier) -> bool:
    """Print a note and return True when the root of trust is not pinned (the bundle named the contracts)."""
    derived = (
        settings.deployment_file is None
        and not settings.deployment_path.exists()
        and not settings.certificate_registry
        and not settings.trusted_authorities
    )
    if derived and isinstance(verifier.chain, LiveChainView):
        deployment = verifier.chain.contracts.deployment
        err.print(
            f"note: verifying against the contracts the bundle names (CertificateRegistry "
            f"{deployment.certificate_registry}, national authority {deployment.national_authority}); "
            "pin the root of trust with --trust-authority ADDRESS or --deployment FILE",
            markup=False,
        )
        return True
    return False


def verify_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Proof bundles (JSON), original documents (PDF / DCC XML, looked up by SHA-256), folders "
            "(every file in them; the bundles in a folder also serve as sources for traceability), ZIPs (every "
            "file in them, named zip!member) or CSVs of certificates (a digest column, or certificate_number and "
            "lab: the lab id or code).",
            show_default=False,
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Verify at this moment instead of now: YYYY-MM-DD (end of that day, UTC+8), an ISO date-time, "
            "or unix seconds.",
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the report as JSON (one file), or a list of {path, report} (several files)."
        ),
    ] = False,
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc-url", help="Chain JSON-RPC URL (default $TRACECERT_VERIFIER_RPC_URL / $TRACECERT_CHAIN_RPC_URL)."
        ),
    ] = None,
    deployment: Annotated[
        Path | None,
        typer.Option(
            "--deployment",
            help="Deployment file (default {data dir}/deployment.json if present, else the contract the first "
            "bundle names).",
        ),
    ] = None,
    bundles: Annotated[
        Path | None, typer.Option("--bundles", help="A folder of proof bundles to find standards' certificates in.")
    ] = None,
    registry: Annotated[
        list[str] | None,
        typer.Option("--registry", help="A registry (or mirror) URL to find bundles in; repeatable. Never trusted."),
    ] = None,
    registry_token: Annotated[
        str | None,
        typer.Option(
            "--registry-token", envvar="TRACECERT_VERIFIER_REGISTRY_TOKEN", help="Token for the registry's bundles."
        ),
    ] = None,
    trust_authority: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-authority",
            help="Address of a national authority trusted as the root of the deployment; repeatable.",
        ),
    ] = None,
    expect_kind: Annotated[
        str | None,
        typer.Option("--expect-kind", help="Require this kind: verification (检定) or calibration (校准)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (default $TRACECERT_DATA_DIR or .tracecert).")
    ] = None,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write a report, one row per certificate (verdict, reasons by name, lab, instrument, valid "
            "until): .csv or .json for systems, .html for people.",
        ),
    ] = None,
) -> None:
    """Verify certificates against the chain: authenticity, the lab's authorization, status, traceability.

    Exit status 0: every file is VALID (VALID_WITH_WARNINGS counts as valid).

    Exit status 1: a file is INVALID or unknown (not anchored, not found).

    Exit status 2: usage error (bad path or date, no chain or deployment).
    """
    try:
        when, kind = parse_as_of(as_of), parse_kind(expect_kind)
    except ServiceError as exc:
        raise _usage(exc.message) from exc
    if kind is not None and kind.value not in ("VERIFICATION", "CALIBRATION"):
        raise _usage("--expect-kind is verification or calibration")
    if report_file is not None and report_file.suffix.lower() not in REPORT_SUFFIXES:
        raise _usage(f"--report {report_file}: a report is {', '.join(REPORT_SUFFIXES)}")
    settings = _settings(
        rpc_url=rpc_url,
        data_dir=data_dir,
        deployment_file=deployment,
        bundles_dir=bundles,
        registry_urls=registry,
        registry_token=registry_token,
        trusted_authorities=trust_authority,
    )
    limits = BulkLimits(settings.max_upload_bytes, BULK_MAX_BYTES, BULK_MAX_ITEMS)
    items = [item for path, explicit in _collect(paths) for item in _read(path, explicit, limits)]
    if not items:
        raise _usage("no files to verify")
    # A bundle whose record does not hash to the digest it claims would shadow the genuine one in the source.
    given = MemorySource(
        i.job.bundle for i in items if i.job is not None and i.job.bundle is not None and self_consistent(i.job.bundle)
    )
    hint = next(
        (
            str(i.job.bundle["anchor"]["contract"])
            for i in items
            if i.job is not None
            and i.job.bundle is not None
            and isinstance(i.job.bundle.get("anchor"), dict)
            and "contract" in i.job.bundle["anchor"]
        ),
        None,
    )
    try:
        verifier = build_verifier(settings, sources=[given], contract_hint=hint)
        # Anyone can deploy copies of the contracts with themselves as the national authority: without a pinned
        # root a verdict is only "consistent with the contracts the bundle names", never a pass (exit 1).
        unpinned = _trust_note(settings, verifier)
        _run(items, verifier, when, kind, progress=not json_output)
    except SetupError as exc:
        raise _usage(f"{exc.code}: {exc.message}") from exc
    except ChainUnavailable as exc:
        raise _usage(f"CHAIN_UNAVAILABLE: {exc}") from exc

    checked = [i for i in items if i.skipped is None]
    if report_file is not None:
        rows = report_rows([(i.path, i.report.to_dict() if i.report else None, i.error) for i in checked])
        try:
            write_report(report_file, rows)
        except OSError as exc:
            raise _usage(f"--report {report_file}: {exc}") from exc
    if json_output:
        single = len(paths) == 1 and len(items) == 1 and items[0].path == str(paths[0]) and paths[0].is_file()
        _print_json(items, single=single)
    else:
        for item in items:
            _print_item(item)
        _print_summary(items)
    if unpinned:
        err.print("UNPINNED_ROOT: not trusted without --trust-authority or --deployment (exit 1)", markup=False)
    raise typer.Exit(0 if checked and all(i.valid for i in checked) and not unpinned else 1)


def _run(items: list[_Item], verifier: Verifier, when: int | None, kind: Kind | None, *, progress: bool) -> None:
    """Verify every item that can be; a progress bar on stderr for a long run on a terminal."""
    todo = [i for i in items if i.job is not None]
    for item in todo:
        assert item.job is not None
        item.job.as_of, item.job.expected_kind = when, kind
    if not (progress and err.is_terminal and len(todo) >= PROGRESS_FROM):
        for item in todo:
            item.report = item.job.run(verifier) if item.job is not None else None
        return
    columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("verify", total=len(todo))
        for item in todo:
            item.report = item.job.run(verifier) if item.job is not None else None
            bar.advance(task)


# ------------------------------------------------------------------------------------------------ output


def _print_json(items: list[_Item], *, single: bool) -> None:
    def entry(item: _Item) -> dict[str, Any]:
        if item.report is not None:
            return {"path": item.path, "report": item.report.to_dict()}
        if item.skipped is not None:
            return {"path": item.path, "skipped": item.skipped}
        return {"path": item.path, "error": item.error}

    if single and items[0].report is not None:
        out: Any = items[0].report.to_dict()
    else:
        out = [entry(i) for i in items]
    sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")


#: What the command line says, in the user's language (the codes stay the same in both).
_WORDS = {
    "zh": {
        Verdict.VALID: "有效",
        Verdict.VALID_WITH_WARNINGS: "有效（有警告）",
        Verdict.INVALID: "无效",
        "unknown": "未知证书",
        "skipped": "已跳过",
        "unreadable": "无法读取",
        "digest": "证书摘要",
        "anchored": "存证于区块 {block}（批次 {batch}，链 {chain}）",
        "replaced": "已被替代，新证书",
        "trace": "溯源链",
        "files": "{n} 个文件：{valid} 个有效{warned}，{invalid} 个无效{skipped}",
        "warned": "（{n} 个有警告）",
        "skipped_n": "，{n} 个跳过",
    },
    "en": {
        Verdict.VALID: "valid",
        Verdict.VALID_WITH_WARNINGS: "valid with warnings",
        Verdict.INVALID: "invalid",
        "unknown": "unknown",
        "skipped": "skipped",
        "unreadable": "unreadable",
        "digest": "digest",
        "anchored": "anchored in block {block} (batch {batch}, chain {chain})",
        "replaced": "replaced by",
        "trace": "traceability",
        "files": "{n} file{s}: {valid} valid{warned}, {invalid} invalid{skipped}",
        "warned": " ({n} with warnings)",
        "skipped_n": ", {n} skipped",
    },
}


def _lang() -> str:
    return "zh" if speaks_chinese() else "en"


def _print_item(item: _Item) -> None:
    lang = _lang()
    words = _WORDS[lang]
    if item.skipped is not None:
        console.print(
            Text("SKIPPED  ", style="dim") + Text(f"{item.path}  ({words['skipped']}: {item.skipped})", style="dim")
        )
        return
    if item.report is None:
        console.print(Text("INVALID  ", style=STYLE[Verdict.INVALID]) + Text(str(item.path)))
        console.print(Text(f"    {words['unreadable']}: {item.error}"))
        return
    report = item.report
    verdict = report.verdict
    label = verdict.value + (" (unknown)" if report.unknown else "")
    said = words[verdict] + (f"，{words['unknown']}" if lang == "zh" and report.unknown else "")
    if lang == "zh":
        label = f"{label} {said}"
    console.print(Text(f"{label}  ", style=STYLE[verdict]) + Text(str(item.path), style="bold"))
    cert = report.certificate
    if cert:
        item_info = cert.get("item") or {}
        lab = cert.get("lab_name_on_chain") or cert.get("lab_name") or ""
        kind = str(cert.get("kind") or "")
        kind_name = getattr(Kind(kind), lang) if kind in Kind.__members__ else kind
        console.print(
            f"    {kind_name} {cert.get('certificate_number')} · {lab} · "
            f"{item_info.get('name', '')} {item_info.get('serial_number') or ''}".rstrip(),
            markup=False,
        )
    if report.digest:
        where = ""
        if report.anchor:
            a = report.anchor
            where = "  " + words["anchored"].format(
                block=a.get("block_number"), batch=a.get("batch_index"), chain=a.get("chain_id")
            )
        console.print(f"    {words['digest']} {report.digest}{where}", markup=False)
    if report.replaced_by:
        console.print(f"    {words['replaced']} {report.replaced_by}", markup=False)
    for reason in report.to_dict()["reasons"]:
        mark = "✗" if reason["severity"] == "ERROR" else "!"
        style = "red" if reason["severity"] == "ERROR" else "yellow"
        name = reason["name"][lang]
        console.print(Text(f"    {mark} {reason['code']}  ", style=style) + Text(f"{name}: {reason[lang]}"))
        detail = reason["detail_zh"] if lang == "zh" else reason["detail"]
        if detail:
            console.print(f"{' ' * (8 + len(reason['code']))}{detail}", markup=False, style="dim")
    if report.trace is not None:
        console.print(f"    {words['trace']}:", markup=False)
        root = report.trace.to_dict()
        root["verdict"] = root["verdict"] or report.verdict.value  # the engine leaves the checked one's to the report
        _print_trace(root, "      ", None, lang)


def _print_trace(node: dict[str, Any], indent: str, last: bool | None, lang: str) -> None:
    branch = "" if last is None else ("└── " if last else "├── ")
    verdict = node.get("verdict")
    via = f"{node['standard']} ← " if node.get("standard") else ""
    kind = str(node.get("lab_kind") or "")
    shown_kind = (
        f" [{kind}]" if kind and lang == "en" else f" [{LabKind[kind].zh}]" if kind in LabKind.__members__ else ""
    )
    text = Text(
        f"{indent}{branch}{via}{node.get('certificate_number') or '?'}  {node.get('lab_name') or ''}{shown_kind}  "
    )
    said = verdict or "unknown"
    if verdict and lang == "zh":
        said = f"{verdict} {_WORDS['zh'][Verdict(verdict)]}"
    text += Text(said, style=STYLE.get(Verdict(verdict), "") if verdict else "dim")
    if node.get("note"):
        text += Text(f"  ({node['note']})", style="dim")
    console.print(text)
    children = node.get("children") or []
    child_indent = indent + ("" if last is None else ("    " if last else "│   "))
    for i, child in enumerate(children):
        _print_trace(child, child_indent, i == len(children) - 1, lang)


def _print_summary(items: list[_Item]) -> None:
    words = _WORDS[_lang()]
    reports = [i.report for i in items if i.report is not None]
    valid = sum(1 for r in reports if r.verdict is not Verdict.INVALID)
    warned = sum(1 for r in reports if r.verdict is Verdict.VALID_WITH_WARNINGS)
    invalid = sum(1 for i in items if i.skipped is None) - valid
    skipped = sum(1 for i in items if i.skipped is not None)
    line = words["files"].format(
        n=len(items),
        s="s" if len(items) != 1 else "",
        valid=valid,
        warned=words["warned"].format(n=warned) if warned else "",
        invalid=invalid,
        skipped=words["skipped_n"].format(n=skipped) if skipped else "",
    )
    console.print(line, markup=False)


verifier_app = typer.Typer(help="The verifier service (web page and API).", no_args_is_help=True)


@verifier_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8001,
    workers: Annotated[
        int, typer.Option(help="Worker processes sharing the port (SO_REUSEPORT); one per core serves most.", min=1)
    ] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    chain_view: Annotated[
        str | None,
        typer.Option(
            help="index (the verifier's own event index, kept up to date: the service's default) or live (ask the "
            f"node for every check). Default: $TRACECERT_VERIFIER_CHAIN_VIEW, else {SERVED_CHAIN_VIEW}."
        ),
    ] = None,
) -> None:
    """Serve the verifier's API and web page until Ctrl-C; settings from $TRACECERT_VERIFIER_* (see the README)."""
    from verifier.server import serve

    if chain_view is not None and chain_view not in ("index", "live"):
        raise _usage(f"--chain-view {chain_view!r} is not index or live")
    # A bad setting is a usage error here, not an error in every worker; the workers get the view chosen here.
    view = chain_view_of(_settings(chain_view=chain_view), served=True)
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise _usage(f"--log-level {log_level!r} is not debug, info, warning or error")
    try:
        serve(host, port, workers=workers, log_level=log_level.lower(), settings={"chain_view": view})
    except OSError as exc:
        raise _usage(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


cli_oversight.register(verifier_app)


def register(app: typer.Typer) -> None:
    """Add ``tracecert verify`` and ``tracecert verifier`` (``serve``; ``credit``, ``labs`` and ``lab`` from
    :mod:`verifier.cli_oversight`) to the ``tracecert`` application."""
    app.command("verify")(verify_command)
    app.add_typer(verifier_app, name="verifier")
