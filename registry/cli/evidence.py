"""Evidence packages on the command line (行政执法与刑事司法衔接): ``tracecert evidence build`` gathers a case's
certificates from the registry and the chain into one file signed by the acting regulator; ``tracecert evidence
verify FILE --trust-authority ADDRESS`` checks it with no service and no network (see :mod:`tracecert.evidence`)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from registry.cli.common import (
    HEX32,
    ActAs,
    DataDir,
    Keystore,
    RpcUrl,
    acting_account,
    console,
    reporting_errors,
    usage_error,
)
from registry.cli.lab import RegistryUrl
from registry.client import DEFAULT_REGISTRY_URL, RegistryClient
from registry.onboarding import connect, registry_settings
from tracecert.certificate.canonical import parse_json
from tracecert.evidence import build_package, chain_evidence, sign_package, verify_package
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.evidence import Evidence
from tracecert.verification.sources import RegistrySource

__all__ = ["evidence_build", "evidence_verify"]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

#: What each link means, for the person checking.
LINKS = {
    "FORMAT": ("文件格式", "the file's format"),
    "SIGNED": ("由指定的监管部门签名", "signed by the authority pinned"),
    "RECORD_DIGEST": ("证书内容与摘要一致", "the record digests to the certificate's digest"),
    "LAB_SIGNATURE": ("机构电子签名有效", "the lab's signature is valid"),
    "INCLUSION": ("默克尔包含证明有效", "the Merkle inclusion proof leads to the anchored root"),
    "ANCHOR_LOG": ("上链交易回执含该批次的存证记录", "the anchoring receipt holds this batch's log"),
    "RECEIPTS_ROOT": ("回执重建出区块头中的回执根", "the receipts rebuild the header's receipts root"),
    "HEADER": ("区块头哈希为该区块哈希", "the header hashes to the block hash"),
    "SEALS": ("至少三分之二的验证节点签署了该区块", "a QBFT quorum (at least 2/3) of the block's validators sealed it"),
    "FORGED_DIFF": ("伪造件与真件的差异如实列出", "the forged copy's differences are as stated"),
}


def evidence_build(
    digests: Annotated[list[str], typer.Argument(help="The certificates of the case (0x + 64 hex).")],
    case_number: Annotated[str, typer.Option(help="E.g. 浙市监计案〔2026〕12号.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the package (JSON).")],
    title: Annotated[str, typer.Option(help="What the case is about.")] = "",
    forged: Annotated[
        Path | None, typer.Option(help="A forged copy's record (JSON), compared field by field with the genuine one.")
    ] = None,
    forged_of: Annotated[str | None, typer.Option(help="The certificate the forged copy imitates.")] = None,
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Annotated[
        str | None, typer.Option("--token", envvar="TRACECERT_TOKEN", help="A regulator's API token.")
    ] = None,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """Build a case's evidence package: each certificate's proof bundle and verification report, the anchoring
    block's header and receipts, a forged copy's diff; signed by the acting regulator's chain account."""
    with reporting_errors():
        if not digests or any(not HEX32.fullmatch(d) for d in digests):
            raise usage_error("give the certificates' digests (0x + 64 hex)")
        if (forged is None) != (forged_of is None):
            raise usage_error("--forged and --forged-of go together")
        forged_record: dict[str, Any] | None = None
        if forged is not None:
            try:
                data = parse_json(forged.read_bytes())
            except (OSError, ValueError) as exc:
                raise usage_error(f"cannot read a record from {forged}: {exc}") from exc
            forged_record = dict(data.get("record", data))
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        regulator, who = acting_account(contracts, settings, keystore, as_role, "national-authority")
        verifier = Verifier(LiveChainView(contracts), RegistrySource(registry, token))
        certificates = []
        with RegistryClient(registry, token) as client:
            for digest in (d.lower() for d in digests):
                bundle = client.bundle(digest)
                report = verifier.verify(Evidence.from_bundle(bundle)).to_dict()
                certificates.append(
                    {
                        "bundle": bundle,
                        "report": report,
                        **chain_evidence(contracts.client, bundle["anchor"]["block_number"]),
                    }
                )
        if forged_of is not None and forged_of.lower() not in {c["bundle"]["digest"] for c in certificates}:
            raise usage_error("--forged-of must be one of the case's certificates")
        package = build_package(
            case={"number": case_number, "title": title},
            deployment=asdict(contracts.deployment),
            certificates=certificates,
            forged={"of": forged_of.lower(), "record": forged_record} if forged_of and forged_record else None,
        )
        signed = sign_package(package, bytes(regulator._account.key))
        out.write_text(json.dumps(signed, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        console.print(f"case         {case_number} {title}".rstrip())
        for c in certificates:
            console.print(f"certificate  {c['bundle']['digest']} {c['report']['verdict']}")
        if signed["forged"] is not None:
            console.print(f"forged copy  {len(signed['forged']['diff'])} field(s) differ from the genuine record")
        console.print(f"signed by    {who} ({regulator.address})")
        console.print(
            f"written      {out}  (check it: tracecert evidence verify {out} --trust-authority {regulator.address})"
        )


def evidence_verify(
    file: Annotated[Path, typer.Argument(help="An evidence package (JSON).")],
    trust_authority: Annotated[str, typer.Option(help="The address whose signature you trust (the regulator's).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the links as JSON.")] = False,
) -> None:
    """Check an evidence package offline — no service, no chain node: each link holds or is named as failing;
    exit 1 when one fails."""
    with reporting_errors():
        if not _ADDRESS.fullmatch(trust_authority):
            raise usage_error(f"--trust-authority {trust_authority!r} is not an address (0x + 40 hex)")
        try:
            package = parse_json(file.read_bytes())
        except (OSError, ValueError) as exc:
            raise usage_error(f"cannot read a package from {file}: {exc}") from exc
        try:
            checked = verify_package(package, trust_authority)
        except (KeyError, TypeError, AttributeError, StopIteration) as exc:
            raise usage_error(f"{file} is not a complete evidence package: {exc}") from exc
        if as_json:
            typer.echo(
                json.dumps(
                    [{"link": n, "certificate": d, "ok": ok, "detail": why} for n, d, ok, why in checked.links],
                    ensure_ascii=False,
                )
            )
        else:
            for name, digest, ok, detail in checked.links:
                zh, en = LINKS.get(name, (name, name))
                about = f" [{digest[:18]}…]" if digest else ""
                console.print(f"{'✓' if ok else '✗'} {name:<14}{about} {zh} / {en}: {detail}")
            console.print(
                "the package stands" if checked.ok else f"the package does NOT stand: {', '.join(checked.failing)}"
            )
        if not checked.ok:
            raise typer.Exit(1)
