"""Labs' commands: ``tracecert issue`` (in bulk, with a progress bar, retrying while the chain cannot be asked),
``publish``, ``revoke`` and ``status``."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from registry.cli.common import (
    KEY_PASSPHRASE_ENV,
    CliError,
    category,
    console,
    detail_lines,
    err,
    lab_ref,
    parse_time,
    print_error,
    reason_text,
    reporting_errors,
    show_time,
    usage_error,
)
from registry.cli.inputs import Item, read_items, sign_items
from registry.client import (
    DEFAULT_REGISTRY_URL,
    Patience,
    RegistryClient,
    RegistryClientError,
    RegistryUnreachable,
    with_retries,
)
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.dcc import DCC_MEDIA_TYPE, DccOverrides
from tracecert.certificate.model import Kind
from tracecert.certificate.signing import load_key_file
from tracecert.chain.types import RevocationReason

__all__ = ["issue", "parse_reason", "publish", "revoke", "send_items", "status", "status_lines", "wait_anchored"]

# ====================================================================== tracecert issue

RegistryUrl = Annotated[
    str,
    typer.Option("--registry", envvar="TRACECERT_REGISTRY_URL", help="The registry's URL."),
]
Token = Annotated[str | None, typer.Option("--token", envvar="TRACECERT_TOKEN", help="The lab's API token.")]

_FATAL = ("UNAUTHORIZED", "NOT_A_LAB")


def send_items(
    client: RegistryClient,
    items: Sequence[Item],
    *,
    chunk_size: int,
    advance: Callable[[int], None],
    public: bool = False,
    retry_for: float = 120.0,
) -> None:
    """Send every item not yet refused: DCC files one by one (multipart, the XML attached), records in bulk
    chunks. Fills in each item's outcome. With ``public`` every certificate is published (also those the registry
    had already). While the registry cannot ask the chain (503, or CHAIN_UNAVAILABLE for some items) the same
    requests (those items) are sent again, for at most ``retry_for`` seconds (see :class:`Patience`).

    Raises:
        RegistryClientError: the registry is unreachable, refuses the credential, or could not ask the chain for
            ``retry_for`` seconds (nothing more is sent; the items not accepted stay ``pending``).
    """
    patience = Patience(retry_for, say=lambda text: err.print(text, markup=False))
    todo = [i for i in items if i.outcome == "pending"]
    advance(len(items) - len(todo))
    for item in (i for i in todo if i.document is not None):
        assert item.record is not None
        try:
            answer = with_retries(
                lambda it=item: client.issue_with_document(  # type: ignore[misc]
                    it.record,
                    it.document,
                    filename=it.filename or "document.xml",
                    media_type=DCC_MEDIA_TYPE,
                    signature=it.signature,
                    public=public,
                ),
                patience=patience,
            )
            item.answer(answer)
        except RegistryUnreachable:
            raise
        except RegistryClientError as exc:
            if exc.code in _FATAL:
                raise
            item.refuse(exc.code, exc.message, exc.details)
        advance(1)
    records = [i for i in todo if i.document is None]
    for start in range(0, len(records), chunk_size):
        chunk = records[start : start + chunk_size]
        unsent = chunk
        while unsent:
            unsent = _send_bulk(client, unsent, public, patience)
            if unsent and not patience.wait(
                _CHAIN_UNAVAILABLE, "for some certificates", None, f"{len(unsent)} certificates"
            ):
                raise patience.gave_up(_CHAIN_UNAVAILABLE)
        advance(len(chunk))


_CHAIN_UNAVAILABLE = "CHAIN_UNAVAILABLE"


def _send_bulk(client: RegistryClient, chunk: Sequence[Item], public: bool, patience: Patience) -> list[Item]:
    """One bulk request of ``chunk``; fills in the outcomes and returns the items to send again (those the
    registry answered CHAIN_UNAVAILABLE for, still ``pending``)."""
    body = [
        {
            "record": i.record,
            **({"signature": i.signature} if i.signature else {}),
            **({"public": True} if public else {}),
        }
        for i in chunk
    ]
    try:
        answer = with_retries(lambda: client.issue_bulk(body), patience=patience)
    except RegistryUnreachable:
        raise
    except RegistryClientError as exc:
        if exc.code in _FATAL or exc.status == 503:
            raise
        for item in chunk:
            item.refuse(exc.code, exc.message, exc.details)
        return []
    again = []
    for result in answer.get("results", []):
        item = chunk[int(result["index"])]
        error = result.get("error") or {}
        if result.get("ok"):
            item.answer(result)
        elif error.get("code") == _CHAIN_UNAVAILABLE:
            again.append(item)
        else:
            item.refuse(str(error.get("code", "REFUSED")), str(error.get("message", "")), error.get("details"))
    for item in chunk:
        if item.outcome == "pending" and item not in again:
            item.refuse("NO_ANSWER", "the registry's bulk answer has no result for this record")
    return again


def wait_anchored(
    client: RegistryClient, items: Sequence[Item], timeout: float, on_progress: Callable[[int], None]
) -> None:
    """Poll the registry until every accepted item is anchored (or failed); set each item's ``status`` (a
    certificate still ``waiting`` at the timeout, e.g. its lab suspended, keeps the reason as its ``message``)."""
    waiting = {i.digest: i for i in items if i.digest and i.outcome in ("accepted", "existing")}
    labs = {i.lab_id for i in waiting.values() if i.lab_id}
    deadline = time.monotonic() + timeout
    remaining = {d for d, i in waiting.items() if i.status != "anchored"}
    on_progress(len(waiting) - len(remaining))
    while remaining:
        pending: set[str] = set()
        failed: dict[str, str | None] = {}
        for lab in labs:
            for status in ("pending", "waiting", "failed"):
                for row in _listing(client, lab, status):
                    if status == "failed":
                        failed[row["digest"]] = (row.get("reason") or {}).get("message") or row.get("error")
                        continue
                    pending.add(row["digest"])
                    if status == "waiting" and row["digest"] in waiting:
                        waiting[row["digest"]].status = "waiting"
                        waiting[row["digest"]].message = (row.get("reason") or {}).get("message")
        for digest in list(remaining):
            if digest in failed:
                waiting[digest].status = "failed"
                waiting[digest].message = failed[digest]
                remaining.discard(digest)
            elif digest not in pending:
                waiting[digest].status = "anchored"
                remaining.discard(digest)
        on_progress(len(waiting) - len(remaining))
        if not remaining or time.monotonic() > deadline:
            break
        time.sleep(0.3)


def _listing(client: RegistryClient, lab_id: str, status: str) -> Iterator[dict[str, Any]]:
    cursor: Any = None
    while True:
        page = client.certificates(lab_id=lab_id, status=status, cursor=cursor, limit=1000)
        yield from page.get("items", [])
        cursor = page.get("next_cursor")
        if not cursor:
            return


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _key_passphrase() -> bytes:
    """The lab's key file passphrase: from the environment, else asked for."""
    env = os.environ.get(KEY_PASSPHRASE_ENV)
    if env:
        return env.encode("utf-8")
    text: str = typer.prompt("Key passphrase", hide_input=True)
    return text.encode("utf-8")


def _replaced_resolver(client: RegistryClient) -> Callable[[str, str], str | None]:
    """The digest of the lab's certificate with a number, as the registry knows it (None when it knows none):
    how a DCC that substitutes a report by number finds the certificate it replaces."""

    def resolve(lab_id: str, number: str) -> str | None:
        try:
            found = client.certificate_by_number(lab_id, number)
        except RegistryClientError as exc:
            if exc.status == 404:
                return None
            raise
        digest = found.get("digest")
        return digest if isinstance(digest, str) else None

    return resolve


def _date_option(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise usage_error(f"{option} must be YYYY-MM-DD") from None


def issue(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Record JSON files, DCC XML files, CSV files, or folders (searched recursively)."),
    ],
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
    sign_with: Annotated[
        Path | None,
        typer.Option(
            "--sign-with",
            exists=True,
            dir_okay=False,
            help=f"Sign locally with the lab's key file (lab-signing mode); passphrase from ${KEY_PASSPHRASE_ENV}.",
        ),
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="Publish every certificate (anyone may download its proof bundle): for reference standards' "
            "certificates. Also publishes those the registry had already; never unpublishes.",
        ),
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until every certificate is anchored.")] = False,
    wait_timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 300.0,
    chunk_size: Annotated[int, typer.Option(min=1, max=1000, help="Records per bulk request.")] = 500,
    retry_for: Annotated[
        float,
        typer.Option(
            min=0,
            help="While the registry cannot ask the chain (503 CHAIN_UNAVAILABLE), retry for at most this many "
            "seconds, waiting what its Retry-After says.",
        ),
    ] = 120.0,
    lab_code: Annotated[str | None, typer.Option(help="DCC: the issuing lab's code (lab id derives from it).")] = None,
    lab_name: Annotated[
        str | None,
        typer.Option(help="DCC: the issuing lab's name as registered on chain, if the DCC writes it otherwise."),
    ] = None,
    issue_date: Annotated[str | None, typer.Option(help="DCC: issue date YYYY-MM-DD (a DCC has none).")] = None,
    category_code: Annotated[str | None, typer.Option(help="DCC: instrument category code.")] = None,
    kind: Annotated[str | None, typer.Option(help="DCC: record kind (default CALIBRATION).")] = None,
    valid_until: Annotated[str | None, typer.Option(help="DCC: YYYY-MM-DD.")] = None,
    authorization_number: Annotated[str | None, typer.Option(help="DCC: 授权证书号.")] = None,
    customer_usci: Annotated[str | None, typer.Option(help="DCC: customer's unified social credit code.")] = None,
    method_reference: Annotated[str | None, typer.Option(help="DCC: e.g. JJF 1033-2023.")] = None,
    mandatory_verification: Annotated[
        bool | None, typer.Option("--mandatory-verification/--not-mandatory", help="DCC: 强检 or not.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome of every certificate as JSON.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every certificate, not only refusals.")
    ] = False,
) -> None:
    """Issue certificates through the registry: records are sent in bulk, DCC files one by one with the XML.

    \b
    Inputs:
      *.json  one record object, or an array of records
      *.xml   a PTB DCC (3.0.0 to 3.3.0, signed or not), imported with the --lab-code, --issue-date, ...
              options; a DCC that substitutes an earlier report by number (reportAmendedSubstituted) becomes a
              substitution of the lab's certificate with that number
      *.csv   one record per row; the header row names record fields by dotted path, arrays by index:
                certificate_number,kind,dates.performance_begin,dates.performance_end,dates.issue_date,
                item.name,item.category_code,item.serial_number,customer.name,lab.lab_id,lab.name,
                persons.0.name,persons.0.role,method.reference,results.0.quantity,results.0.value,results.0.unit,
                results.0.expanded_uncertainty,results.0.coverage_factor,...
              empty cells are left out; every value is text (numbers as written, e.g. 0.10), except
              customer.mandatory_verification: true/false. Refusals name the file and line.

    Without --sign-with the registry signs with the key it holds for the lab. With --public anyone may download
    the certificates' proof bundles (certificates of reference standards, which verifiers of the certificates
    they calibrate must fetch). While the registry cannot ask the chain (503) the requests are sent again, as its
    Retry-After says, for at most --retry-for seconds; running the command again is always safe (certificates
    already accepted come back as existing, failed ones are queued again). Exit code 1 when any certificate was
    refused or not sent (or, with --wait, not anchored).
    """
    with reporting_errors():
        if not token:
            raise usage_error("give the lab's API token: --token or $TRACECERT_TOKEN")
        if kind is not None and kind not in Kind.__members__:
            raise usage_error(f"--kind must be one of {', '.join(Kind.__members__)}")
        overrides = DccOverrides(
            kind=Kind(kind) if kind else None,
            issue_date=_date_option(issue_date, "--issue-date"),
            valid_until=_date_option(valid_until, "--valid-until"),
            category_code=category_code,
            lab_code=lab_code,
            lab_name=lab_name,
            authorization_number=authorization_number,
            customer_usci=customer_usci,
            mandatory_verification=mandatory_verification,
            method_reference=method_reference,
        )
        with RegistryClient(registry, token) as client:
            items = read_items(paths, overrides, resolve_replaced=_replaced_resolver(client))
        if not items:
            raise usage_error("no certificates found (.json, .xml or .csv)")
        if sign_with is not None:
            sign_items(items, load_key_file(sign_with, _key_passphrase()))
        fatal: RegistryClientError | None = None
        with RegistryClient(registry, token) as client, _progress() as progress:
            task = progress.add_task("issuing", total=len(items))
            try:
                send_items(
                    client,
                    items,
                    chunk_size=chunk_size,
                    advance=lambda n: progress.advance(task, n),
                    public=public,
                    retry_for=retry_for,
                )
            except RegistryClientError as exc:
                fatal = exc
            if wait and fatal is None:
                waited = sum(1 for i in items if i.digest)
                anchor_task = progress.add_task("anchoring", total=waited)
                try:
                    wait_anchored(
                        client, items, wait_timeout, lambda done: progress.update(anchor_task, completed=done)
                    )
                except RegistryClientError as exc:
                    fatal = exc
        _report(items, as_json=as_json, verbose=verbose, waited=wait)
        if fatal is not None:
            raise CliError(fatal.code, fatal.message, details=fatal.details)
        refused = any(i.outcome == "refused" for i in items)
        unanchored = wait and any(i.digest and i.status != "anchored" for i in items)
        if refused or unanchored:
            raise typer.Exit(1)


def _report(items: Sequence[Item], *, as_json: bool, verbose: bool, waited: bool) -> None:
    counts = {k: sum(1 for i in items if i.outcome == k) for k in ("accepted", "existing", "refused", "pending")}
    if as_json:
        summary = {
            "accepted": counts["accepted"],
            "existing": counts["existing"],
            "refused": counts["refused"],
            "not_sent": counts["pending"],
            "items": [i.to_dict() for i in items],
        }
        if waited:
            summary["anchored"] = sum(1 for i in items if i.status == "anchored")
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title="tracecert issue", show_header=False)
    table.add_row("accepted", str(counts["accepted"]))
    table.add_row("already there", str(counts["existing"]))
    table.add_row("refused", str(counts["refused"]))
    published = sum(1 for i in items if i.public)
    if published:
        table.add_row("public", str(published))
    if counts["pending"]:
        table.add_row("not sent", str(counts["pending"]))
    if waited:
        table.add_row("anchored", str(sum(1 for i in items if i.status == "anchored")))
        failed = sum(1 for i in items if i.digest and i.status != "anchored")
        if failed:
            table.add_row("not anchored", str(failed))
    console.print(table)
    refused = [i for i in items if i.outcome == "refused"]
    if refused:
        console.print("refused (source, certificate number, code: reason):", markup=False)
        for item in refused:
            console.print(f"  {item.source}  {item.number or '-'}  {item.code}: {item.message}", markup=False)
            for line in detail_lines(item.details)[:5]:
                console.print(f"      {line}", markup=False)
    if verbose:
        rows = Table("source", "certificate", "outcome", "digest", "status", title="certificates")
        for item in items:
            if item.outcome != "refused":
                rows.add_row(item.source, item.number, item.outcome, item.digest or "", item.status or "")
        console.print(rows)


# ====================================================================== tracecert publish / revoke / status

_DIGEST = re.compile(r"0x[0-9a-f]{64}")
_PUBLISH_FATAL = ("UNAUTHORIZED", "REGISTRY_UNREACHABLE")


def publish(
    digests: Annotated[list[str], typer.Argument(help="Certificate digests (0x + 64 hex).")],
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome of every digest as JSON.")] = False,
) -> None:
    """Publish certificates (their lab, or a regulator over the lab): anyone may then download their proof
    bundles, e.g. the certificates of reference standards that others' certificates cite. Publishing again changes
    nothing; a published certificate is never made private again. Exit code 1 when any digest was refused."""
    with reporting_errors():
        if not token:
            raise usage_error("give an API token: --token or $TRACECERT_TOKEN")
        wanted = list(dict.fromkeys(d.strip().lower() for d in digests))
        bad = [d for d in wanted if not _DIGEST.fullmatch(d)]
        if bad:
            raise usage_error(f"not a certificate digest (0x + 64 hex): {', '.join(bad)}")
        outcomes: list[dict[str, Any]] = []
        with RegistryClient(registry, token) as client:
            for digest in wanted:
                try:
                    view = with_retries(lambda d=digest: client.publish(d))  # type: ignore[misc]
                except RegistryClientError as exc:
                    if exc.code in _PUBLISH_FATAL:
                        raise
                    outcomes.append({"digest": digest, "outcome": "refused", **exc.to_dict()})
                    continue
                outcomes.append({"digest": digest, "outcome": "published", "status": view.get("status")})
        refused = [o for o in outcomes if o["outcome"] == "refused"]
        if as_json:
            summary = {"published": len(outcomes) - len(refused), "refused": len(refused), "items": outcomes}
            typer.echo(json.dumps(summary, ensure_ascii=False))
        else:
            for o in outcomes:
                if o["outcome"] == "published":
                    console.print(f"published    {o['digest']} ({o['status']})", markup=False)
                else:
                    print_error(o["code"], f"{o['digest']}: {o['message']}", o.get("details"))
        if refused:
            raise typer.Exit(1)


def parse_reason(value: str) -> RevocationReason:
    """A revocation reason by name (``error-in-content``, ``FRAUD``) or code (``1``).

    Raises:
        CliError: USAGE for an unknown reason.
    """
    text = value.strip().upper().replace("-", "_")
    try:
        return RevocationReason(int(text)) if text.isdigit() else RevocationReason[text]
    except (KeyError, ValueError):
        names = ", ".join(r.name for r in RevocationReason)
        raise usage_error(f"--reason must be one of {names}") from None


def revoke(
    digest: Annotated[str, typer.Argument(help="The certificate digest (0x + 64 hex).")],
    reason: Annotated[
        str,
        typer.Option(
            help="ERROR_IN_CONTENT, KEY_COMPROMISE, SUPERSEDED, FRAUD, INSTRUMENT_WITHDRAWN, LAB_REQUEST, "
            "REGULATOR_ORDER (or its code)."
        ),
    ],
    effective_time: Annotated[
        str | None,
        typer.Option(help="From when it is void: YYYY-MM-DD, ISO date-time or Unix seconds (default: now)."),
    ] = None,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Revoke a certificate (its lab, or a regulator over the lab); the registry puts it on chain."""
    with reporting_errors():
        if not token:
            raise usage_error("give an API token: --token or $TRACECERT_TOKEN")
        why = parse_reason(reason)
        when = parse_time(effective_time) if effective_time else None
        with RegistryClient(registry, token) as client:
            answer = client.revoke(digest.lower(), why.name, when)
        if as_json:
            typer.echo(json.dumps(answer, ensure_ascii=False))
            return
        console.print(f"revocation   {digest.lower()}: {why.name} ({answer.get('state', 'pending')})")


def status(
    digest: Annotated[str | None, typer.Argument(help="The certificate digest.")] = None,
    lab: Annotated[str | None, typer.Option("--lab", help="With --number: the lab's id or code.")] = None,
    number: Annotated[str | None, typer.Option("--number", help="The certificate number.")] = None,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry's answer as JSON.")] = False,
) -> None:
    """Show a certificate's status in the registry: by digest, or by --lab and --number."""
    with reporting_errors():
        if (digest is None) == (lab is None or number is None):
            raise usage_error("give a DIGEST, or --lab and --number")
        with RegistryClient(registry, token) as client:
            if digest is not None:
                view = client.certificate(digest.lower())
            else:
                assert lab is not None and number is not None
                view = client.certificate_by_number(to_hex(lab_ref(lab)[0]), number)
        if as_json:
            typer.echo(json.dumps(view, ensure_ascii=False))
            return
        for line in status_lines(view):
            console.print(line, markup=False)


def status_lines(view: Mapping[str, Any]) -> list[str]:
    """A certificate view as plain lines. The status says what the certificate is worth now: a certificate revoked
    or substituted on chain reads so, not "anchored" (that it was anchored follows on the batch line)."""
    op = view.get("lifecycle")
    status = str(view.get("status"))
    if op and op.get("state") == "done" and op.get("op") in ("revoke", "substitute"):
        effective = op.get("effective_time")
        now = dt.datetime.now(dt.UTC).timestamp()
        if not effective or effective <= now:
            status = "revoked" if op["op"] == "revoke" else "substituted"
            if op["op"] == "revoke":
                status += f" ({reason_text(op.get('reason'))})"
            status += f" — was {view.get('status')}"
    lines = [
        f"digest       {view.get('digest')}",
        f"certificate  {view.get('certificate_number') or '(withheld)'} ({view.get('kind')}, category "
        + category(str(view.get("category_code")))
        + (f", serial {view['serial_number']}" if view.get("serial_number") else "")
        + ")",
        f"lab          {view.get('lab_id')}",
        f"issued       {view.get('issue_date')}",
        f"status       {status}" + (f" ({view['error']})" if view.get("error") else ""),
    ]
    reason = view.get("reason")
    if isinstance(reason, Mapping) and reason.get("message"):
        lines.append(f"reason       {reason['message']}")
    if view.get("superseded_by"):
        lines.append(f"superseded   by {view['superseded_by']} (same number; this one never reached the chain)")
    if "public" in view:
        lines.append(f"public       {'yes (anyone may download its bundle)' if view['public'] else 'no'}")
    batch = view.get("batch")
    if batch:
        lines.append(
            f"batch        {batch.get('root')} leaf {batch.get('leaf_index')} of {batch.get('size')}"
            + (f", block {batch['block_number']}" if batch.get("block_number") is not None else "")
        )
        if batch.get("tx_hash"):
            lines.append(f"anchor tx    {batch['tx_hash']} at {show_time(batch.get('block_timestamp'))}")
    if view.get("replaces"):
        lines.append(f"replaces     {view['replaces']}")
    if op:
        what = "revoked" if op.get("op") == "revoke" else "substituted"
        text = f"{what:<12} {reason_text(op.get('reason')) if op.get('op') == 'revoke' else ''}".rstrip()
        if op.get("replaced_by"):
            text += f" by {op['replaced_by']}"
        if op.get("effective_time"):
            text += f", effective {show_time(op['effective_time'])}"
        text += f" [{op.get('state')}" + (f", tx {op['tx_hash']}" if op.get("tx_hash") else "") + "]"
        lines.append(text)
    lines.append(f"signed by    {view.get('signed_by')} (key {view.get('key_id')})")
    return lines
