"""Random inspection draws on the command line (双随机抽查): ``tracecert draw run`` commits to a draw's inputs on chain
as a regulator, waits for the next block, draws and writes the published draw; ``tracecert draw verify FILE``
re-runs any published draw against the chain and names each link that holds or fails (see :mod:`tracecert.draws`)."""

from __future__ import annotations

import json
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
    console,
    reporting_errors,
    usage_error,
)
from registry.cli.lab import RegistryUrl
from registry.client import DEFAULT_REGISTRY_URL, RegistryClient
from registry.onboarding import connect, default_regulator_role, registry_settings
from tracecert.draws import DrawSpec, run, verify_published

__all__ = ["draw_publish", "draw_run", "draw_verify"]

#: What each link of a published draw means.
LINKS = {
    "COMMITMENT": ("承诺值是抽查输入的摘要", "the commitment is the digest of the draw's inputs"),
    "COMMITTED_ON_CHAIN": ("承诺已在所述区块上链", "the commitment is on chain in the block stated"),
    "COMMITTED_BY": ("由所述监管部门提交", "committed by the regulator stated"),
    "SEED_BLOCK": ("种子区块为承诺之后的下一个区块", "the seed block is the one after the commitment's"),
    "SEED": ("种子由该区块哈希得出", "the seed follows from that block's hash"),
    "SAMPLE": ("抽取结果可复现", "the sample and inspectors are drawn again the same"),
}


def _lines(path: Path) -> list[str]:
    """Non-empty lines of a file, the first CSV column of each (ids: lab ids, digests, instrument ids, names)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise usage_error(f"cannot read {path}: {exc}") from exc
    return [line.split(",")[0].strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def draw_run(
    population_file: Annotated[Path, typer.Option("--population", help="One id per line (or first CSV column).")],
    size: Annotated[int, typer.Option(help="How many to draw.")],
    jurisdiction: Annotated[int, typer.Option(help="The drawing regulator's jurisdiction (GB/T 2260, 0 national).")],
    purpose: Annotated[str, typer.Option(help="E.g. 2026年第四季度计量检定机构双随机抽查.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the published draw (JSON).")],
    inspectors_file: Annotated[
        Path | None, typer.Option("--inspectors", help="The inspectors to draw from, one per line.")
    ] = None,
    per_item: Annotated[int, typer.Option(help="Inspectors sent to each item drawn.")] = 2,
    selection: Annotated[str, typer.Option(help="How the population was chosen (recorded, committed to).")] = "",
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
    as_role: ActAs = None,
    keystore: Keystore = None,
) -> None:
    """Commit to a draw's inputs on chain, wait for the next block (its hash is the seed nobody could know), draw the
    sample and its inspectors, and write the published draw (一公开: anyone re-runs it with ``draw verify``)."""
    with reporting_errors():
        population = _lines(population_file)
        inspectors = _lines(inspectors_file) if inspectors_file is not None else []
        try:
            spec = DrawSpec(
                purpose,
                jurisdiction,
                tuple(population),
                size,
                tuple(inspectors),
                per_item,
                {"how": selection} if selection else {},
            )
        except ValueError as exc:
            raise usage_error(str(exc)) from exc
        settings = registry_settings(data_dir, rpc_url)
        contracts = connect(settings)
        default = default_regulator_role(contracts, settings.data_dir, jurisdiction, None)
        regulator, who = acting_account(contracts, settings, keystore, as_role, default)
        # A development chain (Anvil) mines only on transactions; a real network mines on its own.
        local = str(contracts.client.rpc("web3_clientVersion", [])).lower().startswith("anvil")

        def nudge() -> None:
            contracts.client.rpc("evm_mine", [])

        try:
            published = run(spec, contracts, regulator, nudge=nudge if local else None)
        except TimeoutError as exc:
            raise CliError("SEED_BLOCK_MISSING", str(exc)) from exc
        out.write_text(json.dumps(published, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"committed    {published['commitment']} in block {published['commit_block']} by {who}")
        console.print(f"seed         {published['seed']} (hash of block {published['seed_block']})")
        console.print(f"drawn        {len(published['sample'])} of {len(population)}")
        for item in published["sample"]:
            people = published["inspectors"].get(item)
            console.print(f"  {item}" + (f"  inspectors {', '.join(people)}" if people else ""))
        console.print(f"published    {out}")


def draw_verify(
    file: Annotated[Path, typer.Argument(help="A published draw (JSON).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the links as JSON.")] = False,
    data_dir: DataDir = None,
    rpc_url: RpcUrl = None,
) -> None:
    """Re-run a published draw against the chain: each link (commitment, on chain, by whom, seed block, seed,
    sample) holds or is named as failing; exit 1 when one fails."""
    with reporting_errors():
        try:
            published: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise usage_error(f"cannot read a published draw from {file}: {exc}") from exc
        contracts = connect(registry_settings(data_dir, rpc_url))
        try:
            checked = verify_published(published, contracts)
        except (KeyError, TypeError, ValueError) as exc:
            raise usage_error(f"{file} is not a published draw: {exc}") from exc
        if as_json:
            typer.echo(
                json.dumps([{"link": n, "ok": ok, "detail": d} for n, ok, d in checked.links], ensure_ascii=False)
            )
        else:
            for name, ok, detail in checked.links:
                zh, en = LINKS[name]
                console.print(f"{'✓' if ok else '✗'} {name:<19} {zh} / {en}: {detail}")
            console.print("the draw stands" if checked.ok else "the draw does NOT stand")
        if not checked.ok:
            raise typer.Exit(1)


def draw_publish(
    file: Annotated[Path, typer.Argument(help="A published draw (JSON), as draw run wrote it.")],
    registry: RegistryUrl = DEFAULT_REGISTRY_URL,
    token: Annotated[
        str | None, typer.Option("--token", envvar="TRACECERT_TOKEN", help="The drawing regulator's API token.")
    ] = None,
) -> None:
    """Publish a draw through the registry (一公开): it re-runs the draw against the chain and keeps it when every
    link holds; anyone then reads it at GET /v1/draws."""
    with reporting_errors():
        try:
            published: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise usage_error(f"cannot read a published draw from {file}: {exc}") from exc
        with RegistryClient(registry, token) as client:
            view = client.publish_draw(published)
        console.print(f"published    {view['commitment']} ({view['purpose']}) at {view['published_at']}")
        console.print(f"drawn        {len(view['sample'])} of {view['population_size']}")
        console.print(f"anyone reads {registry.rstrip('/')}/v1/draws/{view['commitment']}")
