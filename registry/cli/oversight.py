"""What a regulator reads from the registry about the labs it is over: ``tracecert impact DIGEST`` (everything that
depends on a standard's certificate, transitively, as a list or a CSV export), ``tracecert scan`` (anomalies found
in the ledger over a period) and ``tracecert signals`` (fraud signals: a reused number, a standard revoked under
certificates in force). Both speak to the registry's API with
a regulator's (or, for the impact, a lab's) token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from registry.cli.common import HEX32, category, console, reporting_errors, usage_error
from registry.cli.lab import RegistryUrl
from registry.client import DEFAULT_REGISTRY_URL, RegistryClient
from tracecert.human import local_time, parse_moment

__all__ = ["impact", "scan", "signals"]


RegulatorToken = Annotated[
    str | None, typer.Option("--token", envvar="TRACECERT_TOKEN", help="A regulator's API token (or a lab's).")
]

#: How each kind of fraud signal reads.
SIGNAL_NAMES = {
    "NUMBER_REUSE": ("证书编号重复使用", "certificate number reused"),
    "STANDARD_REVOKED": ("所依据的计量标准证书已撤销", "a standard's certificate it depends on was revoked"),
}


def impact(
    digest: Annotated[str, typer.Argument(help="The certificate of a standard (0x + 64 hex).")],
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write the dependents to this CSV file (UTF-8, opens in Excel).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry's answer as JSON.")] = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: RegulatorToken = None,
) -> None:
    """Downstream impact (影响范围): every certificate that depends on a standard's certificate, transitively, with
    its lab, owner and validity — what a revoked or suspect standard puts in doubt."""
    with reporting_errors():
        if not HEX32.fullmatch(digest):
            raise usage_error(f"{digest!r} is not a certificate digest (0x + 64 hex)")
        with RegistryClient(registry, token) as client:
            answer = client.dependents(digest.lower())
            if csv_file is not None:
                csv_file.write_bytes(client.dependents_csv(digest.lower()))
        if as_json:
            typer.echo(json.dumps(answer, ensure_ascii=False))
            return
        for line in impact_lines(answer):
            console.print(line)
        if csv_file is not None:
            console.print(f"exported     {csv_file}")


def impact_lines(answer: dict[str, Any]) -> list[str]:
    """An impact answer as plain lines: the counts, then one line per dependent, nearest first."""
    lines = [
        f"standard     {answer['digest']}",
        f"dependents   {answer['total']} in all, {len(answer['dependents'])} shown "
        f"({answer['in_force']} in force), {answer['withheld']} of labs you are not over",
    ]
    for d in answer["dependents"]:
        state = "in force" if d["in_force"] else "revoked/substituted" if d["revoked_or_substituted"] else d["status"]
        lines.append(
            f"  {'  ' * (d['depth'] - 1)}{d['certificate_number']:<18} {category(d['category_code'])}"
            + (f" #{d['serial_number']}" if d["serial_number"] else "")
            + f"  owner {d['customer'] or '-'}  valid until {d['valid_until'] or '-'}  [{state}]  {d['digest']}"
        )
    return lines


def signals(
    lab: Annotated[str | None, typer.Option("--lab", help="Only this lab's (0x + 64 hex).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry's answers as JSON.")] = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: RegulatorToken = None,
) -> None:
    """Fraud signals of the labs the regulator is over, oldest first: every page, each signal by its name."""
    with reporting_errors():
        if lab is not None and not HEX32.fullmatch(lab):
            raise usage_error(f"--lab {lab!r} is not a lab id (0x + 64 hex)")
        items: list[dict[str, Any]] = []
        cursor: int | None = None
        with RegistryClient(registry, token) as client:
            while True:
                page = client.fraud_signals(lab_id=lab.lower() if lab else None, cursor=cursor)
                items += page["items"]
                cursor = page.get("next_cursor")
                if cursor is None:
                    break
        if as_json:
            typer.echo(json.dumps(items, ensure_ascii=False))
            return
        console.print(f"signals      {len(items)}")
        for s in items:
            zh, en = SIGNAL_NAMES.get(s["kind"], (s["kind"], s["kind"]))
            console.print(
                f"  #{s['id']} {zh} / {en}: lab {s['lab_id']} certificate {s['certificate_number']} "
                f"({s['attempted_digest']}; about {s['existing_digest']}), {_when(s['created_at'])}"
            )


def _when(iso: str | None) -> str:
    """An ISO time from the registry as a person reads it (China time)."""
    return "-" if not iso else local_time(parse_moment(iso)[0])


def scan(
    since: Annotated[str | None, typer.Option(help="First issue date scanned (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Last issue date scanned (YYYY-MM-DD).")] = None,
    lab: Annotated[str | None, typer.Option("--lab", help="Only this lab (0x + 64 hex).")] = None,
    code: Annotated[str | None, typer.Option(help="Only findings of this code, e.g. BACKDATED.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry's answer as JSON.")] = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: RegulatorToken = None,
) -> None:
    """Scan the ledger of the labs the regulator is over for anomalies (backdating, overused standards and
    performers, expired, revoked or borrowed standards, calibrations passed off as verifications, copied results,
    reused numbers): each finding by its name, with the certificates concerned and what triggered it."""
    with reporting_errors():
        if lab is not None and not HEX32.fullmatch(lab):
            raise usage_error(f"--lab {lab!r} is not a lab id (0x + 64 hex)")
        with RegistryClient(registry, token) as client:
            answer = client.anomalies(since=since, until=until, lab_id=lab.lower() if lab else None, code=code)
        if as_json:
            typer.echo(json.dumps(answer, ensure_ascii=False))
            return
        period = f"{answer['since'] or 'the beginning'} .. {answer['until'] or 'today'}"
        console.print(f"scanned      {len(answer['labs'])} labs, issued {period}")
        console.print(f"findings     {answer['count']}" + "".join(f", {c} {n}" for c, n in answer["by_code"].items()))
        for f in answer["findings"]:
            evidence = ", ".join(f"{k} {v}" for k, v in f["evidence"].items() if not isinstance(v, list | dict))
            console.print(f"  {f['severity']:<7} {f['code']}: {f['zh']} / {f['en']}")
            console.print(f"          lab {f['lab_id']}; {len(f['digests'])} certificate(s); {evidence}")
