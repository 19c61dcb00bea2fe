"""What enterprises (and the regulators confirming them) do from the command line, over the registry's API:
``tracecert enterprise register|confirm|pending``, ``tracecert instruments import|list`` (the 强检器具备案
register: CSV, Excel or JSON, all rows or none, each failing row named), ``tracecert coverage`` (a region's 检定率,
or its CSV/Excel file), and ``tracecert alerts|watch|webhook`` (what it watches and hears)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from registry.cli.common import HEX32, console, reporting_errors, usage_error
from registry.cli.lab import RegistryUrl
from registry.client import DEFAULT_REGISTRY_URL, RegistryClient
from registry.instruments import XLSX

__all__ = [
    "alerts",
    "confirm",
    "coverage",
    "import_register",
    "list_register",
    "pending",
    "register",
    "watch",
    "webhook",
]

Token = Annotated[
    str | None, typer.Option("--token", envvar="TRACECERT_TOKEN", help="The enterprise's (or a regulator's) token.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the registry's answer as JSON.")]
_MEDIA = {".csv": "text/csv", ".xlsx": XLSX, ".json": "application/json"}


def _print(answer: Any, as_json: bool) -> bool:
    if as_json:
        typer.echo(json.dumps(answer, ensure_ascii=False))
    return as_json


def register(
    usci: Annotated[str, typer.Argument(help="统一社会信用代码 (18 characters).")],
    name: Annotated[str, typer.Argument(help="The enterprise's registered name.")],
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Annotated[
        str | None, typer.Option("--token", envvar="TRACECERT_TOKEN", help="A regulator's token (onboarding).")
    ] = None,
) -> None:
    """Register an enterprise: without a token by itself (it may read now, and write once a regulator over its
    region confirms it), with a regulator's token onboarded at once. Prints its token once: keep it."""
    with reporting_errors(), RegistryClient(registry, token) as client:
        answer = client.register_enterprise(usci, name)
        if _print(answer, as_json):
            return
        ent = answer["enterprise"]
        console.print(f"enterprise   {ent['name']} {ent['usci']} (region {ent['region']})", markup=False)
        console.print(f"state        {ent['state_name']['zh']} / {ent['state_name']['en']}", markup=False)
        if answer["token"]:
            console.print(f"token        {answer['token']}  (shown once: keep it)", markup=False)


def confirm(
    usci: Annotated[str, typer.Argument(help="The enterprise's USCI.")],
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
) -> None:
    """Confirm a self-registered enterprise of your region (a regulator)."""
    with reporting_errors(), RegistryClient(registry, token) as client:
        ent = client.confirm_enterprise(usci)
        if not _print(ent, as_json):
            console.print(f"confirmed    {ent['name']} {ent['usci']} by {ent['confirmed_by']}", markup=False)


def pending(as_json: AsJson = False, registry: RegistryUrl = DEFAULT_REGISTRY_URL, token: Token = None) -> None:
    """The self-registered enterprises of your region waiting for confirmation (a regulator)."""
    with reporting_errors(), RegistryClient(registry, token) as client:
        answer = client.enterprises("PENDING")
        if _print(answer, as_json):
            return
        for ent in answer["items"]:
            console.print(f"{ent['usci']}  {ent['name']}  registered {ent['registered_at']}", markup=False)
        console.print(f"{len(answer['items'])} waiting", markup=False)


def import_register(
    file: Annotated[Path, typer.Argument(help="The register: .csv (UTF-8), .xlsx, or .json ({instruments: [...]}).")],
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
) -> None:
    """Register instruments from a table (Chinese or English headings): all rows or none; a refusal names each
    failing row and field. Sending the same file again changes nothing."""
    with reporting_errors():
        media = _MEDIA.get(file.suffix.lower())
        if media is None:
            raise usage_error(f"{file}: a register is {', '.join(_MEDIA)}")
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise usage_error(f"{file}: {exc.strerror or exc}") from exc
        with RegistryClient(registry, token) as client:
            answer = client.register_instruments(content, media)
        if not _print(answer, as_json):
            console.print(
                f"registered   {answer['created']} new, {answer['updated']} updated, {answer['unchanged']} unchanged",
                markup=False,
            )


def change_site(
    site_id: Annotated[str, typer.Argument(help="The site's identifier (on its page and QR code: /s/{id}).")],
    name: Annotated[str | None, typer.Option("--name", help="Its new name.")] = None,
    region: Annotated[int | None, typer.Option("--region", help="Its GB/T 2260 region code, corrected.")] = None,
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
) -> None:
    """Rename a site or correct its region, keeping its page and the QR code printed on its posters (importing the
    register under a new site name would make a new site)."""
    with reporting_errors():
        if name is None and region is None:
            raise usage_error("give --name, --region or both")
        with RegistryClient(registry, token) as client:
            answer = client.change_site(site_id, name=name, region=region)
        if not _print(answer, as_json):
            console.print(f"site         {answer['id']}  {answer['name']}  region {answer['region']}", markup=False)


def list_register(
    usci: Annotated[str | None, typer.Option("--usci", help="The enterprise (regulators).")] = None,
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
) -> None:
    """The register: each instrument with its state (在有效期内 / 检定不合格 / 超期未检 / 从未检定) and due date."""
    with reporting_errors(), RegistryClient(registry, token) as client:
        answer = client.instruments(usci)
        if _print(answer, as_json):
            return
        for i in answer["instruments"]:
            due = i["due"]
            soon = "  (due soon)" if due["due_soon"] else ""
            console.print(
                f"{i['id']:>6}  {i['category']}  {i['manufacturer']} {i['model']} #{i['serial_number']}  "
                f"{i['site']['name']}  {due['state_name']['zh']} / {due['state_name']['en']}  "
                f"due {due['due_date'] or '-'}{soon}",
                markup=False,
            )


def coverage(
    region: Annotated[int, typer.Option("--region", help="GB/T 2260 code (0: the nation).")],
    on: Annotated[str | None, typer.Option("--on", help="The day (YYYY-MM-DD; default today).")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write a .csv or .xlsx file with the overdue list.")] = None,
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
) -> None:
    """A region's coverage (检定率) of instruments under mandatory verification, by category and sub-region."""
    with reporting_errors():
        fmt = out.suffix.lower().lstrip(".") if out is not None else None
        if fmt is not None and fmt not in ("csv", "xlsx"):
            raise usage_error(f"--out {out}: a .csv or .xlsx file")
        with RegistryClient(registry, token) as client:
            answer = client.coverage(region, on=on, category=category)
            if out is not None and fmt is not None:
                out.write_bytes(client.coverage_file(region, fmt, on=on, category=category))
        if _print(answer, as_json):
            return
        for line in coverage_lines(answer):
            console.print(line, markup=False)
        if out is not None:
            console.print(f"exported     {out}", markup=False)


def _rate(r: dict[str, Any]) -> str:
    rate = "-" if r["rate"] is None else f"{r['rate'] * 100:.1f}%"
    return (
        f"registered {r['registered']}, in force {r['in_force']}, overdue {r['overdue']}, failed {r['failed']}, "
        f"never verified {r['never_verified']}: 检定率 {rate}"
    )


def coverage_lines(answer: dict[str, Any]) -> list[str]:
    """A coverage answer as plain lines."""
    lines = [f"region {answer['region']} on {answer['on']}: {_rate(answer['totals'])}"]
    lines += [f"  {c['category']}: {_rate(c)}" for c in answer["by_category"]]
    lines += [f"  region {r['region']}: {_rate(r)}" for r in answer["by_region"]]
    return lines


def watch(
    digests: Annotated[list[str], typer.Argument(help="Certificates to watch (0x + 64 hex).")],
    note: Annotated[str, typer.Option("--note", help="Why (a supplier's name).")] = "",
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
) -> None:
    """Watch certificates you rely on: hear when they (or what they depend on) are revoked, substituted, about to
    expire, or their lab is suspended or sanctioned."""
    with reporting_errors():
        bad = [d for d in digests if not HEX32.fullmatch(d)]
        if bad:
            raise usage_error(f"not certificate digests (0x + 64 hex): {', '.join(bad)}")
        with RegistryClient(registry, token) as client:
            answer = client.watch([d.lower() for d in digests], note)
        if not _print(answer, as_json):
            console.print(f"watching     {answer['watching']} ({answer['added']} added)", markup=False)


def webhook(
    url: Annotated[str, typer.Argument(help="Where to post alerts (http or https).")],
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
) -> None:
    """Have alerts posted to a URL, signed with the key at GET /v1/alerts/key."""
    with reporting_errors(), RegistryClient(registry, token) as client:
        answer = client.add_webhook(url)
        if not _print(answer, as_json):
            console.print(f"webhook      {answer['id']} {answer['url']}", markup=False)


def alerts(
    after: Annotated[int, typer.Option("--after", help="Only alerts after this id (the last one you saw).")] = 0,
    as_json: AsJson = False,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Token = None,
) -> None:
    """Your alerts after an id, oldest first (the feed)."""
    with reporting_errors(), RegistryClient(registry, token) as client:
        answer = client.alerts(after)
        if _print(answer, as_json):
            return
        for a in answer["items"]:
            what = a["event"].get("certificate", {}).get("certificate_number") or a["event"].get("lab_id", "")
            console.print(
                f"{a['id']:>6}  {a['created_at']}  {a['type_name']['zh']} / {a['type_name']['en']}  {what}  "
                f"({len(a['affected'])} of yours)",
                markup=False,
            )
        console.print(f"last id      {answer['last_id']}", markup=False)
