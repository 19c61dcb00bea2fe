"""The contracts' authorization matrix (issue 15, item 3): every role × every state-changing function of every
deployed contract, as one parametrized table of the outcome each role gets.

An outcome is ``"allowed"`` (the transaction is mined) or the exact custom error the call reverts with
(``TrustRegistryNotRegulator``, ``CertificateRegistryNotLabAdmin``, ``CreditNotRegulatorOver``...). Every row also
reads back, with view calls, whether the write took effect: it must exactly when the outcome is ``allowed``, and a
refused row changes nothing.

The target of every row is lab A, the Hangzhou legal metrology institute (jurisdiction 330100), its key, its writers,
its certificates and credit record; a function that creates something (a regulator, a lab, an enterprise's sanction, a
draw) creates it in lab A's region (Hangzhou, or its district 西湖区 330106). The roles:

* ``deployer``: the account that deployed the contracts, distinct from the national authority (as ``tracecert chain
  deploy --national-authority`` allows); the contracts keep no owner, so it holds no role;
* ``national``: the national authority (jurisdiction 0, the root of trust);
* ``province``: Zhejiang 330000, over lab A; ``city``: Hangzhou 330100, a municipal regulator over lab A;
  ``inactive_city``: the Hangzhou regulator after Zhejiang deactivated it;
* ``other_city``: Ningbo 330200 (municipal, same province, not over lab A); ``other_province``: Jiangsu 320000;
* ``lab_admin`` and ``writer``: lab A's administrator and writer accounts; ``suspended_admin`` and
  ``suspended_writer``: the same accounts while Zhejiang has lab A suspended;
* ``other_lab_admin`` and ``other_lab_writer``: those of lab B (the Jiangsu institute);
* ``nobody``: a funded account with no role.

A few rows have a variant (``Contract.function:variant``) where the state or who made the earlier decision matters:
undoing a decision of a higher authority (refused: ``…DecisionOfHigherAuthority``), a lab's admin replaced by a
regulator (only while the lab is suspended, never by a regulator's account).

The world is built once per module (and xdist worker) on a node of its own, and every row starts from its snapshot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from tests.chain.conftest import HANGZHOU, NINGBO, World, _build_world
from tests.chain.conftest import ROLES as WORLD_ACCOUNTS
from tests.conftest import Chain, Snapshot
from tracecert.certificate.canonical import lab_id
from tracecert.certificate.merkle import inclusion_proof, merkle_root
from tracecert.certificate.signing import generate_key
from tracecert.chain.client import ChainClient
from tracecert.chain.compile import CONTRACTS, load_artifact
from tracecert.chain.contracts import ChainContracts, enterprise_subject
from tracecert.chain.deploy import deploy
from tracecert.chain.errors import ContractReverted
from tracecert.chain.node import AnvilNode
from tracecert.chain.sender import TransactionSender
from tracecert.chain.types import Activity, LabKind, RevocationReason, SanctionKind, SanctionReason, category_code
from tracecert_app.story import usci

pytestmark = pytest.mark.chain

XIHU = 330106  # 杭州市西湖区, below the Hangzhou regulator
ZERO32 = b"\x00" * 32
ALLOWED = "allowed"

ROLES = (
    "deployer",
    "national",
    "province",
    "city",
    "inactive_city",
    "other_city",
    "other_province",
    "lab_admin",
    "writer",
    "suspended_admin",
    "suspended_writer",
    "other_lab_admin",
    "other_lab_writer",
    "nobody",
)
#: Groups a row may give one outcome for (a role named in the row wins over its group).
GROUPS = {
    "over": ("national", "province", "city"),  # active regulators over lab A and its region
    "elsewhere": ("other_city", "other_province"),  # active regulators over neither
    "admins": ("lab_admin", "suspended_admin"),
}
#: The account each role acts with (keys of the template's senders).
ACCOUNT = {
    "deployer": "deployer",
    "national": "national",
    "province": "zhejiang",
    "city": "hangzhou",
    "inactive_city": "hangzhou",
    "other_city": "ningbo",
    "other_province": "jiangsu",
    "lab_admin": "hz.admin",
    "writer": "hz.writer",
    "suspended_admin": "hz.admin",
    "suspended_writer": "hz.writer",
    "other_lab_admin": "js.admin",
    "other_lab_writer": "js.writer",
    "nobody": "nobody",
}
#: Accounts of the template besides the national authority and those of the conftest's world.
EXTRA_ACCOUNTS = ("deployer", "ningbo", "xihu", "hz.writer2", "nobody")

# The refusals, by the contracts' custom error names.
NOT_REGULATOR = "TrustRegistryNotRegulator"
OUTSIDE = "TrustRegistryOutsideJurisdiction"
LAB_NOT_ACTIVE = "TrustRegistryLabNotActive"
NOT_LAB_ADMIN = "CertificateRegistryNotLabAdmin"
NOT_ISSUER = "CertificateRegistryNotIssuerOrRegulator"
NOT_WRITER = "CertificateRegistryUnauthorizedWriter"
KEY_NOT_OF_LAB = "CertificateRegistryKeyNotOfLab"
CREDIT_NOT_OVER = "CreditNotRegulatorOver"
ABOVE = "TrustRegistryDecisionOfHigherAuthority"
CREDIT_ABOVE = "CreditDecisionOfHigherAuthority"
LAB_NOT_SUSPENDED = "TrustRegistryLabNotSuspended"
ADMIN_IS_REGULATOR = "TrustRegistryAdminIsRegulator"


def row(rest: str | None = None, **given: str) -> dict[str, str]:
    """Every role's outcome: by role, else by group, else ``rest``."""
    unknown = set(given) - set(ROLES) - set(GROUPS)
    assert not unknown, unknown
    outcomes: dict[str, str] = {}
    for role in ROLES:
        groups = [g for g, members in GROUPS.items() if role in members and g in given]
        chosen = given.get(role) or (given[groups[0]] if groups else rest)
        assert chosen is not None, f"no outcome for {role}"
        outcomes[role] = chosen
    return outcomes


# ---------------------------------------------------------------------------------------------------- the world


class MatrixTemplate:
    """The conftest's world (national → 浙江 → 杭州, 江苏; the NMI; lab A in Hangzhou and lab B in Jiangsu, each with
    an admin, a writer and a key) deployed by a deployer of its own, plus what the rows act on: the Ningbo regulator,
    a 西湖区 regulator registered by Hangzhou, a second writer of lab A, and two sanctions of lab A (one recorded by
    the Hangzhou regulator, one by the national authority). Restored from a node snapshot before every row."""

    def __init__(self, client: ChainClient) -> None:
        self.client = client
        self.national: LocalAccount = Account.create()
        self.accounts: dict[str, LocalAccount] = {
            name: Account.create() for name in (*WORLD_ACCOUNTS, *EXTRA_ACCOUNTS)
        }
        for account in (self.national, *self.accounts.values()):
            client.set_balance(account.address, 10**22)
        deployer = TransactionSender(client, self.accounts["deployer"])
        deployment = deploy(client, deployer, national_authority=self.national.address,
                            authority_name="国家市场监督管理总局")  # fmt: skip
        self.contracts = ChainContracts(client, deployment)
        chain = self._chain()
        self.world = _build_world(chain)
        c, hz = self.contracts, self.world.hz
        c.register_regulator(chain.actor("zhejiang"), chain.actor("ningbo").address, NINGBO, "宁波市市场监督管理局")
        c.register_regulator(chain.actor("hangzhou"), chain.actor("xihu").address, XIHU, "杭州市西湖区市场监督管理局")
        c.add_writer(chain.actor("hz.admin"), hz.id, chain.actor("hz.writer2").address)
        now = client.block_timestamp()
        for by, case in ((chain.actor("hangzhou"), "杭市监处罚〔2026〕7号"), (chain.national, "国市监处罚〔2026〕3号")):
            c.record_sanction(by, hz.id, SanctionKind.RECTIFICATION, SanctionReason.OVERDUE_VERIFICATION, case,
                              _digest(case), now)  # fmt: skip
        self.snapshot = Snapshot(client)

    def _chain(self) -> Chain:
        senders = {name: TransactionSender(self.client, account) for name, account in self.accounts.items()}
        return Chain(self.client, self.contracts, TransactionSender(self.client, self.national), senders)

    def fresh(self) -> Matrix:
        """The template's state (restored) with fresh senders: nonces read from the node again."""
        self.snapshot.restore()
        chain = self._chain()
        w = self.world
        world = World(chain, chain.actor("zhejiang"), chain.actor("hangzhou"), chain.actor("jiangsu"),
                      chain.actor("nmi.admin"),
                      replace(w.hz, admin=chain.actor("hz.admin"), writer=chain.actor("hz.writer")),
                      replace(w.js, admin=chain.actor("js.admin"), writer=chain.actor("js.writer")))  # fmt: skip
        return Matrix(world)


@dataclass
class Matrix:
    """One row's world, and the accounts and views the rows use."""

    world: World

    @property
    def contracts(self) -> ChainContracts:
        return self.world.contracts

    @property
    def credit(self) -> Contract:
        credit = self.world.contracts.credit
        assert credit is not None
        return credit

    def account(self, name: str) -> TransactionSender:
        """The sender of a template account (``national``, ``zhejiang``, ``hz.writer2``...)."""
        return self.world.national if name == "national" else self.world.chain.actor(name)

    def sender(self, role: str) -> TransactionSender:
        """The account ``role`` acts with."""
        return self.account(ACCOUNT[role])

    def now(self) -> int:
        return self.world.chain.now()

    def trust(self, function: str, *args: Any) -> Any:
        return self.contracts.call(self.world.trust, function, *args)

    def cert(self, function: str, *args: Any) -> Any:
        return self.contracts.call(self.world.certificates, function, *args)

    def credit_call(self, function: str, *args: Any) -> Any:
        return self.contracts.call(self.credit, function, *args)

    def lab_status(self) -> tuple[int, int]:
        """Lab A's status and the length of its status history (which any status change lengthens)."""
        hz = self.world.hz.id
        return int(self.trust("lab", hz)[0]), len(self.trust("statusHistory", hz))

    def suspend(self, by: str) -> None:
        """Lab A suspended by ``by`` (unless it already is)."""
        if self.lab_status()[0] == 1:
            self.contracts.suspend_lab(self.account(by), self.world.hz.id, SanctionReason.REFUSED_INSPECTION)

    def set_up(self, role: str) -> None:
        """Put the world in the role's state: Hangzhou deactivated (by Zhejiang), or lab A suspended (by Zhejiang)."""
        if role == "inactive_city":
            self.world.send(self.account("zhejiang"), self.world.trust, "setRegulatorActive",
                            self.account("hangzhou").address, False)  # fmt: skip
        elif role.startswith("suspended_"):
            self.suspend("zhejiang")


@pytest.fixture(scope="module")
def template(own_node: Callable[[], AnvilNode]) -> MatrixTemplate:
    """The world, built once per module (and worker) on a node of its own."""
    return MatrixTemplate(ChainClient(own_node().url))


@pytest.fixture
def matrix(template: MatrixTemplate) -> Iterator[Matrix]:
    """The template's state, restored."""
    yield template.fresh()


# ---------------------------------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Call:
    """One transaction of a row, and what shows whether it took effect.

    ``observe`` reads the state the call changes; ``effect`` maps what it reads before the call to what it must read
    after an ``allowed`` call (and must differ from it, so that a refused row that changed something fails)."""

    contract: Contract
    function: str
    args: tuple[Any, ...]
    observe: Callable[[], Any]
    effect: Callable[[Any], Any]


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _fresh(m: Matrix, role: str, what: str) -> bytes:
    """A 32-byte value of its own for the row (ids, digests, keys)."""
    return _digest(f"{what}|{role}|{m.now()}")


def _number(m: Matrix, role: str, what: str) -> str:
    """Six digits of the row's own (for the serial part of a unified social credit code)."""
    return f"{int.from_bytes(_fresh(m, role, what)[:8], 'big') % 10**6:06d}"


def _new_account() -> str:
    return str(Account.create().address)


def _encode(contract: Contract, function: str, *args: Any) -> bytes:
    return bytes.fromhex(contract.encode_abi(function, list(args)).removeprefix("0x"))


def _plus_one(before: int) -> int:
    return before + 1


# TrustRegistry ---------------------------------------------------------------------------------------------------


def _register_regulator(m: Matrix, role: str) -> Call:
    account, caller = _new_account(), m.sender(role).address
    return Call(m.world.trust, "registerRegulator", (account, XIHU, "西湖区市场监督管理局（第二）"),
                lambda: tuple(m.trust("regulator", account)),
                lambda before: (XIHU, True, True, caller))  # fmt: skip


def _deactivate_district(m: Matrix, role: str) -> Call:
    xihu = m.account("xihu").address
    return Call(m.world.trust, "setRegulatorActive", (xihu, False), lambda: bool(m.trust("regulator", xihu)[1]),
                lambda before: False)  # fmt: skip


def _reactivate_city(by: str) -> Callable[[Matrix, str], Call]:
    """Reactivate the Hangzhou regulator after ``by`` deactivated it."""

    def build(m: Matrix, role: str) -> Call:
        hangzhou = m.account("hangzhou").address
        m.world.send(m.account(by), m.world.trust, "setRegulatorActive", hangzhou, False)
        return Call(m.world.trust, "setRegulatorActive", (hangzhou, True),
                    lambda: bool(m.trust("regulator", hangzhou)[1]), lambda before: True)  # fmt: skip

    return build


def _new_lab(m: Matrix, role: str) -> tuple[bytes, tuple[Any, ...]]:
    new = lab_id(usci(f"91330106MA2{_number(m, role, 'lab')}"))
    return new, (new, int(LabKind.AUTHORIZED_BODY), HANGZHOU, _new_account(), "杭州某衡器检测有限公司")


def _register_lab(m: Matrix, role: str) -> Call:
    new, args = _new_lab(m, role)
    return Call(m.world.trust, "registerLab", args, lambda: tuple(m.trust("labAt", new, m.now())[:3]),
                lambda before: (4, int(LabKind.AUTHORIZED_BODY), HANGZHOU))  # fmt: skip


def _register_lab_run_by_a_regulator(m: Matrix, role: str) -> Call:
    """A new lab whose admin would be the Ningbo regulator's account."""
    new, args = _new_lab(m, role)
    args = (*args[:3], m.account("ningbo").address, args[4])
    return Call(m.world.trust, "registerLab", args, lambda: tuple(m.trust("labAt", new, m.now())[:3]),
                lambda before: (4, int(LabKind.AUTHORIZED_BODY), HANGZHOU))  # fmt: skip


def _authorization(lab: bytes, now: int) -> tuple[Any, ...]:
    return (lab, "(浙)法计(2026)01077号", now - 3600, now + 5 * 365 * 86400, [category_code("JJG443")],
            [int(Activity.VERIFY)])  # fmt: skip


def _authorize_lab(m: Matrix, role: str) -> Call:
    hz = m.world.hz.id
    return Call(m.world.trust, "authorizeLab", _authorization(hz, m.now()),
                lambda: int(m.trust("authorizationCount", hz)), _plus_one)  # fmt: skip


def _status_change(function: str, *extra: Any, to: int) -> Callable[[Matrix, str], Call]:
    def build(m: Matrix, role: str) -> Call:
        return Call(m.world.trust, function, (m.world.hz.id, *extra), m.lab_status,
                    lambda before: (to, before[1] + 1))  # fmt: skip

    return build


def _reinstate_after(by: str) -> Callable[[Matrix, str], Call]:
    def build(m: Matrix, role: str) -> Call:
        m.suspend(by)
        return _status_change("reinstateLab", to=1)(m, role)

    return build


def _set_lab_admin(suspended_by: str | None = None, admin: str | None = None) -> Callable[[Matrix, str], Call]:
    """Name a new admin of lab A: a fresh account, or the account of template account ``admin``; with lab A
    suspended by ``suspended_by`` first when given."""

    def build(m: Matrix, role: str) -> Call:
        if suspended_by is not None:
            m.suspend(suspended_by)
        new, hz = (m.account(admin).address if admin else _new_account()), m.world.hz.id
        return Call(m.world.trust, "setLabAdmin", (hz, new), lambda: str(m.trust("lab", hz)[5]), lambda before: new)

    return build


def _trust_multicall(m: Matrix, role: str) -> Call:
    """Onboarding in one transaction: register a lab and record its authorization."""
    new, register = _new_lab(m, role)
    trust = m.world.trust
    calls = [_encode(trust, "registerLab", *register), _encode(trust, "authorizeLab", *_authorization(new, m.now()))]
    return Call(trust, "multicall", (calls,), lambda: tuple(m.trust("labAt", new, m.now())[:5:4]),
                lambda before: (4, True))  # fmt: skip


# CertificateRegistry ---------------------------------------------------------------------------------------------


def _add_writer(m: Matrix, role: str) -> Call:
    account, hz = _new_account(), m.world.hz.id
    return Call(m.world.certificates, "addWriter", (hz, account), lambda: bytes(m.cert("writerLab", account)),
                lambda before: hz)  # fmt: skip


def _remove_writer(m: Matrix, role: str) -> Call:
    account = m.account("hz.writer2").address
    return Call(m.world.certificates, "removeWriter", (m.world.hz.id, account),
                lambda: bytes(m.cert("writerLab", account)), lambda before: ZERO32)  # fmt: skip


def _key_args(m: Matrix) -> tuple[bytes, bytes, Callable[[], bool]]:
    """A new Ed25519 key of lab A: its public key, key id, and whether it is lab A's and valid a day from now."""
    key, hz = generate_key(), m.world.hz.id
    later = m.now() + 86400
    return key.public_key, key.key_id, lambda: bool(m.cert("keyValidAt", hz, key.key_id, later))


def _register_key(m: Matrix, role: str) -> Call:
    public_key, _, valid = _key_args(m)
    return Call(m.world.certificates, "registerKey", (m.world.hz.id, public_key, 0, 0), valid, lambda before: True)


def _close_key(m: Matrix, role: str) -> Call:
    hz = m.world.hz
    later = m.now() + 86400
    return Call(m.world.certificates, "closeKey", (hz.key_id, 0, 1),
                lambda: bool(m.cert("keyValidAt", hz.id, hz.key_id, later)), lambda before: False)  # fmt: skip


def _anchor(m: Matrix, role: str) -> Call:
    digests = [_fresh(m, role, f"certificate {i}") for i in range(3)]
    root, proof = merkle_root(digests), inclusion_proof(digests, 1)

    def anchored() -> tuple[bool, bytes]:
        view = m.contracts.check_certificate(digests[1], root, 1, proof)
        return bool(view["anchored"]), bytes(view["lab_id"])

    return Call(m.world.certificates, "anchor", (root, len(digests), m.world.hz.key_id), anchored,
                lambda before: (True, m.world.hz.id))  # fmt: skip


def _state(m: Matrix, digest: bytes) -> Callable[[], int]:
    return lambda: int(m.cert("status", m.world.hz.id, digest)[0])


def _revoke(m: Matrix, role: str) -> Call:
    digest = _fresh(m, role, "revoked")
    return Call(m.world.certificates, "revoke", (m.world.hz.id, digest, 1, 0), _state(m, digest), lambda before: 1)


def _substitute(m: Matrix, role: str) -> Call:
    digest, new = _fresh(m, role, "substituted"), _fresh(m, role, "replacement")
    return Call(m.world.certificates, "substitute", (m.world.hz.id, digest, new), _state(m, digest),
                lambda before: 2)  # fmt: skip


def _cert_multicall(m: Matrix, role: str) -> Call:
    """A lab's onboarding of a writer and a key in one transaction."""
    account, hz, certificates = _new_account(), m.world.hz.id, m.world.certificates
    public_key, _, valid = _key_args(m)
    calls = [_encode(certificates, "addWriter", hz, account),
             _encode(certificates, "registerKey", hz, public_key, 0, 0)]  # fmt: skip
    return Call(certificates, "multicall", (calls,), lambda: (bytes(m.cert("writerLab", account)), valid()),
                lambda before: (hz, True))  # fmt: skip


# CreditRegistry --------------------------------------------------------------------------------------------------


def _sanction_args(subject: Any, case: str, now: int) -> tuple[Any, ...]:
    return (subject, int(SanctionKind.WARNING), int(SanctionReason.OVERDUE_VERIFICATION), case, _digest(case), now, 0)


def _enterprise(m: Matrix, role: str) -> str:
    """A 西湖区 enterprise of the row's own."""
    return usci(f"91330106MA2{_number(m, role, 'enterprise')}")


def _record_lab_sanction(m: Matrix, role: str) -> Call:
    hz = m.world.hz.id
    return Call(m.credit, "recordLabSanction", _sanction_args(hz, f"杭市监处罚〔2026〕{role}号", m.now()),
                lambda: int(m.credit_call("entryCount", hz)), _plus_one)  # fmt: skip


def _record_enterprise_sanction(m: Matrix, role: str) -> Call:
    code = _enterprise(m, role)
    subject = enterprise_subject(code)
    return Call(m.credit, "recordEnterpriseSanction", _sanction_args(code, f"杭市监处罚〔2026〕{role}号", m.now()),
                lambda: int(m.credit_call("entryCount", subject)), _plus_one)  # fmt: skip


def _lift(index: int) -> Callable[[Matrix, str], Call]:
    """Lift lab A's sanction ``index`` of the template (0: recorded by Hangzhou, 1: by the national authority)."""

    def build(m: Matrix, role: str) -> Call:
        hz, case = m.world.hz.id, f"杭市监撤销〔2026〕{role}号"

        def lifted() -> tuple[int, ...]:
            return tuple(int(e[4]) for e in m.credit_call("entries", hz))

        return Call(m.credit, "lift", (hz, index, int(SanctionReason.RECTIFIED), case, _digest(case), m.now()),
                    lifted, lambda before: (*before, index + 1))  # fmt: skip

    return build


def _commit_draw(m: Matrix, role: str) -> Call:
    commitment = _fresh(m, role, "draw")
    return Call(m.credit, "commitDraw", (commitment, HANGZHOU), lambda: int(m.credit_call("drawBlock", commitment)) > 0,
                lambda before: True)  # fmt: skip


def _credit_multicall(m: Matrix, role: str) -> Call:
    """One case against a lab and the enterprise it certified for, in one transaction."""
    hz, code, credit = m.world.hz.id, _enterprise(m, role), m.credit
    subject = enterprise_subject(code)
    case = f"杭市监处罚〔2026〕{role}号"
    calls = [_encode(credit, "recordLabSanction", *_sanction_args(hz, case, m.now())),
             _encode(credit, "recordEnterpriseSanction", *_sanction_args(code, case, m.now()))]  # fmt: skip
    return Call(credit, "multicall", (calls,),
                lambda: (int(m.credit_call("entryCount", hz)), int(m.credit_call("entryCount", subject))),
                lambda before: (before[0] + 1, before[1] + 1))  # fmt: skip


# ---------------------------------------------------------------------------------------------------- the table

#: What only an active regulator over lab A (or its region) may do on the TrustRegistry.
TRUST_OVER = row(NOT_REGULATOR, over=ALLOWED, elsewhere=OUTSIDE)
#: What lab A's admin or an active regulator over it may do on the CertificateRegistry.
ADMIN_OR_OVER = row(NOT_LAB_ADMIN, over=ALLOWED, admins=ALLOWED)
#: What lab A's writers (suspended too) or an active regulator over it may do: statements about its certificates.
WRITER_OR_OVER = row(NOT_ISSUER, over=ALLOWED, writer=ALLOWED, suspended_writer=ALLOWED)
CREDIT_OVER = row(CREDIT_NOT_OVER, over=ALLOWED)


@dataclass(frozen=True)
class Row:
    """A function's row: how to build its call for a role, and every role's outcome."""

    build: Callable[[Matrix, str], Call]
    outcomes: dict[str, str]


TABLE: dict[str, Row] = {
    # ------------------------------------------------------------------------------------- TrustRegistry
    # A regulator for 西湖区 330106, below Hangzhou (a regulator registers only strictly below itself).
    "TrustRegistry.registerRegulator": Row(_register_regulator, TRUST_OVER),
    # Deactivate the 西湖区 regulator (Hangzhou registered it).
    "TrustRegistry.setRegulatorActive": Row(_deactivate_district, TRUST_OVER),
    # Reactivate the Hangzhou regulator after the national authority deactivated it: the province may not undo it.
    "TrustRegistry.setRegulatorActive:reactivate-after-national": Row(
        _reactivate_city("national"), row(NOT_REGULATOR, national=ALLOWED, province=ABOVE, elsewhere=OUTSIDE)
    ),
    # After Zhejiang deactivated it: Zhejiang itself and the national authority above it may.
    "TrustRegistry.setRegulatorActive:reactivate-after-province": Row(
        _reactivate_city("zhejiang"), row(NOT_REGULATOR, national=ALLOWED, province=ALLOWED, elsewhere=OUTSIDE)
    ),
    "TrustRegistry.registerLab": Row(_register_lab, TRUST_OVER),
    # Regulators govern labs, they do not run them: no regulator's account becomes a lab's admin.
    "TrustRegistry.registerLab:run-by-a-regulator": Row(
        _register_lab_run_by_a_regulator, row(NOT_REGULATOR, over=ADMIN_IS_REGULATOR, elsewhere=ADMIN_IS_REGULATOR)
    ),
    "TrustRegistry.authorizeLab": Row(_authorize_lab, TRUST_OVER),
    "TrustRegistry.suspendLab": Row(_status_change("suspendLab", int(SanctionReason.FORGED_DATA), to=2), TRUST_OVER),
    # Lab A suspended by its own (municipal) regulator.
    "TrustRegistry.reinstateLab": Row(_reinstate_after("hangzhou"), TRUST_OVER),
    # Lab A suspended by the province: the city below it may not lift it.
    "TrustRegistry.reinstateLab:suspended-by-province": Row(
        _reinstate_after("zhejiang"),
        row(NOT_REGULATOR, national=ALLOWED, province=ALLOWED, city=ABOVE, elsewhere=OUTSIDE),
    ),
    # Lab A suspended by the national authority: only it lifts the suspension.
    "TrustRegistry.reinstateLab:suspended-by-national": Row(
        _reinstate_after("national"),
        row(NOT_REGULATOR, national=ALLOWED, province=ABOVE, city=ABOVE, elsewhere=OUTSIDE),
    ),
    "TrustRegistry.revokeLab": Row(
        _status_change("revokeLab", int(SanctionReason.FALSE_CERTIFICATE), to=3), TRUST_OVER
    ),
    # The admin hands over to a new account; a regulator over the lab may not while the lab is active (a silent
    # takeover: its admin would register a key and a writer of its own and issue in the lab's name)...
    "TrustRegistry.setLabAdmin": Row(
        _set_lab_admin(), row(NOT_REGULATOR, over=LAB_NOT_SUSPENDED, admins=ALLOWED, elsewhere=OUTSIDE)
    ),
    # ... only while the lab is suspended (recovering a lost admin key, in the open: suspend, name, reinstate).
    "TrustRegistry.setLabAdmin:while-suspended": Row(
        _set_lab_admin(suspended_by="hangzhou"), row(NOT_REGULATOR, over=ALLOWED, admins=ALLOWED, elsewhere=OUTSIDE)
    ),
    # Never to a regulator's account, whoever asks.
    "TrustRegistry.setLabAdmin:to-a-regulator": Row(
        _set_lab_admin(suspended_by="hangzhou", admin="ningbo"), row(ADMIN_IS_REGULATOR)
    ),
    # registerLab + authorizeLab of a new lab: delegatecalls keep the caller, so no more than each call alone.
    "TrustRegistry.multicall": Row(_trust_multicall, TRUST_OVER),
    # ------------------------------------------------------------------------------------- CertificateRegistry
    # Only the admin: a regulator withdraws a lab's writers (removeWriter), it never chooses them.
    "CertificateRegistry.addWriter": Row(_add_writer, row(NOT_LAB_ADMIN, admins=ALLOWED)),
    # Lab A's second writer (not the one the writer roles act with).
    "CertificateRegistry.removeWriter": Row(_remove_writer, ADMIN_OR_OVER),
    # Only the admin: a regulator never chooses a lab's signing key.
    "CertificateRegistry.registerKey": Row(_register_key, row(NOT_LAB_ADMIN, admins=ALLOWED)),
    # Lab A's key, closed now (rotation or compromise).
    "CertificateRegistry.closeKey": Row(_close_key, ADMIN_OR_OVER),
    # A batch of three digests under lab A's key: only its enabled writer, and only while the lab is active;
    # lab B's writer is a writer, of another lab, so lab A's key is not its lab's.
    "CertificateRegistry.anchor": Row(
        _anchor,
        row(NOT_WRITER, writer=ALLOWED, suspended_writer=LAB_NOT_ACTIVE, other_lab_writer=KEY_NOT_OF_LAB),
    ),
    # A suspended lab may still revoke (it only lowers trust); its admin is not a writer.
    "CertificateRegistry.revoke": Row(_revoke, WRITER_OR_OVER),
    "CertificateRegistry.substitute": Row(_substitute, WRITER_OR_OVER),
    # addWriter + registerKey: only the admin may either.
    "CertificateRegistry.multicall": Row(_cert_multicall, row(NOT_LAB_ADMIN, admins=ALLOWED)),
    # ------------------------------------------------------------------------------------- CreditRegistry
    "CreditRegistry.recordLabSanction": Row(_record_lab_sanction, CREDIT_OVER),
    # A 西湖区 enterprise (its USCI carries 330106).
    "CreditRegistry.recordEnterpriseSanction": Row(_record_enterprise_sanction, CREDIT_OVER),
    # Lift lab A's sanction recorded by the Hangzhou regulator.
    "CreditRegistry.lift": Row(_lift(0), CREDIT_OVER),
    # Lift lab A's sanction recorded by the national authority: only it may.
    "CreditRegistry.lift:recorded-by-national": Row(
        _lift(1), row(CREDIT_NOT_OVER, national=ALLOWED, province=CREDIT_ABOVE, city=CREDIT_ABOVE)
    ),
    # A draw over Hangzhou (330100).
    "CreditRegistry.commitDraw": Row(_commit_draw, CREDIT_OVER),
    # recordLabSanction + recordEnterpriseSanction of one case.
    "CreditRegistry.multicall": Row(_credit_multicall, CREDIT_OVER),
}

ROWS = [pytest.param(key, role, id=f"{key} | {role}") for key in TABLE for role in ROLES]


@pytest.mark.parametrize(("key", "role"), ROWS)
def test_authorization(matrix: Matrix, key: str, role: str) -> None:
    entry = TABLE[key]
    call = entry.build(matrix, role)
    matrix.set_up(role)
    before = call.observe()
    assert call.effect(before) != before, "the row's effect cannot be told from no effect"
    try:
        matrix.world.send(matrix.sender(role), call.contract, call.function, *call.args)
        outcome = ALLOWED
    except ContractReverted as exc:
        outcome = exc.error
    assert outcome == entry.outcomes[role]
    assert call.observe() == (call.effect(before) if outcome == ALLOWED else before)


def _state_changing(name: str) -> set[str]:
    return {
        item["name"]
        for item in load_artifact(name)["abi"]
        if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
    }


def test_the_table_covers_every_state_changing_function() -> None:
    """A new external function that writes, in any deployed contract, without a row fails here; so does a stale row."""
    functions = {f"{name}.{function}" for name in CONTRACTS for function in _state_changing(name)}
    rows = {key.partition(":")[0] for key in TABLE}
    assert sorted(functions - rows) == []
    assert sorted(rows - functions) == []
    assert all(set(r.outcomes) == set(ROLES) for r in TABLE.values())
    assert len(functions) == 22


def test_the_roles_are_what_the_table_says(matrix: Matrix) -> None:
    """The accounts the roles rest on: the deployer holds nothing, each regulator its jurisdiction, each lab account
    its lab, and the targets the rows act on are in place."""
    m, w = matrix, matrix.world
    deployment = w.contracts.deployment
    assert deployment.deployer == m.sender("deployer").address != deployment.national_authority
    assert deployment.national_authority == m.sender("national").address
    assert not m.trust("regulator", m.sender("deployer").address)[2]
    hz_number = int(m.trust("labNumberOf", w.hz.id))
    over = {role: bool(m.trust("isRegulatorOver", m.sender(role).address, hz_number)) for role in ROLES}
    assert {role for role, yes in over.items() if yes} == {"national", "province", "city", "inactive_city"}
    regulators = GROUPS["over"] + GROUPS["elsewhere"]
    jurisdictions = {role: m.trust("regulator", m.sender(role).address)[0] for role in regulators}
    assert jurisdictions == {"national": 0, "province": 330000, "city": HANGZHOU, "other_city": NINGBO,
                             "other_province": 320000}  # fmt: skip
    writers = {role: bytes(m.cert("writerLab", m.sender(role).address)) for role in ("writer", "other_lab_writer")}
    assert writers == {"writer": w.hz.id, "other_lab_writer": w.js.id}
    assert m.trust("labAdmin", hz_number) == m.sender("lab_admin").address
    assert bytes(m.cert("writerLab", m.account("hz.writer2").address)) == w.hz.id
    assert [(e[8], e[4]) for e in m.credit_call("entries", w.hz.id)] == [
        (m.account("hangzhou").address, 0),
        (m.account("national").address, 0),
    ]


@pytest.mark.parametrize(
    ("role", "expected"),
    [("inactive_city", (False, (1, 1))), ("suspended_writer", (True, (2, 2))), ("writer", (True, (1, 1)))],
)
def test_a_role_state_is_set_up(matrix: Matrix, role: str, expected: tuple[bool, tuple[int, int]]) -> None:
    """The inactive city is deactivated and the suspended lab suspended (by Zhejiang), the others untouched."""
    matrix.set_up(role)
    active = bool(matrix.trust("regulator", matrix.account("hangzhou").address)[1])
    assert (active, matrix.lab_status()) == expected


def _refused(send: Callable[[], Any]) -> str:
    try:
        send()
    except ContractReverted as exc:
        return exc.error
    return ALLOWED


def test_a_regulator_cannot_issue_in_a_labs_name(matrix: Matrix) -> None:
    """The takeover the contracts once allowed (the Hangzhou regulator made itself lab A's admin, registered a key and
    a writer of its own and anchored a batch recorded as lab A's) fails at every step it would take."""
    w, city = matrix.world, matrix.sender("city")
    stranger = _new_account()
    steps = {
        "itself as admin": _refused(lambda: w.send(city, w.trust, "setLabAdmin", w.hz.id, city.address)),
        "an account of its own as admin": _refused(lambda: w.send(city, w.trust, "setLabAdmin", w.hz.id, stranger)),
        "itself as writer": _refused(lambda: w.contracts.add_writer(city, w.hz.id, city.address)),
        "a key of its own": _refused(lambda: w.contracts.register_key(city, w.hz.id, generate_key().public_key)),
    }
    assert steps == {
        "itself as admin": ADMIN_IS_REGULATOR,
        "an account of its own as admin": LAB_NOT_SUSPENDED,
        "itself as writer": NOT_LAB_ADMIN,
        "a key of its own": NOT_LAB_ADMIN,
    }
    assert matrix.trust("labAdmin", int(matrix.trust("labNumberOf", w.hz.id))) == matrix.sender("lab_admin").address


def test_a_lost_admin_key_is_recovered_in_the_open(matrix: Matrix) -> None:
    """Recovery of a lab whose admin key is lost: its regulator suspends it, names a new admin, which closes the old
    key and registers a new one and a writer; the regulator that suspended it reinstates it; the new writer anchors
    under the new key. Every step is an event on chain, and the lab cannot issue in between."""
    w, city = matrix.world, matrix.sender("city")
    new_admin = TransactionSender(w.chain.client, Account.create())
    new_writer = TransactionSender(w.chain.client, Account.create())
    for account in (new_admin, new_writer):
        w.chain.client.set_balance(account.address, 10**20)
    matrix.suspend("hangzhou")
    w.send(city, w.trust, "setLabAdmin", w.hz.id, new_admin.address)
    old_key, key = w.hz.key, generate_key()
    w.contracts.close_key(new_admin, old_key.key_id, 0, int(RevocationReason.SUPERSEDED))
    w.contracts.register_key(new_admin, w.hz.id, key.public_key)
    w.contracts.add_writer(new_admin, w.hz.id, new_writer.address)
    digests = [_digest(f"恢复后出具的证书 {i}") for i in range(2)]
    root = merkle_root(digests)
    assert _refused(lambda: w.send(new_writer, w.certificates, "anchor", root, 2, key.key_id)) == LAB_NOT_ACTIVE
    assert _refused(lambda: w.contracts.reinstate_lab(matrix.sender("other_city"), w.hz.id)) == OUTSIDE
    w.contracts.reinstate_lab(city, w.hz.id)
    w.send(new_writer, w.certificates, "anchor", root, 2, key.key_id)
    view = w.contracts.check_certificate(digests[0], root, 0, inclusion_proof(digests, 0))
    assert (view["anchored"], bytes(view["lab_id"]), bytes(view["key_id"])) == (True, w.hz.id, key.key_id)
    assert not w.contracts.key_valid_at(w.hz.id, old_key.key_id, matrix.now())


def test_a_deactivated_regulator_silences_the_ones_below_it(matrix: Matrix) -> None:
    """Deactivating Zhejiang stops Hangzhou (registered under it) and 西湖区 (under Hangzhou) from acting, though their
    own records still read active; reactivating Zhejiang gives them back their powers."""
    w = matrix.world
    zhejiang, hangzhou, xihu = (matrix.account(n).address for n in ("zhejiang", "hangzhou", "xihu"))

    def acting() -> dict[str, bool]:
        return {name: bool(matrix.trust("isActiveRegulator", a)) for name, a in
                (("zhejiang", zhejiang), ("hangzhou", hangzhou), ("xihu", xihu))}  # fmt: skip

    assert acting() == {"zhejiang": True, "hangzhou": True, "xihu": True}
    w.send(w.national, w.trust, "setRegulatorActive", zhejiang, False)
    assert acting() == {"zhejiang": False, "hangzhou": False, "xihu": False}
    assert bool(matrix.trust("regulator", hangzhou)[1])  # its own record is untouched
    hz_number = int(matrix.trust("labNumberOf", w.hz.id))
    assert not matrix.trust("isRegulatorOver", hangzhou, hz_number)
    suspend = _refused(lambda: matrix.contracts.suspend_lab(matrix.sender("city"), w.hz.id, 1))
    record = _refused(lambda: matrix.contracts.record_sanction(
        matrix.sender("city"), w.hz.id, SanctionKind.WARNING, SanctionReason.OTHER, "杭市监〔2026〕9号",
        _digest("9"), matrix.now()))  # fmt: skip
    assert (suspend, record) == (NOT_REGULATOR, CREDIT_NOT_OVER)
    w.send(w.national, w.trust, "setRegulatorActive", zhejiang, True)
    assert acting() == {"zhejiang": True, "hangzhou": True, "xihu": True}
    assert _refused(lambda: matrix.contracts.suspend_lab(matrix.sender("city"), w.hz.id, 1)) == ALLOWED


def test_a_lower_regulator_deactivating_again_does_not_take_over_the_decision(matrix: Matrix) -> None:
    """The national authority deactivated Hangzhou; Zhejiang "deactivating" it again does not make the decision
    Zhejiang's, so Zhejiang still may not reactivate it; the decision stays the national authority's."""
    w, hangzhou = matrix.world, matrix.account("hangzhou").address
    w.send(w.national, w.trust, "setRegulatorActive", hangzhou, False)
    w.send(matrix.sender("province"), w.trust, "setRegulatorActive", hangzhou, False)
    assert matrix.trust("deactivatedBy", hangzhou) == matrix.sender("national").address
    reactivate = _refused(lambda: w.send(matrix.sender("province"), w.trust, "setRegulatorActive", hangzhou, True))
    assert reactivate == ABOVE
    w.send(w.national, w.trust, "setRegulatorActive", hangzhou, True)
    assert matrix.trust("deactivatedBy", hangzhou) == "0x" + "00" * 20
