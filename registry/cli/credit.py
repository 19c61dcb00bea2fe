"""Regulators' commands on the credit record (计量信用记录 / 失信黑名单) of labs and enterprises, on the chain's
CreditRegistry: ``tracecert credit record|lift`` (as a regulator over the subject) and ``credit show`` (anyone).

A subject is a lab (its code or its id, 0x + 64 hex) or an enterprise (its unified social credit code, USCI: 18
characters, the GB/T 2260 region in characters 3..8). A code of a registered lab names the lab; any other
18-character code names an enterprise (``--enterprise`` names the enterprise even when a lab has the same code).
The grade follows the rule of :mod:`tracecert.credit`, at the chain's time.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from registry.cli.common import (
    ActAs,
    CliError,
    DataDir,
    Keystore,
    RpcUrl,
    acting_account,
    choices_help,
    console,
    named,
    parse_choice,
    parse_time,
    reporting_errors,
    revert_code,
    usage_error,
)
from registry.config import RegistrySettings
from registry.onboarding import connect, default_regulator_role, lab_number, lab_state, registry_settings
from tracecert.certificate.canonical import from_hex, to_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.errors import CertificateError
from tracecert.chain.contracts import ChainContracts, Sanction, enterprise_subject
from tracecert.chain.errors import ContractReverted, DeploymentNotFound
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import LabKind, SanctionKind, SanctionReason
from tracecert.credit import Grade, entry_view, grade_view, in_force, standing
from tracecert.human import local_time

__all__ = ["RECORDABLE", "Subject", "credit_lift", "credit_record", "credit_show", "entry_status", "resolve_subject"]

#: The kinds of entry ``credit record`` writes (a LIFTING is written by ``credit lift``).
RECORDABLE = tuple(k for k in SanctionKind if k is not SanctionKind.LIFTING)
REASONS = tuple(SanctionReason)

_USCI_HELP = "18 characters, region code in characters 3..8"


# ====================================================================== the subject


@dataclass(frozen=True)
class Subject:
    """Whom the credit record is about: a registered lab, or an enterprise (``usci`` set)."""

    id: bytes  # the lab id, or keccak256 of the enterprise's USCI
    region: int  # the lab's jurisdiction, or the region the USCI carries
    usci: str | None = None
    lab_code: str | None = None
    lab_kind: LabKind | None = None

    @property
    def label(self) -> str:
        """The subject as a person reads it."""
        if self.usci is not None:
            return f"enterprise {self.usci} (region {self.region})"
        return f"lab {to_hex(self.id)}" + (f" ({self.lab_code})" if self.lab_code else "")

    def view(self) -> dict[str, Any]:
        """The subject as ``--json`` carries it."""
        if self.usci is not None:
            return {"kind": "ENTERPRISE", "id": to_hex(self.id), "usci": self.usci, "region": self.region}
        return {
            "kind": "LAB",
            "id": to_hex(self.id),
            "code": self.lab_code,
            "lab_kind": self.lab_kind.name if self.lab_kind else None,
            "jurisdiction": self.region,
        }


def resolve_subject(contracts: ChainContracts, value: str, *, enterprise: bool = False) -> Subject:
    """The subject ``value`` names: a registered lab (its id, or its code), else an enterprise by its USCI (the
    contract reads the region from it); with ``enterprise``, always the enterprise.

    Raises:
        CliError: LAB_NOT_REGISTERED for a lab id or a code that is neither a registered lab nor 18 characters.
        ContractReverted: CreditInvalidUsci for a malformed USCI.
    """
    text = value.strip()
    if not enterprise:
        if re.fullmatch(r"0x[0-9a-fA-F]{64}", text):
            lab, code = from_hex(text), None
        else:
            try:
                lab, code = derive_lab_id(text), text
            except CertificateError:
                lab, code = b"", text
        if lab and (lab_number(contracts, lab) or code is None):
            state = lab_state(contracts, lab)  # LAB_NOT_REGISTERED for an id no lab has
            return Subject(lab, int(state["jurisdiction"]), lab_code=code, lab_kind=LabKind[state["kind"]])
        if len(text) != 18:
            raise CliError(
                "LAB_NOT_REGISTERED",
                f"{value!r} is neither a registered lab nor an enterprise's unified social credit code ({_USCI_HELP})",
            )
    if contracts.credit is None:
        raise DeploymentNotFound("this deployment has no CreditRegistry (deployed before the credit record)")
    region = int(contracts.call(contracts.credit, "regionOf", text))  # CreditInvalidUsci when malformed
    return Subject(enterprise_subject(text), region, usci=text)


def _acting(
    contracts: ChainContracts,
    settings: RegistrySettings,
    subject: Subject,
    keystore: Path | None,
    as_role: str | None,
) -> tuple[TransactionSender, str]:
    """The acting regulator (``--keystore`` or ``--as``), by default the development regulator over the lab's
    jurisdiction (the national one for an NMI) or over the enterprise's region, else the national one; returns it
    and how it is named, with its address."""
    default = default_regulator_role(contracts, settings.data_dir, subject.region, subject.lab_kind)
    sender, who = acting_account(contracts, settings, keystore, as_role, default)
    return sender, f"{who} ({sender.address})"


def _record(contracts: ChainContracts, subject: Subject) -> list[Sanction]:
    """The subject's whole credit record.

    Raises:
        DeploymentNotFound: the deployment has no CreditRegistry.
    """
    record = contracts.sanctions(subject.id)
    if record is None:
        raise DeploymentNotFound("this deployment has no CreditRegistry (deployed before the credit record)")
    return record


# ====================================================================== refusals


def _refused(exc: ContractReverted, subject: str, who: str) -> CliError:
    """A CreditRegistry revert as a refusal: its machine code (``CREDIT_NOT_REGULATOR_OVER``, ...) and what it
    means for this command."""
    args = exc.args_decoded
    explanations = {
        "CreditNotRegulatorOver": f"{who} is not an active regulator over {subject}",
        "CreditDecisionOfHigherAuthority": f"entry #{args[1] if len(args) > 1 else '?'} of {subject} was recorded by "
        f"{args[2] if len(args) > 2 else 'another regulator'}, whose jurisdiction {who}'s does not cover: only it "
        "or a regulator above it lifts it",
        "CreditNotLiftable": f"entry #{args[1] if len(args) > 1 else '?'} of {subject} cannot be lifted: "
        "it is a lifting, or lifted already",
        "CreditUnknownEntry": f"{subject} has no entry #{args[1] if len(args) > 1 else '?'}",
        "CreditInvalidUsci": f"{args[0] if args else subject!r} is not a unified social credit code ({_USCI_HELP})",
        "CreditInvalidWindow": "the entry would end before it begins: --until must be after --from",
        "CreditMissingCaseNumber": "--case-number must not be empty",
        "CreditInvalidReason": "the reason is not one the contract knows",
        "CreditInvalidKind": "the kind of entry is not one the contract knows",
    }
    explanation = explanations.get(exc.error, "the contract refused")
    return CliError(revert_code(exc.error), f"{explanation} (the contract refused: {exc})")


# ====================================================================== what a person reads


def _grade(grade: Grade) -> str:
    return f"{grade.value} {grade.zh} / {grade.en}"


def _lifted_by(record: list[Sanction]) -> dict[int, Sanction]:
    """The lifting of each lifted entry, by the index of the entry it lifts."""
    return {e.lifts: e for e in record if e.lifts is not None}


def entry_status(entry: Sanction, record: list[Sanction], at: int) -> tuple[str, str]:
    """Where ``entry`` stands at ``at``: a code (IN_FORCE, LIFTED, ENDED, NOT_YET, LIFTING) and a phrase."""
    if entry.kind is SanctionKind.LIFTING:
        pending = "" if entry.effective_from <= at else f" from {local_time(entry.effective_from)}"
        return "LIFTING", f"lifts #{entry.lifts}{pending}"
    lifting = _lifted_by(record).get(entry.index)
    if lifting is not None and lifting.effective_from <= at:
        return "LIFTED", f"lifted by #{lifting.index} from {local_time(lifting.effective_from)}"
    later = f", to be lifted by #{lifting.index} from {local_time(lifting.effective_from)}" if lifting else ""
    if entry.effective_from > at:
        return "NOT_YET", f"not yet in force (from {local_time(entry.effective_from)}){later}"
    if entry.effective_until is not None and entry.effective_until <= at:
        return "ENDED", f"ended {local_time(entry.effective_until)}"
    return "IN_FORCE", f"in force{later}"


def _window(entry: Sanction) -> str:
    until = "until lifted" if entry.effective_until is None else local_time(entry.effective_until)
    return f"{local_time(entry.effective_from)} .. {until}"


def _print_entry(entry: Sanction, record: list[Sanction], at: int, indent: str = "") -> None:
    """An entry with every code named (zh / en), its times as a person reads them and where it stands at ``at``."""
    kind = named(entry.kind) + (f" of #{entry.lifts}" if entry.lifts is not None else "")
    console.print(f"{indent}entry        #{entry.index} {kind}")
    console.print(f"{indent}reason       {named(entry.reason)}")
    console.print(f"{indent}case number  {entry.case_number}")
    console.print(f"{indent}decision     sha256 {to_hex(entry.decision_digest)}")
    if entry.kind is SanctionKind.LIFTING:
        console.print(f"{indent}effective    from {local_time(entry.effective_from)}")
    else:
        console.print(f"{indent}effective    {_window(entry)}")
    console.print(f"{indent}recorded     {local_time(entry.recorded_at)} by {entry.recorded_by}")
    console.print(f"{indent}status       {entry_status(entry, record, at)[1]}")


def _print_change(subject: Subject, before: list[Sanction], record: list[Sanction], index: int, at: int) -> None:
    """After a record or a lift: the subject, the entry and the grade now (with the grade before)."""
    console.print(f"subject      {subject.label}")
    _print_entry(record[index], record, at)
    old, new = standing(before, at).grade, standing(record, at).grade
    console.print(f"grade        {_grade(new)}" + ("" if old == new else f" (was {_grade(old)})"))


def _recorded_index(contracts: ChainContracts, receipt: Any) -> int:
    for name, args in contracts.events(receipt):
        if name == "SanctionRecorded":
            return int(args["index"])
    raise CliError("NO_EVENT", "the transaction recorded no credit record entry")


def _decision_digest(path: Path | None, sha256: str | None) -> bytes:
    """SHA-256 of the decision document (处罚决定书): of ``--decision FILE``, or ``--decision-sha256`` itself.

    Raises:
        CliError: USAGE for neither or both, an unreadable or empty file, or a digest that is not 64 hex digits.
    """
    if path is None and sha256 is None:
        raise usage_error("give the decision document (处罚决定书): --decision FILE, or its --decision-sha256 0x…")
    if path is not None and sha256 is not None:
        raise usage_error("give --decision or --decision-sha256, not both")
    if path is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise usage_error(f"--decision: cannot read {path}: {exc.strerror}") from exc
        if not data:
            raise usage_error(f"--decision: {path} is empty")
        return hashlib.sha256(data).digest()
    assert sha256 is not None
    text = sha256.strip().removeprefix("0x").removeprefix("0X")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise usage_error("--decision-sha256 must be a SHA-256 digest: 64 hex digits, 0x optional")
    return bytes.fromhex(text)


# ====================================================================== options

SubjectArg = Annotated[
    str, typer.Argument(help=f"A lab (its code or id, 0x + 64 hex) or an enterprise (its USCI: {_USCI_HELP}).")
]
ReasonOption = Annotated[
    str, typer.Option("--reason", help=f"Why, by name or number: {choices_help(REASONS, numbered=True)}.")
]
CaseNumber = Annotated[str, typer.Option("--case-number", help="The decision's case number (案号/文号).")]
DecisionFile = Annotated[
    Path | None,
    typer.Option("--decision", dir_okay=False, help="The decision document (处罚决定书); its SHA-256 goes on chain."),
]
DecisionSha = Annotated[
    str | None, typer.Option("--decision-sha256", help="The decision document's SHA-256 (0x + 64 hex) instead.")
]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="In force from (YYYY-MM-DD, ISO date-time or Unix seconds; default: now on chain)."),
]
EnterpriseFlag = Annotated[
    bool, typer.Option("--enterprise", help="SUBJECT is an enterprise's USCI even if a lab has that code.")
]


# ====================================================================== tracecert credit ...


def credit_record(
    subject: SubjectArg,
    kind: Annotated[str, typer.Option("--kind", help=f"The sanction: {choices_help(RECORDABLE)}.")],
    reason: ReasonOption,
    case_number: CaseNumber,
    decision: DecisionFile = None,
    decision_sha256: DecisionSha = None,
    effective_from: FromOption = None,
    effective_until: Annotated[
        str | None,
        typer.Option("--until", help="Last day in force (YYYY-MM-DD, inclusive) or end moment; default: until lifted."),
    ] = None,
    enterprise: EnterpriseFlag = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """A regulator records a sanction against a lab or an enterprise in the credit record; prints the entry and the
    grade it brings.

    The acting regulator defaults to the development regulator over the lab's jurisdiction, or over the region of
    the enterprise's USCI (characters 3..8), else the national one. Recording the same case number and kind again
    changes nothing.
    """
    with reporting_errors():
        sanction = parse_choice(RECORDABLE, kind, "--kind")
        why = parse_choice(REASONS, reason, "--reason", numbered=True)
        digest = _decision_digest(decision, decision_sha256)
        start = parse_time(effective_from) if effective_from else None
        end = parse_time(effective_until, end_of_day=True) if effective_until else None
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        label, who = repr(subject), "the acting account"
        try:
            target = resolve_subject(contracts, subject, enterprise=enterprise)
            label = target.label
            sender, who = _acting(contracts, settings, target, keystore, as_role)
            start = contracts.client.block_timestamp() if start is None else start
            if end is not None and end <= start:
                raise usage_error("--until must be after --from")
            before = _record(contracts, target)
            receipt = contracts.record_sanction(
                sender, target.usci or target.id, sanction, why, case_number, digest, start, end
            )
        except ContractReverted as exc:
            raise _refused(exc, label, who) from exc
        index = _recorded_index(contracts, receipt)
        record = _record(contracts, target)
        _print_change(target, before, record, index, contracts.client.block_timestamp())
        # the same case number and kind again: the journal answers with the first receipt, nothing changes
        done = "now" if index >= len(before) else "already (the same case number and kind)"
        console.print(f"by           {who}, {done}")


def credit_lift(
    subject: SubjectArg,
    index: Annotated[int, typer.Argument(help="The entry to lift (its # in `tracecert credit show`).", min=0)],
    reason: ReasonOption,
    case_number: CaseNumber,
    decision: DecisionFile = None,
    decision_sha256: DecisionSha = None,
    effective_from: FromOption = None,
    enterprise: EnterpriseFlag = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """A regulator lifts an entry of the credit record (a new LIFTING entry: nothing is erased); prints it and the
    grade now."""
    with reporting_errors():
        why = parse_choice(REASONS, reason, "--reason", numbered=True)
        digest = _decision_digest(decision, decision_sha256)
        start = parse_time(effective_from) if effective_from else None
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        label, who = repr(subject), "the acting account"
        try:
            target = resolve_subject(contracts, subject, enterprise=enterprise)
            label = target.label
            before = _record(contracts, target)
            _require_liftable(before, index, label)
            sender, who = _acting(contracts, settings, target, keystore, as_role)
            start = contracts.client.block_timestamp() if start is None else start
            receipt = contracts.lift_sanction(sender, target.id, index, why, case_number, digest, start)
        except ContractReverted as exc:
            raise _refused(exc, label, who) from exc
        record = _record(contracts, target)
        _print_change(target, before, record, _recorded_index(contracts, receipt), contracts.client.block_timestamp())
        console.print(f"by           {who}")


def _require_liftable(record: list[Sanction], index: int, subject: str) -> None:
    """Refuse what the contract would refuse, before sending: the development account's journal would otherwise
    answer a second lift of the same entry with the first one's receipt.

    Raises:
        CliError: CREDIT_UNKNOWN_ENTRY, CREDIT_NOT_LIFTABLE (the contract's codes).
    """
    if index >= len(record):
        raise CliError("CREDIT_UNKNOWN_ENTRY", f"{subject} has no entry #{index} (it has {len(record)})")
    entry = record[index]
    if entry.kind is SanctionKind.LIFTING:
        raise CliError("CREDIT_NOT_LIFTABLE", f"entry #{index} of {subject} is a lifting (of #{entry.lifts})")
    lifting = _lifted_by(record).get(index)
    if lifting is not None:
        raise CliError(
            "CREDIT_NOT_LIFTABLE",
            f"entry #{index} of {subject} is lifted already, by #{lifting.index} (case {lifting.case_number}) "
            f"from {local_time(lifting.effective_from)}",
        )


def credit_show(
    subject: SubjectArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    enterprise: EnterpriseFlag = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Show the credit record of a lab or an enterprise (anyone may read it): the grade now and every entry, which
    are in force and which were lifted by which."""
    with reporting_errors():
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        try:
            target = resolve_subject(contracts, subject, enterprise=enterprise)
        except ContractReverted as exc:
            raise _refused(exc, repr(subject), "") from exc
        record = _record(contracts, target)
        at = contracts.client.block_timestamp()
        now = standing(record, at)
        lifted_by = _lifted_by(record)
        if as_json:
            entries = []
            for e in record:
                status = entry_status(e, record, at)
                lifting = lifted_by.get(e.index)
                entries.append(
                    entry_view(e, local_time)
                    | {
                        "status": status[0],
                        "status_text": status[1],
                        "in_force": status[0] == "IN_FORCE",
                        "lifted_by": None if lifting is None else lifting.index,
                    }
                )
            view = {"subject": target.view(), "at": local_time(at), "grade": grade_view(now.grade), "entries": entries}
            typer.echo(json.dumps(view, ensure_ascii=False))
            return
        console.print(f"subject      {target.label}")
        console.print(f"grade        {_grade(now.grade)} (at {local_time(at)})")
        active = len(in_force(record, at))
        console.print(f"entries      {len(record) or 'none'}" + (f", {active} in force" if record else ""))
        for e in record:
            console.print("")
            _print_entry(e, record, at, indent="  ")
