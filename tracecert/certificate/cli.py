"""Command-line commands for certificates (canonicalize, digest, keys, DCC import/export, bundles, credentials).

Errors go to stderr as ``CODE: message`` (plus one line per field error); input and usage errors exit with 2,
a bundle that is well formed but does not verify exits with 1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import nacl.pwhash
import typer

from tracecert.certificate.bundle import (
    bundle_json_schema,
    generate_bundle_json_schema,
    parse_bundle,
    verify_bundle_offline,
)
from tracecert.certificate.canonical import (
    canonicalize_json,
    certificate_digest,
    document_digest,
    parse_json,
    record_to_json,
    to_hex,
)
from tracecert.certificate.dcc import DccOverrides, export_dcc, import_dcc, validate_dcc
from tracecert.certificate.dcc.signature import TrustStore
from tracecert.certificate.errors import (
    BundleInvalid,
    CanonicalizationFailed,
    CertificateError,
    KeyFileInvalid,
)
from tracecert.certificate.model import Kind, record_from_json
from tracecert.certificate.signing import generate_key, load_key_file, read_key_file_public, save_key_file
from tracecert.certificate.vc import build_credential, is_credential, read_credential

__all__ = ["PASSPHRASE_ENV", "register"]

PASSPHRASE_ENV = "TRACECERT_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret

_KDF_LIMITS = {
    "interactive": (nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE),
    "moderate": (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE),
    "sensitive": (nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE),
}

ExistingFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Input file.")]


def _fail(error: CertificateError, exit_code: int = 2) -> NoReturn:
    typer.echo(f"{error.code}: {error.message}", err=True)
    for e in error.errors:
        typer.echo(f"  {e.field}: {e.message} [{e.rule}]", err=True)
    raise typer.Exit(exit_code)


def _write_or_print(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(data)


def _pretty(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --- top-level commands -------------------------------------------------------------------------------------


def canonicalize_command(file: ExistingFile) -> None:
    """Print the RFC 8785 canonical JSON bytes of any JSON file (no trailing newline)."""
    try:
        _write_or_print(canonicalize_json(file.read_bytes()), None)
    except CertificateError as e:
        _fail(e)


def digest_command(
    file: ExistingFile,
    document: Annotated[
        bool, typer.Option("--document", help="Hash the file as a raw document even if it is JSON.")
    ] = False,
) -> None:
    """Print the certificate digest of a record JSON file, or the plain SHA-256 of any other document.

    Output: ``0x<64 hex> certificate-digest`` or ``0x<64 hex> document-sha256``.
    """
    data = file.read_bytes()
    if not document:
        try:
            parse_json(data)
        except CanonicalizationFailed:
            document = True
    if document:
        typer.echo(f"{to_hex(document_digest(data))} document-sha256")
        return
    try:
        record = record_from_json(data)
    except CertificateError as e:
        _fail(e)
    typer.echo(f"{to_hex(certificate_digest(record))} certificate-digest")


# --- key ----------------------------------------------------------------------------------------------------

key_app = typer.Typer(help="Lab signing keys (Ed25519, encrypted at rest).", no_args_is_help=True)


def _passphrase(passphrase_file: Path | None, confirm: bool) -> bytes:
    if passphrase_file is not None:
        return passphrase_file.read_bytes().rstrip(b"\r\n")
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env.encode("utf-8")
    text: str = typer.prompt("Key passphrase", hide_input=True, confirmation_prompt=confirm)
    return text.encode("utf-8")


@key_app.command("generate")
def key_generate(
    out: Annotated[Path, typer.Option("--out", help="Key file to create (must not exist).")],
    passphrase_file: Annotated[
        Path | None,
        typer.Option("--passphrase-file", exists=True, dir_okay=False, help=f"Else ${PASSPHRASE_ENV}, else a prompt."),
    ] = None,
    kdf: Annotated[str, typer.Option("--kdf", help="Argon2id cost: interactive, moderate, sensitive.")] = "moderate",
) -> None:
    """Generate a lab key and write it encrypted; print only the key id and public key."""
    if kdf not in _KDF_LIMITS:
        typer.echo(f"USAGE: --kdf must be one of {', '.join(_KDF_LIMITS)}", err=True)
        raise typer.Exit(2)
    if out.exists():
        typer.echo(f"KEY_FILE_EXISTS: {out} already exists; refusing to overwrite a key", err=True)
        raise typer.Exit(2)
    passphrase = _passphrase(passphrase_file, confirm=True)
    key = generate_key()
    opslimit, memlimit = _KDF_LIMITS[kdf]
    try:
        save_key_file(key, out, passphrase, opslimit=opslimit, memlimit=memlimit)
    except CertificateError as e:
        _fail(e)
    typer.echo(f"key_id     {to_hex(key.key_id)}")
    typer.echo(f"public_key {to_hex(key.public_key)}")


@key_app.command("show")
def key_show(file: ExistingFile) -> None:
    """Print the key id and public key of a key file (no passphrase needed)."""
    try:
        public_key, kid = read_key_file_public(file)
    except KeyFileInvalid as e:
        _fail(e)
    typer.echo(f"key_id     {to_hex(kid)}")
    typer.echo(f"public_key {to_hex(public_key)}")


# --- dcc ----------------------------------------------------------------------------------------------------

dcc_app = typer.Typer(help="PTB Digital Calibration Certificate (DCC) XML.", no_args_is_help=True)


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        typer.echo(f"USAGE: {option} must be YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None


@dcc_app.command("import")
def dcc_import(
    file: ExistingFile,
    out: Annotated[Path | None, typer.Option("--out", help="Write the record JSON here (else stdout).")] = None,
    issue_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD; DCC 3.0/3.1 have no issue date.")] = None,
    valid_until: Annotated[str | None, typer.Option(help="YYYY-MM-DD.")] = None,
    category_code: Annotated[str | None, typer.Option(help="Instrument category code.")] = None,
    lab_code: Annotated[str | None, typer.Option(help="Lab code; the lab id is derived from it.")] = None,
    lab_id: Annotated[str | None, typer.Option(help="Lab id (0x + 64 hex), if no lab code.")] = None,
    certificate_number: Annotated[str | None, typer.Option(help="Instead of uniqueIdentifier.")] = None,
    item_name: Annotated[str | None, typer.Option(help="Name of an item set.")] = None,
    serial_number: Annotated[str | None, typer.Option(help="Item serial number.")] = None,
    authorization_number: Annotated[str | None, typer.Option()] = None,
    accreditation_number: Annotated[str | None, typer.Option()] = None,
    customer_usci: Annotated[str | None, typer.Option(help="Customer unified social credit code.")] = None,
    mandatory_verification: Annotated[bool | None, typer.Option("--mandatory-verification/--not-mandatory")] = None,
    method_reference: Annotated[str | None, typer.Option(help="E.g. JJF 1033-2023.")] = None,
    kind: Annotated[str | None, typer.Option(help="Record kind; default CALIBRATION.")] = None,
    lang: Annotated[list[str] | None, typer.Option(help="Preferred text language (repeatable).")] = None,
    replaces_digest: Annotated[
        str | None, typer.Option(help="Digest of the certificate a substituting DCC names by number only.")
    ] = None,
    trust: Annotated[
        list[Path] | None,
        typer.Option(help="Trust anchors (PEM/DER certificates, CRLs; files or folders) for a signed DCC's signer."),
    ] = None,
) -> None:
    """Import a DCC (3.0.0 to 3.3.0) as a certificate record; mapping notes go to stderr. A signed DCC's
    signature is verified (its signer against --trust, when given)."""
    if kind is not None and kind not in Kind.__members__:
        typer.echo(f"USAGE: --kind must be one of {', '.join(Kind.__members__)}", err=True)
        raise typer.Exit(2)
    overrides = DccOverrides(
        kind=Kind(kind) if kind else None,
        certificate_number=certificate_number,
        issue_date=_date(issue_date, "--issue-date"),
        valid_until=_date(valid_until, "--valid-until"),
        category_code=category_code,
        item_name=item_name,
        serial_number=serial_number,
        lab_code=lab_code,
        lab_id=lab_id,
        authorization_number=authorization_number,
        accreditation_number=accreditation_number,
        customer_usci=customer_usci,
        mandatory_verification=mandatory_verification,
        method_reference=method_reference,
        replaces_digest=replaces_digest,
        languages=tuple(lang) if lang else ("zh", "en"),
    )
    try:
        store = TrustStore.load(trust) if trust else None
    except ValueError as e:
        typer.echo(f"USAGE: {e}", err=True)
        raise typer.Exit(2) from e
    try:
        result = import_dcc(file.read_bytes(), overrides, trust=store)
    except CertificateError as e:
        _fail(e)
    if result.signature is not None:
        signed = result.signature.to_dict()
        typer.echo(f"signature: {signed['form']} by {signed['signer']} at {signed['signing_time']}", err=True)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    _write_or_print(_pretty(record_to_json(result.record)), out)


@dcc_app.command("export")
def dcc_export(
    file: ExistingFile,
    out: Annotated[Path, typer.Option("--out", help="DCC XML file to write.")],
    lang: Annotated[str, typer.Option(help="Language code of the text.")] = "zh",
    sign_with: Annotated[
        Path | None,
        typer.Option(
            "--sign-with",
            exists=True,
            dir_okay=False,
            help="The lab's key file: sign the DCC with it (an enveloped Ed25519 XML signature).",
        ),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option("--passphrase-file", exists=True, dir_okay=False, help=f"Else ${PASSPHRASE_ENV}, else a prompt."),
    ] = None,
) -> None:
    """Export a record JSON file as DCC 3.3.0 XML (validated before it is written); with --sign-with, signed
    with the lab's key (XMLDSig, Ed25519) and validated again."""
    try:
        record = record_from_json(file.read_bytes())
        key = load_key_file(sign_with, _passphrase(passphrase_file, confirm=False)) if sign_with else None
        out.write_bytes(export_dcc(record, lang=lang, sign_with=key))
    except CertificateError as e:
        _fail(e)
    if key is not None:
        typer.echo(f"signed with key_id {to_hex(key.key_id)}", err=True)


@dcc_app.command("validate")
def dcc_validate(file: ExistingFile) -> None:
    """Validate DCC XML against the XSD of its declared schema version."""
    try:
        version = validate_dcc(file.read_bytes())
    except CertificateError as e:
        _fail(e)
    typer.echo(f"valid DCC {version}")


# --- bundle -------------------------------------------------------------------------------------------------

bundle_app = typer.Typer(help="Proof bundles (tracecert-bundle/1).", no_args_is_help=True)


@bundle_app.command("verify")
def bundle_verify(file: ExistingFile) -> None:
    """Check a bundle's integrity offline: digest, key id, signature, inclusion proof. Not a verdict: whether it is
    anchored, revoked, substituted or issued by an authorized lab needs the chain (``tracecert verify FILE``)."""
    try:
        bundle = parse_bundle(file.read_bytes())
    except BundleInvalid as e:
        _fail(e)
    try:
        verify_bundle_offline(bundle)
    except CertificateError as e:
        _fail(e, exit_code=1)
    proof = bundle.proof
    typer.echo(f"INTACT {bundle.digest} leaf {proof.leaf_index}/{proof.tree_size} root {bundle.anchor.root}")
    typer.echo(
        "完整性无误，但这不是验证结论：是否上链、撤销、替代及机构授权未检查，请用 tracecert verify。 / "
        "Intact, but not a verdict: anchoring, revocation, substitution and the lab's authorization were not "
        "checked; run `tracecert verify FILE` for one.",
        err=True,
    )


@bundle_app.command("schema")
def bundle_schema(
    generate: Annotated[
        bool, typer.Option("--generate", help="Generate it from the models (to refresh the committed file).")
    ] = False,
) -> None:
    """Print the JSON Schema of tracecert-bundle/1 (the file committed in the package)."""
    _write_or_print(_pretty(generate_bundle_json_schema() if generate else bundle_json_schema()), None)


# --- vc -----------------------------------------------------------------------------------------------------

vc_app = typer.Typer(help="W3C Verifiable Credentials 2.0 (eddsa-jcs-2022) of certificates.", no_args_is_help=True)

_CHAIN_NOTE = (
    "无数据完整性证明：其真实性依赖链上存证（tracecert verify 可核验）。 / No Data Integrity proof: the credential's "
    "authenticity rests on the chain (the record's digest, the lab's signature and the inclusion proof; "
    "`tracecert verify FILE` checks them). Add a proof with --key LAB_KEY_FILE."
)


@vc_app.command("export")
def vc_export(
    file: ExistingFile,
    key: Annotated[
        Path | None,
        typer.Option("--key", exists=True, dir_okay=False, help="The lab's key file: prove the credential with it."),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option("--passphrase-file", exists=True, dir_okay=False, help=f"Else ${PASSPHRASE_ENV}, else a prompt."),
    ] = None,
    created: Annotated[str | None, typer.Option(help="The proof's time (XML dateTime); default now.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the credential here (else stdout).")] = None,
) -> None:
    """Write a certificate as a W3C Verifiable Credential: from its proof bundle (self-contained: the anchoring
    goes in evidence), a record, or a credential (e.g. one the registry served without a proof). With --key it
    is proved with eddsa-jcs-2022 by the lab's key (a second signature: docs/bundle.md says why)."""
    try:
        doc = parse_json(file.read_bytes())
        if isinstance(doc, dict) and is_credential(doc):
            read = read_credential(doc)
            source = parse_bundle(read.bundle) if read.bundle is not None else read.record
        elif isinstance(doc, dict) and "format" in doc:
            source = parse_bundle(doc)
        else:
            source = record_from_json(doc)
        signing_key = load_key_file(key, _passphrase(passphrase_file, confirm=False)) if key is not None else None
        credential = build_credential(source, key=signing_key, created=created)
    except CertificateError as e:
        _fail(e)
    if signing_key is None:
        typer.echo(_CHAIN_NOTE, err=True)
    else:
        method = credential["proof"]["verificationMethod"]
        typer.echo(f"proved by {method} (key_id {to_hex(signing_key.key_id)})", err=True)
    _write_or_print(_pretty(credential), out)


@vc_app.command("verify")
def vc_verify(file: ExistingFile) -> None:
    """Check a credential offline: its form, its eddsa-jcs-2022 proof if it has one, the record and its digest,
    the anchoring evidence's form. Not a verdict: whether the key is the lab's, and whether the certificate is
    anchored, revoked or substituted, needs the chain (``tracecert verify FILE``)."""
    try:
        read = read_credential(file.read_bytes())
    except CertificateError as e:
        _fail(e, exit_code=1 if e.code == "VC_PROOF_INVALID" else 2)
    summary = read.summary()
    if summary["proof"] is None:
        typer.echo(f"NO PROOF {read.digest}")
        typer.echo(_CHAIN_NOTE, err=True)
    else:
        proof = summary["proof"]
        typer.echo(f"PROOF VALID {read.digest} by {proof['verification_method']} key_id {proof['key_id']}")
    typer.echo(
        "这不是验证结论：密钥是否属于该机构、是否上链、撤销或替代未检查，请用 tracecert verify。 / "
        "Not a verdict: whether the key is the lab's, and anchoring, revocation and substitution were not checked; "
        "run `tracecert verify FILE` for one.",
        err=True,
    )


def register(app: typer.Typer) -> None:
    """Add the certificate commands to the ``tracecert`` application."""
    app.command("canonicalize")(canonicalize_command)
    app.command("digest")(digest_command)
    app.add_typer(key_app, name="key")
    app.add_typer(dcc_app, name="dcc")
    app.add_typer(bundle_app, name="bundle")
    app.add_typer(vc_app, name="vc")
