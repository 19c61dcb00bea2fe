"""The regulators' side of ``tracecert verifier``, for anyone (一公开): what :mod:`verifier.oversight` serves.

``tracecert verifier credit SUBJECT``: the public credit record of a lab or an enterprise (``GET /v1/credit/…``);
``tracecert verifier labs [filters]``: the lab directory (``GET /v1/labs``); ``tracecert verifier lab LAB``: one lab's
whole history (``GET /v1/labs/{lab_id}``). The directory is read from the verifier's own index in the data
directory (``verifier-index.sqlite``, kept by ``tracecert verifier serve``); without one it is built from the chain
first.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from tracecert.chain.client import ChainClient
from tracecert.chain.errors import ChainUnavailable
from tracecert.human import speaks_chinese
from tracecert.service_errors import ServiceError
from verifier.bootstrap import build_verifier, open_index, resolve_deployment
from verifier.config import VerifierSettings
from verifier.credit import credit_answer
from verifier.errors import SetupError
from verifier.inputs import parse_as_of, parse_lab, parse_subject
from verifier.labs import MAX_EXPIRING_WITHIN_DAYS, directory_answer, index_of, lab_answer, parse_filters

if TYPE_CHECKING:
    from verifier.index.core import Index

__all__ = ["credit_command", "lab_command", "labs_command", "register"]

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

USAGE_ERROR = 2

RpcUrl = Annotated[
    str | None,
    typer.Option(
        "--rpc-url", help="Chain JSON-RPC URL (default $TRACECERT_VERIFIER_RPC_URL / $TRACECERT_CHAIN_RPC_URL)."
    ),
]
DeploymentFile = Annotated[
    Path | None, typer.Option("--deployment", help="Deployment file (default {data dir}/deployment.json).")
]
TrustAuthority = Annotated[
    list[str] | None,
    typer.Option("--trust-authority", help="Address of a national authority trusted as the root of the deployment; "
                 "repeatable."),
]  # fmt: skip
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default $TRACECERT_DATA_DIR or .tracecert).")
]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="The labs' state at this moment instead of now: YYYY-MM-DD (end of that day, UTC+8), "
                 "an ISO date-time, or unix seconds."),
]  # fmt: skip


def _lang() -> str:
    return "zh" if speaks_chinese() else "en"


def _fail(exc: ServiceError, json_output: bool, status: int) -> NoReturn:
    """Say what went wrong (its code first; with ``--json`` also the API's error body on stdout) and exit."""
    if json_output:
        sys.stdout.write(json.dumps(exc.to_body(), ensure_ascii=False) + "\n")
    err.print(Text("error: ", style="bold red") + Text(f"{exc.code}: {exc.message}"))
    raise typer.Exit(status)


def _settings(json_output: bool, **overrides: Any) -> VerifierSettings:
    try:
        return VerifierSettings(**{k: v for k, v in overrides.items() if v not in (None, [], ())})
    except ValueError as exc:
        _fail(ServiceError(f"bad setting: {exc}", code="BAD_SETTING"), json_output, USAGE_ERROR)


def _answer(json_output: bool, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work``'s answer; its refusals said by code: exit 2 for a chain or deployment that cannot be used, 1 else."""
    try:
        return work()
    except SetupError as exc:
        _fail(exc, json_output, USAGE_ERROR)
    except ChainUnavailable as exc:
        _fail(SetupError(f"the chain node does not answer: {exc}"), json_output, USAGE_ERROR)
    except ServiceError as exc:
        _fail(exc, json_output, 1)


def _print(answer: dict[str, Any], json_output: bool, human: Callable[[dict[str, Any]], None]) -> None:
    if json_output:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False, indent=2) + "\n")
    else:
        human(answer)


@contextmanager
def _index(settings: VerifierSettings) -> Iterator[Index]:
    """The verifier's index in the data directory, caught up with the chain once (built first when there is none).

    Raises:
        SetupError: NO_RPC_URL, NO_DEPLOYMENT, UNTRUSTED_DEPLOYMENT, NO_INDEX, CHAIN_UNAVAILABLE.
    """
    if not settings.rpc_url:
        raise SetupError(
            "no chain RPC URL (set TRACECERT_VERIFIER_RPC_URL or TRACECERT_CHAIN_RPC_URL, or --rpc-url): the "
            "directory is read from the verifier's index, which is kept up to date from the chain",
            code="NO_RPC_URL",
        )
    client = ChainClient(settings.rpc_url, timeout=settings.rpc_timeout)
    deployment = resolve_deployment(client, settings)
    if not settings.index_path.exists():
        err.print(
            f"note: no index at {settings.index_path} yet: building it from the chain (every event is read once; "
            "`tracecert verifier serve` keeps it up to date)",
            markup=False,
        )
    view, close = open_index(settings, client, deployment, follow=False)
    try:
        yield index_of(view)
    finally:
        close()


# ---------------------------------------------------------------------------------------------------- credit


def credit_command(
    subject: Annotated[
        str,
        typer.Argument(
            help="A lab id (0x + 64 hex digits) or an enterprise's unified social credit code (18 characters).",
            show_default=False,
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the answer as JSON (what GET /v1/credit/{subject} answers).")
    ] = False,
    rpc_url: RpcUrl = None,
    deployment: DeploymentFile = None,
    trust_authority: TrustAuthority = None,
    data_dir: DataDir = None,
) -> None:
    """The public credit record (计量信用记录) of a lab or an enterprise: its grade now and every entry.

    Exit status 0: the record was read (whatever the grade).

    Exit status 1: no lab has this id (UNKNOWN_LAB), or the deployment has no credit record
    (CREDIT_RECORD_UNAVAILABLE).

    Exit status 2: usage error (not a lab id or USCI, no chain or deployment).
    """
    try:
        who = parse_subject(subject)
    except ServiceError as exc:
        _fail(exc, json_output, USAGE_ERROR)
    settings = _settings(
        json_output, rpc_url=rpc_url, data_dir=data_dir, deployment_file=deployment, trusted_authorities=trust_authority
    )

    def work() -> dict[str, Any]:
        verifier = build_verifier(settings)
        return credit_answer(verifier.chain, verifier.policy, who)

    _print(_answer(json_output, work), json_output, _print_credit)


#: The words of the answers, in the user's language (the names of codes are shown in both).
_WORDS = {
    "zh": {
        "grade": "信用等级",
        "as_of": "截至",
        "entries": "信用记录（{n} 条）：",
        "none": "信用记录：无",
        "in_force": "生效中",
        "lifted_by": "已由 #{i} 解除",
        "lifts": "解除 #{i}",
        "reason": "原因：",
        "case": "案号：",
        "window": "{start} 起至 {until}",
        "open": "{start} 起，直至解除",
        "lifting": "{start} 起生效",
        "recorded": "记录于 {at}，记录人 {by}",
        "directory": "机构名录（截至 {at}，共 {n} 家）",
        "jurisdiction": "辖区 {code}",
        "credit_grade": "信用 {grade}",
        "no_credit": "无信用记录",
        "authorization": "授权 {number}：{start} 至 {until}",
        "no_authorization": "无授权记录",
        "scope": "范围：",
        "certificates": "已存证证书 {n} 张",
        "registered": "登记：{at}，登记机关 {by}",
        "authorizations": "授权（{n} 项）：",
        "statuses": "状态变更：",
        "by": "操作人 {by}",
        "keys": "签名密钥：",
        "key_open": "{start} 起，未关闭",
        "key_closed": "{start} 至 {until}（关闭原因代码 {reason}）",
        "key_window": "{start} 至 {until}",
        "months": "每月存证证书：",
        "no_months": "每月存证证书：无",
        "no_record": "信用记录：本部署没有信用登记合约",
        "VERIFY": "检定",
        "CALIBRATE": "校准",
        "sep": "、",
    },
    "en": {
        "grade": "credit grade",
        "as_of": "as of",
        "entries": "credit record ({n} entr{s}):",
        "none": "credit record: no entries",
        "in_force": "in force",
        "lifted_by": "lifted by #{i}",
        "lifts": "lifts #{i}",
        "reason": "reason: ",
        "case": "case number: ",
        "window": "from {start} until {until}",
        "open": "from {start} until lifted",
        "lifting": "effective from {start}",
        "recorded": "recorded {at} by {by}",
        "directory": "lab directory as of {at}: {n} lab(s)",
        "jurisdiction": "jurisdiction {code}",
        "credit_grade": "credit {grade}",
        "no_credit": "no credit record",
        "authorization": "authorization {number}: {start} to {until}",
        "no_authorization": "no authorization recorded",
        "scope": "scope: ",
        "certificates": "{n} certificate(s) anchored",
        "registered": "registered {at} by {by}",
        "authorizations": "authorizations ({n}):",
        "statuses": "status changes:",
        "by": "by {by}",
        "keys": "signing keys:",
        "key_open": "from {start}, open",
        "key_closed": "{start} to {until} (closed with reason code {reason})",
        "key_window": "{start} to {until}",
        "months": "certificates anchored per month:",
        "no_months": "certificates anchored per month: none",
        "no_record": "credit record: this deployment has no credit registry",
        "VERIFY": "verify",
        "CALIBRATE": "calibrate",
        "sep": ", ",
    },
}

_GRADE_STYLE = {"A": "bold green", "B": "bold yellow", "C": "bold dark_orange", "D": "bold red"}
_STATUS_STYLE = {"ACTIVE": "green", "SUSPENDED": "bold yellow", "REVOKED": "bold red"}


def _both(named: dict[str, str]) -> str:
    return f"{named['zh']} / {named['en']}"


def _print_entries(record: dict[str, Any], words: dict[str, str]) -> None:
    entries = record["entries"]
    if not entries:
        console.print(words["none"], markup=False)
        return
    n = len(entries)
    console.print(words["entries"].format(n=n, s="y" if n == 1 else "ies"), markup=False)
    in_force = set(record["in_force"])
    for e in entries:
        marks = []
        if e["index"] in in_force:
            marks.append(words["in_force"])
        if e.get("lifts") is not None:
            marks.append(words["lifts"].format(i=e["lifts"]))
        if e.get("lifted_by") is not None:
            marks.append(words["lifted_by"].format(i=e["lifted_by"]))
        style = "bold red" if e["index"] in in_force else "bold"
        line = Text(f"  #{e['index']}  ") + Text(_both(e["kind"]), style=style)
        if marks:
            line += Text(f"  [{', '.join(marks)}]", style="yellow" if e["index"] in in_force else "dim")
        console.print(line)
        pad = " " * 6
        window = "lifting" if e.get("lifts") is not None else "open" if e["effective_until"] is None else "window"
        for text in (
            f"{words['reason']}{_both(e['reason'])}",
            f"{words['case']}{e['case_number']}",
            words[window].format(start=e["effective_from"], until=e["effective_until"]),
            words["recorded"].format(at=e["recorded_at"], by=e["recorded_by"]),
        ):
            console.print(pad + text, markup=False)


def _grade_line(grade: dict[str, str], words: dict[str, str]) -> Text:
    return Text(f"{words['grade']} ") + Text(
        f"{grade['code']} {_both(grade)}", style=_GRADE_STYLE.get(grade["code"], "bold")
    )


def _print_credit(answer: dict[str, Any]) -> None:
    words = _WORDS[_lang()]
    kind = answer["subject_kind"]
    who = f"{answer['lab_name']}  " if answer.get("lab_name") else ""
    console.print(f"{who}{answer['subject']}  ({_both(kind)})", markup=False)
    console.print(_grade_line(answer["grade"], words) + Text(f"  {words['as_of']} {answer['as_of']}", style="dim"))
    _print_entries(answer, words)


# ---------------------------------------------------------------------------------------------------- the directory


def labs_command(
    jurisdiction: Annotated[
        str | None, typer.Option(help="0 (the nation) or a GB/T 2260 code: the labs under it (e.g. 330000).")
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="NMI, LEGAL_METROLOGY_INSTITUTE, AUTHORIZED_BODY or ACCREDITED_LAB.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="ACTIVE, SUSPENDED or REVOKED.")] = None,
    category: Annotated[
        str | None, typer.Option(help="A category code in the scope of the authorization in force (e.g. JJG52).")
    ] = None,
    expiring_within_days: Annotated[
        str | None,
        typer.Option(help=f"The authorization in force ends within this many days (1..{MAX_EXPIRING_WITHIN_DAYS})."),
    ] = None,
    as_of: AsOf = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the answer as JSON (what GET /v1/labs answers).")
    ] = False,
    rpc_url: RpcUrl = None,
    deployment: DeploymentFile = None,
    trust_authority: TrustAuthority = None,
    data_dir: DataDir = None,
) -> None:
    """The lab directory (机构名录): every lab on chain with its kind, status, authorization, scope and credit grade,
    filtered as a regulator asks. Read from the verifier's index in the data directory (built from the chain first
    when there is none).

    Exit status 0: the directory was read (even when no lab passes the filters).

    Exit status 2: usage error (a bad filter or date, no chain or deployment).
    """
    try:
        filters = parse_filters(
            jurisdiction=jurisdiction,
            kind=kind,
            status=status,
            category=category,
            expiring_within_days=expiring_within_days,
        )
        when = parse_as_of(as_of)
    except ServiceError as exc:
        _fail(exc, json_output, USAGE_ERROR)
    settings = _settings(
        json_output, rpc_url=rpc_url, data_dir=data_dir, deployment_file=deployment, trusted_authorities=trust_authority
    )

    def work() -> dict[str, Any]:
        with _index(settings) as index:
            return directory_answer(index, settings.policy(), filters, when)

    _print(_answer(json_output, work), json_output, _print_directory)


def lab_command(
    lab_id: Annotated[
        str,
        typer.Argument(
            help="The lab id (0x + 64 hex digits) or the lab's code (统一社会信用代码).", show_default=False
        ),
    ],
    as_of: AsOf = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the answer as JSON (what GET /v1/labs/{lab_id} answers).")
    ] = False,
    rpc_url: RpcUrl = None,
    deployment: DeploymentFile = None,
    trust_authority: TrustAuthority = None,
    data_dir: DataDir = None,
) -> None:
    """One lab's whole history: registration, authorizations with their scope, status changes with their reasons,
    signing keys, certificates anchored per month and its credit record.

    Exit status 0: the history was read.

    Exit status 1: no lab was registered with this id (UNKNOWN_LAB).

    Exit status 2: usage error (not a lab id or code, a bad date, no chain or deployment).
    """
    try:
        key, when = parse_lab(lab_id), parse_as_of(as_of)
    except ServiceError as exc:
        _fail(exc, json_output, USAGE_ERROR)
    settings = _settings(
        json_output, rpc_url=rpc_url, data_dir=data_dir, deployment_file=deployment, trusted_authorities=trust_authority
    )

    def work() -> dict[str, Any]:
        with _index(settings) as index:
            return lab_answer(index, settings.policy(), key, when)

    _print(_answer(json_output, work), json_output, _print_lab)


def _scope(scope: dict[str, list[str]], words: dict[str, str]) -> str:
    return "；".join(f"{c} {words['sep'].join(words.get(a, a) for a in acts)}" for c, acts in scope.items())


def _print_lab_head(lab: dict[str, Any], words: dict[str, str]) -> None:
    console.print(Text(lab["name"], style="bold") + Text(f"  {lab['lab_id']}", style="dim"))
    status = lab["status"]
    line = Text(f"    {_both(lab['kind'])} · {words['jurisdiction'].format(code=lab['jurisdiction'])} · ")
    line += Text(_both(status), style=_STATUS_STYLE.get(status["code"], "bold"))
    grade = lab["credit_grade"]
    line += Text(" · ") + (
        Text(
            words["credit_grade"].format(grade=f"{grade['code']} {_both(grade)}"),
            style=_GRADE_STYLE.get(grade["code"], "bold"),
        )
        if grade
        else Text(words["no_credit"], style="dim")
    )
    console.print(line)
    auth = lab["authorization"]
    parts = [
        words["authorization"].format(number=auth["number"], start=auth["valid_from"], until=auth["valid_until"])
        if auth
        else words["no_authorization"]
    ]
    if lab["scope"]:
        parts.append(words["scope"] + _scope(lab["scope"], words))
    parts.append(words["certificates"].format(n=lab["certificates"]))
    console.print("    " + " · ".join(parts), markup=False)


def _print_directory(answer: dict[str, Any]) -> None:
    words = _WORDS[_lang()]
    console.print(Text(words["directory"].format(at=answer["as_of"], n=answer["count"]), style="bold"))
    for lab in answer["labs"]:
        _print_lab_head(lab, words)


def _print_lab(answer: dict[str, Any]) -> None:
    words = _WORDS[_lang()]
    _print_lab_head(answer, words)
    console.print(f"{words['as_of']} {answer['as_of']}", markup=False, style="dim")
    reg = answer["registered"]
    console.print(words["registered"].format(at=reg["at"], by=reg["by_name"] or reg["by"]), markup=False)
    console.print(words["authorizations"].format(n=len(answer["authorizations"])), markup=False)
    for a in answer["authorizations"]:
        console.print(
            f"  #{a['index']}  " + words["authorization"].format(number=a["number"], start=a["valid_from"],
                                                                  until=a["valid_until"]),
            markup=False,
        )  # fmt: skip
        if a["scope"]:
            console.print("      " + words["scope"] + _scope(a["scope"], words), markup=False)
    console.print(words["statuses"], markup=False)
    for s in answer["statuses"]:
        line = Text(f"  {s['since']}  ") + Text(_both(s["status"]), style=_STATUS_STYLE.get(s["status"]["code"], ""))
        if s["reason"]:
            line += Text(f"  {words['reason']}{_both(s['reason'])}")
        console.print(line + Text(f"  {words['by'].format(by=s['by'])}", style="dim"))
    console.print(words["keys"], markup=False)
    for k in answer["keys"]:
        if k["valid_until"] is None:
            window = words["key_open"].format(start=k["valid_from"])
        elif k["closed_reason"] is not None:
            window = words["key_closed"].format(
                start=k["valid_from"], until=k["valid_until"], reason=k["closed_reason"]
            )
        else:
            window = words["key_window"].format(start=k["valid_from"], until=k["valid_until"])
        console.print(f"  {k['key_id']}  {window}", markup=False)
    months = answer["certificates_per_month"]
    console.print(words["months"] if months else words["no_months"], markup=False)
    top = max(months.values(), default=1)
    for month, n in months.items():
        console.print(f"  {month}  {'█' * max(1, round(30 * n / top))} {n}", markup=False)
    credit = answer["credit"]
    if credit is None:
        console.print(words["no_record"], markup=False)
        return
    console.print(_grade_line(credit["grade"], words))
    _print_entries(credit, words)


def register(app: typer.Typer) -> None:
    """Add ``credit``, ``labs`` and ``lab`` to ``tracecert verifier`` (``app``)."""
    app.command("credit")(credit_command)
    app.command("labs")(labs_command)
    app.command("lab")(lab_command)
