"""Building a verifier from its settings: the deployment (trusted to its root), the chain view (a live node or the
verifier's own index, followed by a thread; which one is decided here alone), and the bundle sources."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from web3 import Web3

from tracecert.chain.client import ChainClient, revert_guard
from tracecert.chain.compile import load_artifact
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import Deployment, client_for, expected_runtime_code, find_deployment
from tracecert.chain.errors import ChainError, ChainUnavailable
from tracecert.verification.chainview import ChainView, LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.sources import BundleSource, ChainedSource, DirectorySource, MemorySource, RegistrySource
from verifier.config import VerifierSettings
from verifier.errors import SetupError

__all__ = [
    "SERVED_CHAIN_VIEW",
    "ChainViewName",
    "build_sources",
    "build_verifier",
    "chain_view_of",
    "open_index",
    "resolve_deployment",
]

logger = logging.getLogger(__name__)

ChainViewName = Literal["live", "index"]

#: The chain view of a verifier that keeps serving (``tracecert verifier serve``, ``tracecert up``) when the settings
#: name none: its own index, caught up once and then followed, answers from disk instead of a round trip per check.
SERVED_CHAIN_VIEW: ChainViewName = "index"

ZERO_ADDRESS = "0x" + "00" * 20


def chain_view_of(settings: VerifierSettings, *, served: bool = False) -> ChainViewName:
    """The chain view a verifier uses: the settings' ``chain_view`` when they name one; else
    :data:`SERVED_CHAIN_VIEW` for a verifier that keeps serving (``served``), and the live node for one that
    answers a few verifications (the CLI's ``verify``, an app built without ``tracecert verifier serve``), where
    catching an index up would cost more than the calls it saves."""
    if settings.chain_view is not None:
        return settings.chain_view
    return SERVED_CHAIN_VIEW if served else "live"


def resolve_deployment(
    client: ChainClient, settings: VerifierSettings, *, contract_hint: str | None = None
) -> Deployment:
    """Find the deployment to verify against and check that it is trusted.

    In order: the deployment file (explicit, or ``{data_dir}/deployment.json`` when it exists), then the
    CertificateRegistry address from the settings, then ``contract_hint`` (the contract a bundle names; the CLI's
    offline mode). Code at both addresses must be exactly the compiled contracts. With ``trusted_authorities``
    the deployment's root regulator (read on chain) must be one of them.

    Raises:
        SetupError: NO_DEPLOYMENT, UNTRUSTED_DEPLOYMENT, CHAIN_UNAVAILABLE.
    """
    try:
        if settings.deployment_file is not None or settings.deployment_path.exists():
            deployment = find_deployment(client, settings.deployment_path)
        elif address := settings.certificate_registry or contract_hint:
            deployment = _deployment_from_contract(client, address, settings.credit_registry)
        else:
            raise SetupError(
                f"no deployment file at {settings.deployment_path} and no CertificateRegistry address "
                "(set TRACECERT_VERIFIER_DEPLOYMENT_FILE or TRACECERT_VERIFIER_CERTIFICATE_REGISTRY)",
                code="NO_DEPLOYMENT",
            )
        if settings.trusted_authorities:
            _require_trusted_root(client, deployment, settings.trusted_authorities)
    except ChainUnavailable as exc:
        raise SetupError(f"the chain node at {client.url} does not answer: {exc}", code="CHAIN_UNAVAILABLE") from exc
    except ChainError as exc:
        raise SetupError(str(exc), code="NO_DEPLOYMENT") from exc
    return deployment


def _deployment_from_contract(client: ChainClient, address: str, credit: str | None = None) -> Deployment:
    for given in (address, credit) if credit else (address,):
        if not Web3.is_address(given):
            raise SetupError(f"not a contract address: {given!r}", code="NO_DEPLOYMENT")
    certificates = client.contract("CertificateRegistry", address)
    if not client.code(address):
        raise SetupError(f"no contract at {address} on chain {client.chain_id}", code="NO_DEPLOYMENT")
    try:
        trust_address = Web3.to_checksum_address(client.call(certificates.functions.TRUST_REGISTRY()))
    except ChainError as exc:
        raise SetupError(f"{address} is not a CertificateRegistry: {exc}", code="NO_DEPLOYMENT") from exc
    trust_word = bytes(12) + bytes.fromhex(trust_address[2:])
    refs = load_artifact("CertificateRegistry").get("immutableReferences", {})
    if client.code(trust_address) != expected_runtime_code("TrustRegistry") or client.code(
        address
    ) != expected_runtime_code("CertificateRegistry", dict.fromkeys(refs, trust_word)):
        raise SetupError(f"the code at {address} is not TraceCert's contracts", code="NO_DEPLOYMENT")
    if credit:
        credit_refs = load_artifact("CreditRegistry").get("immutableReferences", {})
        if client.code(credit) != expected_runtime_code("CreditRegistry", dict.fromkeys(credit_refs, trust_word)):
            raise SetupError(
                f"the code at {credit} is not TraceCert's CreditRegistry over the TrustRegistry {trust_address}",
                code="NO_DEPLOYMENT",
            )
    trust = client.contract("TrustRegistry", trust_address)
    logs = revert_guard(
        lambda: trust.events.RegulatorRegistered().get_logs(from_block=0, argument_filters={"parent": ZERO_ADDRESS}),
        what="eth_getLogs",
    )
    if not logs:
        raise SetupError(f"no national authority registered in {trust_address}", code="NO_DEPLOYMENT")
    return Deployment(
        chain_id=client.chain_id,
        trust_registry=trust_address,
        certificate_registry=Web3.to_checksum_address(address),
        credit_registry=Web3.to_checksum_address(credit) if credit else "",
        national_authority=Web3.to_checksum_address(str(logs[0]["args"]["account"])),
        deployer="",
        block_number=int(logs[0]["blockNumber"]),
    )


def _require_trusted_root(client: ChainClient, deployment: Deployment, trusted: Sequence[str]) -> None:
    trust = client.contract("TrustRegistry", deployment.trust_registry)
    for address in trusted:
        jurisdiction, _active, exists, parent = client.call(trust.functions.regulator(address))
        # Only the constructor registers a regulator without a parent: that is the deployment's root of trust.
        if exists and jurisdiction == 0 and int(parent, 16) == 0:
            return
    raise SetupError(
        f"the deployment at {deployment.trust_registry} is not rooted at a trusted national authority "
        f"({', '.join(trusted)})",
        code="UNTRUSTED_DEPLOYMENT",
    )


def build_sources(settings: VerifierSettings, extra: Iterable[BundleSource] = ()) -> BundleSource:
    """The bundle sources: ``extra`` first, then the bundles folder, then each registry, asked in that order."""
    parts: list[BundleSource] = list(extra)
    if settings.bundles_dir is not None:
        if not settings.bundles_dir.is_dir():
            raise SetupError(f"the bundles folder {settings.bundles_dir} does not exist", code="NO_BUNDLES_DIR")
        parts.append(DirectorySource(settings.bundles_dir))
    token = settings.registry_token.get_secret_value() if settings.registry_token else None
    parts.extend(RegistrySource(url, token, timeout=settings.rpc_timeout) for url in settings.registry_urls)
    if not parts:
        return MemorySource()
    return parts[0] if len(parts) == 1 else ChainedSource(*parts)


def open_index(
    settings: VerifierSettings, client: ChainClient, deployment: Deployment, *, follow: bool = True
) -> tuple[ChainView, Callable[[], None]]:
    """The verifier's own index (:mod:`verifier.index`) as the chain view: caught up once, then (``follow``) kept
    up to date by a daemon thread. Returns the view and the function that stops the thread and closes the index.

    Raises:
        SetupError: NO_INDEX (not installed, or its file belongs to another deployment), CHAIN_UNAVAILABLE.
    """
    try:
        module = importlib.import_module("verifier.index")
    except ImportError as exc:
        raise SetupError("chain_view=index needs verifier.index, which is not installed", code="NO_INDEX") from exc
    try:
        # The index stays the confirmations' depth below the head: it answers from no block the registry (waiting
        # as many) would not yet call anchored, and from fewer that a shallow reorganization takes away.
        index = module.Index(
            settings.index_path,
            client,
            deployment,
            mirrors=settings.registry_urls,
            confirmations=settings.confirmations - 1,
            catch_up=True,
        )
    except ValueError as exc:  # IndexMismatch: the file was built for another chain or deployment
        raise SetupError(str(exc), code="NO_INDEX") from exc
    try:
        report = index.sync()
    except ChainUnavailable as exc:
        index.close()
        raise SetupError(f"the chain node does not answer: {exc}") from exc
    logger.info("index caught up: %s events in %s blocks (%.2f s)", report.events, report.blocks, report.elapsed)
    stop = threading.Event()
    thread = None
    if follow:

        def keep_following() -> None:
            # follow() retries node errors itself; anything else (a reorg deeper than the kept hashes, another
            # deployment) must not stop the thread silently.
            while not stop.is_set():
                try:
                    index.follow(stop, settings.index_interval)
                except Exception:
                    logger.exception("the verifier's index stopped following the chain; retrying in 30 s")
                    stop.wait(30)

        thread = threading.Thread(target=keep_following, name="verifier-index", daemon=True)
        thread.start()

    def close() -> None:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)
        index.close()

    view: ChainView = index
    return view, close


def build_verifier(
    settings: VerifierSettings,
    *,
    sources: Iterable[BundleSource] = (),
    contract_hint: str | None = None,
    chain: ChainView | None = None,
    closers: list[Callable[[], None]] | None = None,
) -> Verifier:
    """A :class:`Verifier` from the settings: a chain view over the resolved deployment (``live``, or the
    ``index``: :func:`chain_view_of`), and the sources from the settings asked after ``sources``.

    Args:
        chain: use this chain view instead of opening one.
        closers: receives what must be called to release the chain view (the index's follower thread).

    Raises:
        SetupError: no RPC URL, no (trusted) deployment, the node does not answer, no index.
    """
    if chain is None:
        if not settings.rpc_url:
            raise SetupError(
                "no chain RPC URL (set TRACECERT_VERIFIER_RPC_URL or TRACECERT_CHAIN_RPC_URL, or --rpc-url)",
                code="NO_RPC_URL",
            )
        client = client_for(settings.rpc_url, settings.deployment_path, timeout=settings.rpc_timeout)
        deployment = resolve_deployment(client, settings, contract_hint=contract_hint)
        if chain_view_of(settings) == "index":
            chain, close = open_index(settings, client, deployment)
            if closers is not None:
                closers.append(close)
        else:
            chain = LiveChainView(ChainContracts(client, deployment))
    return Verifier(chain, build_sources(settings, sources), settings.policy())
