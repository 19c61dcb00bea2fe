"""The contract tests' world: regulators, labs, writers and keys as they exist in practice.

国家市场监督管理总局 (national) → 浙江省 330000 → 杭州市 330100, and 江苏省 320000; the NMI registered by
the national authority; a Hangzhou legal metrology institute authorized by the Hangzhou bureau and an
institute in Jiangsu, each with an administrator, a writer account and a registered Ed25519 key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from tests.conftest import Chain, Snapshot
from tracecert.certificate.canonical import CERTIFICATE_DOMAIN, lab_id
from tracecert.certificate.merkle import MerkleBatch, build_batch
from tracecert.certificate.signing import SigningKey, generate_key
from tracecert.chain.client import ChainClient
from tracecert.chain.contracts import ChainContracts
from tracecert.chain.deploy import deploy
from tracecert.chain.errors import ContractReverted
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import Receipt, TransactionSender
from tracecert.chain.types import Activity, LabKind

DAY = 24 * 3600
YEAR = 365 * DAY
#: 计量授权证书 are issued for five years.
AUTHORIZATION_TERM = 5 * YEAR
ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = b"\x00" * 32

ZHEJIANG, HANGZHOU, NINGBO, JIANGSU, NANJING, BEIJING = 330000, 330100, 330200, 320000, 320100, 110000

#: 法定计量检定机构计量授权证书 numbers.
HZ_AUTH_NUMBER, JS_AUTH_NUMBER = "(浙)法计(2025)01001号", "(苏)法计(2025)02003号"

V, C = Activity.VERIFY, Activity.CALIBRATE
#: 燃油加油机 (verification only) and 弹性元件式一般压力表 (verification and calibration).
HANGZHOU_SCOPE: Mapping[str, Activity] = {"JJG443": V, "JJG52": V | C}
#: 电子天平 and 压力表, calibration only for the latter.
JIANGSU_SCOPE: Mapping[str, Activity] = {"JJG1036": V | C, "JJG52": C}


def certificate_digests(prefix: str, count: int) -> list[bytes]:
    """Distinct 32-byte certificate digests (the contracts treat digests as opaque)."""
    return [hashlib.sha256(CERTIFICATE_DOMAIN + f"{prefix}-{i:05d}".encode()).digest() for i in range(count)]


@dataclass(frozen=True)
class Lab:
    """A lab as the tests use it: its id, accounts, signing key and authorization window."""

    code: str
    name: str
    kind: LabKind
    jurisdiction: int
    admin: TransactionSender
    writer: TransactionSender
    key: SigningKey
    registered_at: int
    auth_from: int
    auth_until: int
    authorized_at: int

    @property
    def id(self) -> bytes:
        return lab_id(self.code)

    @property
    def key_id(self) -> bytes:
        return self.key.key_id


@dataclass
class World:
    """The regulators and labs of one test, on a deployment in the state the world's build left it."""

    chain: Chain
    zhejiang: TransactionSender
    hangzhou: TransactionSender
    jiangsu: TransactionSender
    nmi_admin: TransactionSender
    hz: Lab
    js: Lab

    NMI_CODE = "12100000400000624D"

    @property
    def national(self) -> TransactionSender:
        return self.chain.national

    @property
    def contracts(self) -> ChainContracts:
        return self.chain.contracts

    @property
    def trust(self) -> Contract:
        return self.chain.contracts.trust

    @property
    def certificates(self) -> Contract:
        return self.chain.contracts.certificates

    @property
    def client(self) -> ChainClient:
        return self.chain.client

    @property
    def nmi_id(self) -> bytes:
        return lab_id(self.NMI_CODE)

    # ---------------------------------------------------------------- naming actors in parametrize tables

    def actor(self, role: str) -> TransactionSender:
        """A sender by role: ``national``, ``zhejiang``, ``hangzhou``, ``jiangsu``, ``nmi.admin``, ``hz.admin``,
        ``hz.writer``, ``js.admin``, ``js.writer``; any other name is a funded account with no role."""
        lab, _, part = role.partition(".")
        if lab in ("hz", "js") and part in ("admin", "writer"):
            return getattr(getattr(self, lab), part)
        if role == "nmi.admin":
            return self.nmi_admin
        if role in ("national", "zhejiang", "hangzhou", "jiangsu"):
            return getattr(self, role)
        return self.chain.actor(role)

    def resolve(self, value: Any) -> Any:
        """Resolve table tokens: ``@role`` → that actor's address, ``$hz``/``$js``/``$nmi`` → lab id,
        ``$hz.key``/``$js.key`` → key id, ``$hz.pk``/``$js.pk`` → public key, ``@zero`` → the zero address;
        tuples element-wise; anything else as is."""
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if not isinstance(value, str):
            return value
        if value == "@zero":
            return ZERO_ADDRESS
        if value.startswith("@"):
            return self.actor(value[1:]).address
        if value in ("$hz", "$js"):
            return getattr(self, value[1:]).id
        if value in ("$hz.key", "$js.key"):
            return getattr(self, value[1:3]).key_id
        if value in ("$hz.pk", "$js.pk"):
            return getattr(self, value[1:3]).key.public_key
        if value == "$nmi":
            return self.nmi_id
        return value

    # ---------------------------------------------------------------- helpers

    def time_of(self, receipt: Receipt) -> int:
        """Block time of a receipt's block."""
        return self.client.block_timestamp(receipt.block_number)

    def send(self, sender: TransactionSender, contract: Contract, function: str, *args: Any) -> Receipt:
        """Send without an idempotency key: a second identical call is really sent again."""
        return self.contracts.transact(sender, contract, function, *args)

    def trust_call(self, function: str, *args: Any) -> Any:
        return self.contracts.call(self.trust, function, *args)

    def cert_call(self, function: str, *args: Any) -> Any:
        return self.contracts.call(self.certificates, function, *args)

    def onboard(
        self,
        handle: str,
        *,
        regulator: TransactionSender,
        code: str,
        name: str,
        kind: LabKind = LabKind.LEGAL_METROLOGY_INSTITUTE,
        jurisdiction: int,
        scope: Mapping[str, Activity] | None = None,
        window: tuple[int, int] | None = (0, AUTHORIZATION_TERM),
        number: str = "(浙)法计(2025)01099号",
        key: SigningKey | None = None,
    ) -> Lab:
        """Register a lab, authorize it for ``window`` (offsets from its registration time; None: never),
        add its writer and register its key. Four transactions."""
        return onboard(self.chain, handle, regulator=regulator, code=code, name=name, kind=kind,
                       jurisdiction=jurisdiction, scope=scope or HANGZHOU_SCOPE, window=window, number=number, key=key)

    def anchor_batch(self, lab: Lab, digests: list[bytes]) -> tuple[MerkleBatch, Receipt]:
        """Build the RFC 6962 batch over ``digests`` and anchor it with the lab's writer and key."""
        batch = build_batch(digests)
        return batch, self.contracts.anchor(lab.writer, batch.root, len(digests), lab.key_id)


def onboard(
    chain: Chain,
    handle: str,
    *,
    regulator: TransactionSender,
    code: str,
    name: str,
    kind: LabKind,
    jurisdiction: int,
    scope: Mapping[str, Activity],
    window: tuple[int, int] | None,
    number: str,
    key: SigningKey | None = None,
) -> Lab:
    """See :meth:`World.onboard`."""
    contracts = chain.contracts
    admin, writer, key = chain.actor(f"{handle}.admin"), chain.actor(f"{handle}.writer"), key or generate_key()
    receipt = contracts.register_lab(regulator, lab_id(code), kind, jurisdiction, admin.address, name)
    registered_at = chain.client.block_timestamp(receipt.block_number)
    auth_from = auth_until = authorized_at = 0
    if window is not None:
        auth_from, auth_until = registered_at + window[0], registered_at + window[1]
        receipt = contracts.authorize_lab(regulator, lab_id(code), number, auth_from, auth_until, scope)
        authorized_at = chain.client.block_timestamp(receipt.block_number)
    contracts.add_writer(admin, lab_id(code), writer.address)
    contracts.register_key(admin, lab_id(code), key.public_key)
    return Lab(code, name, kind, jurisdiction, admin, writer, key, registered_at, auth_from, auth_until,
               authorized_at)


#: The accounts of the world, by role (see :meth:`World.actor`).
ROLES = ("zhejiang", "hangzhou", "jiangsu", "nmi.admin", "hz.admin", "hz.writer", "js.admin", "js.writer")


class WorldTemplate:
    """The world built once per session, and the node snapshot of the state right after it.

    Building it takes 14 transactions (about 0.3 s); restoring the snapshot takes two RPCs. Each test gets the
    same deployment in exactly the state the build left, with fresh senders (nonces read from the chain, empty
    journals) and the chain clock back at the build time, so no test sees another's transactions or time.
    """

    def __init__(self, client: ChainClient) -> None:
        self.client = client
        self.national: LocalAccount = Account.create()
        self.accounts: dict[str, LocalAccount] = {role: Account.create() for role in ROLES}
        for account in (self.national, *self.accounts.values()):
            client.set_balance(account.address, 10**22)
        national = TransactionSender(client, self.national)
        deployment = deploy(client, national, national_authority=self.national.address,
                            authority_name="国家市场监督管理总局")
        self.contracts = ChainContracts(client, deployment)
        self.world = _build_world(self._chain())
        self.snapshot = Snapshot(client)

    def _chain(self) -> Chain:
        senders = {role: TransactionSender(self.client, account) for role, account in self.accounts.items()}
        return Chain(self.client, self.contracts, TransactionSender(self.client, self.national), senders)

    def fresh(self) -> World:
        """The built world with fresh senders for its accounts."""
        chain = self._chain()
        w = self.world
        return World(chain, chain.actor("zhejiang"), chain.actor("hangzhou"), chain.actor("jiangsu"),
                     chain.actor("nmi.admin"),
                     replace(w.hz, admin=chain.actor("hz.admin"), writer=chain.actor("hz.writer")),
                     replace(w.js, admin=chain.actor("js.admin"), writer=chain.actor("js.writer")))

    def restore(self) -> None:
        """Put the node back in the state right after the build."""
        self.snapshot.restore()


def _build_world(chain: Chain) -> World:
    c = chain.contracts
    zhejiang, hangzhou, jiangsu = chain.actor("zhejiang"), chain.actor("hangzhou"), chain.actor("jiangsu")
    nmi_admin = chain.actor("nmi.admin")
    c.register_regulator(chain.national, zhejiang.address, ZHEJIANG, "浙江省市场监督管理局")
    c.register_regulator(zhejiang, hangzhou.address, HANGZHOU, "杭州市市场监督管理局")
    c.register_regulator(chain.national, jiangsu.address, JIANGSU, "江苏省市场监督管理局")
    c.register_lab(chain.national, lab_id(World.NMI_CODE), LabKind.NMI, BEIJING, nmi_admin.address,
                   "中国计量科学研究院")
    hz = onboard(chain, "hz", regulator=hangzhou, code="12330100470000123X", name="杭州市质量技术监督检测院",
                 kind=LabKind.LEGAL_METROLOGY_INSTITUTE, jurisdiction=HANGZHOU, scope=HANGZHOU_SCOPE,
                 window=(0, AUTHORIZATION_TERM), number=HZ_AUTH_NUMBER)
    js = onboard(chain, "js", regulator=jiangsu, code="12320000466000587K", name="江苏省计量科学研究院",
                 kind=LabKind.LEGAL_METROLOGY_INSTITUTE, jurisdiction=JIANGSU, scope=JIANGSU_SCOPE,
                 window=(0, AUTHORIZATION_TERM), number=JS_AUTH_NUMBER)
    return World(chain, zhejiang, hangzhou, jiangsu, nmi_admin, hz, js)


@pytest.fixture(scope="session")
def world_template(own_node: Callable[[], AnvilNode]) -> WorldTemplate:
    """The world, built once for the session on a node of its own (its reverts never touch another world)."""
    return WorldTemplate(ChainClient(own_node().url))


@pytest.fixture
def world(world_template: WorldTemplate) -> Iterator[World]:
    """National → 浙江 → 杭州 and 江苏 regulators, the NMI, and two onboarded labs with writers and keys, in
    exactly the state of the session's build (restored before the test, whatever ran in between, and after it,
    so that the years a test moves the clock on never reach later tests)."""
    world_template.restore()
    yield world_template.fresh()
    world_template.restore()


@contextmanager
def reverts(error: str, *args: Any) -> Iterator[pytest.ExceptionInfo[ContractReverted]]:
    """Expect a revert with the custom error ``error`` and, when given, exactly these arguments
    (addresses compared case-insensitively; ``unittest.mock.ANY`` matches anything)."""
    with pytest.raises(ContractReverted) as exc:
        yield exc
    assert exc.value.error == error, f"reverted with {exc.value.error}{exc.value.args_decoded}, not {error}"
    if args:
        assert _normalized(exc.value.args_decoded) == _normalized(args)


def _normalized(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.lower() if isinstance(v, str) and v.startswith("0x") else v for v in values)


def case_id(value: Any) -> str | None:
    """Readable parametrize ids: bytes as a short hex prefix, tuples of tokens joined; else pytest's default."""
    if isinstance(value, bytes):
        return "0x" + value.hex()[:8]
    if isinstance(value, tuple):
        return "(" + ",".join(case_id(v) or str(v) for v in value) + ")"
    return None
