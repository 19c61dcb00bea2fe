"""The embedded default: a local chain's development accounts and first-run deployment.

Development accounts are generated on this machine (never the well-known Anvil keys), stored in
``<data_dir>/keys/dev-accounts.json`` with mode 0600, funded with ``anvil_setBalance``, and only ever used
against a local development node. Production accounts come from encrypted keystores (:func:`load_keystore`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from tracecert.chain.client import ChainClient
from tracecert.chain.deploy import Deployment, deploy, find_deployment
from tracecert.chain.errors import DeploymentNotFound
from tracecert.chain.sender import FileJournal, TransactionSender

__all__ = ["DevKeyring", "ensure_local_deployment", "load_keystore"]

logger = logging.getLogger(__name__)

_DEV_FUNDS = 10**24  # 1,000,000 ETH on the local chain


class DevKeyring:
    """Named development accounts of one data directory, created on first use."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "keys" / "dev-accounts.json"

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return dict(json.loads(self.path.read_text(encoding="utf-8")))

    def account(self, role: str) -> LocalAccount:
        """The account for ``role`` (e.g. ``national-authority``), generated and stored if new."""
        keys = self._load()
        if role not in keys:
            keys[role] = "0x" + bytes(Account.create().key).hex()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(keys, f, indent=2, sort_keys=True)
            self.path.with_suffix(".tmp").replace(self.path)
        return Account.from_key(keys[role])

    def funded(self, client: ChainClient, role: str) -> LocalAccount:
        """The account for ``role``, with funds on the local node."""
        account = self.account(role)
        if client.balance(account.address) < _DEV_FUNDS // 2:
            client.set_balance(account.address, _DEV_FUNDS)
        return account


def load_keystore(path: Path, passphrase: str) -> LocalAccount:
    """Decrypt an Ethereum JSON keystore (production accounts).

    Raises:
        ValueError: wrong passphrase or not a keystore.
    """
    with Path(path).open(encoding="utf-8") as f:
        return Account.from_key(Account.decrypt(json.load(f), passphrase))


def ensure_local_deployment(client: ChainClient, data_dir: Path) -> tuple[Deployment, bool]:
    """Find this data directory's deployment on the local node, or deploy it; return it and whether it is new."""
    path = Path(data_dir) / "deployment.json"
    try:
        return find_deployment(client, path), False
    except DeploymentNotFound as exc:
        if path.exists():
            logger.warning("redeploying: %s", exc)
    keyring = DevKeyring(data_dir)
    authority = keyring.funded(client, "national-authority")
    sender = TransactionSender(client, authority, FileJournal(Path(data_dir) / "journal" / "national-authority.jsonl"))
    deployment = deploy(client, sender, national_authority=authority.address)
    deployment.save(path)
    return deployment, True
