"""What every registry command shares: the consoles, the one error reporter (:func:`reporting_errors`), times and
categories as people read them, the options and the acting account."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from registry.config import RegistrySettings
from registry.errors import RegistryError
from registry.onboarding import InvalidScope, dev_sender
from tracecert.certificate.canonical import HEX32_PATTERN, from_hex
from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.errors import CertificateError
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.errors import ChainError, ContractReverted
from tracecert.chain.local import load_keystore
from tracecert.chain.sender import FileJournal, TransactionSender
from tracecert.chain.types import LabKind, RevocationReason, SanctionKind, SanctionReason
from tracecert.human import DAY, local_time, parse_moment, speaks_chinese
from tracecert.instruments import category_label

__all__ = [
    "HEX32",
    "KEYSTORE_PASSPHRASE_ENV",
    "KEY_PASSPHRASE_ENV",
    "ActAs",
    "CliError",
    "DataDir",
    "Keystore",
    "LabOption",
    "RpcUrl",
    "acting_account",
    "category",
    "choice_name",
    "choices_help",
    "console",
    "detail_lines",
    "err",
    "lab_ref",
    "named",
    "parse_choice",
    "parse_lab_kind",
    "parse_time",
    "print_error",
    "reason_text",
    "reporting_errors",
    "revert_code",
    "show_time",
    "usage_error",
]

console = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

KEYSTORE_PASSPHRASE_ENV = "TRACECERT_KEYSTORE_PASSPHRASE"  # noqa: S105 - a variable name
KEY_PASSPHRASE_ENV = "TRACECERT_KEY_PASSPHRASE"  # noqa: S105 - a variable name
#: A digest or lab id as a person types it on the command line: 0x and 64 hex digits, either case.
HEX32 = re.compile(HEX32_PATTERN, re.IGNORECASE)


# ====================================================================== errors and output


class CliError(RegistryError):
    """A failure the command line reports as ``error CODE: message`` and exits with ``exit_code``."""

    def __init__(self, code: str, message: str, *, details: Any = None, exit_code: int = 1) -> None:
        super().__init__(message, code=code, details=details)
        self.exit_code = exit_code


def usage_error(message: str) -> CliError:
    """A USAGE error (exit code 2): the command line was given something it cannot use."""
    return CliError("USAGE", message, exit_code=2)


def revert_code(error: str) -> str:
    """A contract custom error as a machine code: ``TrustRegistryLabExists`` → ``LAB_EXISTS``."""
    for prefix in ("TrustRegistry", "CertificateRegistry"):
        if error.startswith(prefix) and len(error) > len(prefix):
            error = error[len(prefix) :]
            break
    return re.sub(r"(?<!^)(?=[A-Z])", "_", error).upper()


def print_error(code: str, message: str, details: Any = None) -> None:
    """``error CODE: message`` on stderr, then the details one per line, indented."""
    err.print(f"error {code}: {message}", markup=False)
    for line in detail_lines(details):
        err.print(f"  {line}", markup=False)


def detail_lines(details: Any) -> list[str]:
    """An error's details as lines: field errors as ``field: message [rule]`` (at most 20), a mapping as
    ``key: value``."""
    if isinstance(details, list):
        out = []
        for d in details[:20]:
            if isinstance(d, Mapping) and "field" in d:
                row = f"row {d['row']}, " if "row" in d else ""  # a table's row (an instrument register)
                out.append(f"{row}{d['field']}: {d.get('message', '')} [{d.get('rule', '')}]")
            else:
                out.append(json.dumps(d, ensure_ascii=False) if not isinstance(d, str) else d)
        return out
    if isinstance(details, Mapping):
        return [f"{k}: {v}" for k, v in details.items()]
    return []


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Turn the errors of every layer into ``error CODE: message`` (with the details) and an exit code: one clause
    per package root (the registry's, the chain's, the certificate's).

    Raises:
        typer.Exit: 1 for refusals and failures, 2 for usage errors and invalid input files.
    """
    try:
        yield
    except RegistryError as exc:  # the service's, the client's, onboarding's, custody's, the commands' own, the demo's
        # a malformed --scope is a usage error, reported as the others are
        print_error("USAGE" if isinstance(exc, InvalidScope) else exc.code, exc.message, exc.details)
        raise typer.Exit(exc.exit_code) from exc
    except ChainError as exc:
        if isinstance(exc, ContractReverted):  # the contract's own error as a code: LAB_EXISTS, NOT_REGULATOR, ...
            print_error(revert_code(exc.error), f"the contract refused: {exc}")
        else:
            print_error(exc.code, str(exc))
        raise typer.Exit(1) from exc
    except CertificateError as exc:
        print_error(exc.code, exc.message, [e.to_dict() for e in exc.errors])
        raise typer.Exit(2) from exc


# ====================================================================== time


def parse_time(value: str, *, end_of_day: bool = False) -> int:
    """A Unix time from ``YYYY-MM-DD`` (midnight in China; the next midnight with ``end_of_day``), an ISO 8601
    date-time (China time unless it has an offset) or Unix seconds.

    Raises:
        CliError: USAGE for anything else.
    """
    try:
        seconds, is_date = parse_moment(value)
    except ValueError as exc:
        raise usage_error(f"{value!r} is not a date (YYYY-MM-DD), an ISO date-time or Unix seconds") from exc
    return seconds + (DAY if is_date and end_of_day else 0)


def reason_text(reason: Any) -> str:
    """A revocation reason by its names (证书内容有误 / error in content), never a bare number."""
    return RevocationReason.named(int(reason)) if isinstance(reason, int) else "reason not given"


def show_time(ts: int | None) -> str:
    """A chain time as a local date-time; ``-`` for none, ``open-ended`` for the far future."""
    if not ts:
        return "-"
    if ts >= 2**63 - 1 or ts >= 253402300799:
        return "open-ended"
    return local_time(ts)


def category(code: str) -> str:
    """An instrument category by its name in the user's language (zh or en), with its code."""
    return category_label(code, zh=speaks_chinese())


# ====================================================================== options and the acting account

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default $TRACECERT_DATA_DIR or .tracecert).")
]
RpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", envvar="TRACECERT_CHAIN_RPC_URL", help="JSON-RPC URL (default: the local node)."),
]
ActAs = Annotated[
    str | None,
    typer.Option("--as", help="Development account that acts (local chain), e.g. regulator-330000."),
]
Keystore = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        exists=True,
        dir_okay=False,
        help=f"Encrypted JSON keystore of the acting account (production); passphrase from ${KEYSTORE_PASSPHRASE_ENV}.",
    ),
]
LabOption = Annotated[str, typer.Option("--lab", help="The lab: its code, or its id (0x + 64 hex).")]


def acting_account(
    contracts: ChainContracts, settings: RegistrySettings, keystore: Path | None, role: str | None, default: str
) -> tuple[TransactionSender, str]:
    """The acting account: a keystore (production) or a development role; returns it and how it is named.

    Raises:
        CliError: KEYSTORE_INVALID (exit code 2) for a keystore that does not decrypt.
    """
    if keystore is not None:
        passphrase = os.environ.get(KEYSTORE_PASSPHRASE_ENV) or typer.prompt("Keystore passphrase", hide_input=True)
        try:
            account = load_keystore(keystore, passphrase)
        except ValueError as exc:
            raise CliError("KEYSTORE_INVALID", f"cannot decrypt {keystore} (wrong passphrase?)", exit_code=2) from exc
        journal = FileJournal(settings.data_dir / "journal" / f"{account.address}.jsonl")
        return TransactionSender(contracts.client, account, journal), f"keystore {keystore.name}"
    name = role or default
    return dev_sender(contracts, settings.data_dir, name), f"development account {name}"


def lab_ref(value: str) -> tuple[bytes, str | None]:
    """A lab given as its id (0x + 64 hex) or its code: ``(lab id, code or None)``.

    Raises:
        CliError: USAGE for a code no lab id derives from.
    """
    if re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        return from_hex(value), None
    try:
        return derive_lab_id(value), value
    except CertificateError as exc:
        raise usage_error(f"--lab: {exc.message}") from exc


def parse_lab_kind(value: str) -> LabKind:
    """A lab kind by name or alias (``legal``, ``authorized``, ``accredited``; any case, ``-`` for ``_``).

    Raises:
        CliError: USAGE for an unknown kind.
    """
    aliases = {"NMI": "NMI", "LEGAL": "LEGAL_METROLOGY_INSTITUTE", "AUTHORIZED": "AUTHORIZED_BODY"}
    name = value.strip().upper().replace("-", "_")
    name = aliases.get(name, name)
    if name == "ACCREDITED":
        name = "ACCREDITED_LAB"
    try:
        return LabKind[name]
    except KeyError:
        raise usage_error(f"--kind must be one of {', '.join(k.name for k in LabKind)}") from None


# ====================================================================== named choices (the credit record's codes)

#: The codes a command line names by word: kinds of credit record entry, regulators' reasons.
Choice = TypeVar("Choice", SanctionKind, SanctionReason)


def choice_name(member: SanctionKind | SanctionReason) -> str:
    """The word a command line takes for a code: ``FALSE_CERTIFICATE`` → ``false-certificate``."""
    return member.name.lower().replace("_", "-")


def named(member: SanctionKind | SanctionReason) -> str:
    """A code as a person reads it: its Chinese and English names (``警告 / warning``)."""
    return f"{member.zh} / {member.en}"


def choices_help(members: Sequence[SanctionKind | SanctionReason], *, numbered: bool = False) -> str:
    """The choices of an option for its help: ``warning (警告), fine (罚款)``; with ``numbered``, each with its
    number first (``1 false-certificate (出具虚假计量证书)``)."""
    return ", ".join(f"{f'{int(m)} ' if numbered else ''}{choice_name(m)} ({m.zh})" for m in members)


def parse_choice(members: Sequence[Choice], value: str, option: str, *, numbered: bool = False) -> Choice:
    """One of ``members`` given by its word (any case, ``_`` or ``-``), its Chinese name or, with ``numbered``, its
    number.

    Raises:
        CliError: USAGE naming the choices, for anything else.
    """
    text = value.strip()
    word = text.lower().replace("_", "-")
    for member in members:
        if word == choice_name(member) or text == member.zh or (numbered and text == str(int(member))):
            return member
    raise usage_error(f"{option} {value!r} is not one of: {choices_help(members, numbered=numbered)}")
