"""The registry API's authorization matrix (issue 15, item 3): every role × every write route and every read that
depends on who calls, as one parametrized table of the outcome each role gets.

An outcome is ``(HTTP status, word)``: for a refusal the word is the error's machine ``code`` (401 UNAUTHORIZED,
403 WRONG_LAB, NOT_REGULATOR_OVER_LAB, ...); for an answer the handler gave, what it shows (``full`` or
``withheld`` for a private certificate, ``listed`` or ``unlisted`` in a listing, the state of an enterprise...), or
the handler's own 4xx code when the role got through to it (e.g. 404 NOT_WATCHED for an enterprise deleting a watch
it does not have). Every write row also reads back from the database whether the write took effect, which it must
exactly when the answer is a 2xx: a refused row changed nothing.

The roles: no token, an unknown token, a revoked token; the Hangzhou lab (``lab``, the owner of every certificate
the rows target), the Nanjing lab (``other_lab``), the Hangzhou lab while it is suspended on chain
(``suspended_lab``: suspended for the row, reinstated after); the regulators: Zhejiang (``province``, over the
lab), Hangzhou (``city``, a municipal regulator over it, whose chain account the registry holds), Ningbo
(``other_city``, municipal, same province, not over it), Jiangsu (``other_province``), the national one
(``national``, over every lab, account not held); enterprises in Hangzhou: one pending a regulator's confirmation,
one confirmed (the lab's customer: its instrument is linked to the lab's certificates) and another confirmed one.
Tokens have no sub-roles (a lab's tokens are all alike; operators act on the command line, not over HTTP).

The world is built once per module (and xdist worker) on the session's node; rows are independent: each write
targets a certificate, an enterprise, a draw or a webhook of its own.
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from registry.alerts import add_watches, add_webhook
from registry.anchoring import AnchoringWorker
from registry.api import create_app
from registry.api.deps import MaybePrincipalDep, PrincipalDep
from registry.core import Principal
from registry.db import Certificate, FraudSignal, LifecycleOp, PublishedDraw
from registry.db_enterprises import Enterprise, Instrument, Site, Watch, Webhook
from registry.enterprises import register_enterprise
from tests.registry.conftest import LabWorld, standalone_world
from tests.registry.test_api import app_settings
from tests.registry.test_enterprises import SCALE
from tracecert.certificate.canonical import from_hex
from tracecert.chain.client import ChainClient
from tracecert.draws import DrawSpec, run
from tracecert_app.story import usci

pytestmark = pytest.mark.chain

#: An outcome: (HTTP status, the refusal's code or what the answer shows).
Outcome = tuple[int, str]

ROLES = (
    "anonymous",
    "bad_token",
    "revoked_token",
    "lab",
    "other_lab",
    "suspended_lab",
    "province",
    "city",
    "other_city",
    "other_province",
    "national",
    "pending_enterprise",
    "enterprise",
    "other_enterprise",
)
#: Groups a row may give one outcome for (a role named in the row wins over its group).
GROUPS = {
    "over": ("province", "city", "national"),  # regulators over the lab and the enterprises' region
    "elsewhere": ("other_city", "other_province"),  # regulators over neither
    "regulators": ("province", "city", "national", "other_city", "other_province"),
    "labs": ("lab", "other_lab", "suspended_lab"),
    "enterprises": ("pending_enterprise", "enterprise", "other_enterprise"),
}

U: Outcome = (401, "UNAUTHORIZED")


def no(code: str, status: int = 403) -> Outcome:
    """A refusal."""
    return status, code


def ok(sees: str = "ok", status: int = 200) -> Outcome:
    """An answer of the handler: ``sees`` is what it shows (see the module's docstring)."""
    return status, sees


def row(rest: Outcome | None = None, **given: Outcome) -> dict[str, Outcome]:
    """Every role's outcome: by role, else by group, else ``rest``; an unknown or revoked token is always 401, and
    so is no token unless ``anonymous`` is given."""
    unknown = set(given) - set(ROLES) - set(GROUPS)
    assert not unknown, unknown
    outcomes: dict[str, Outcome] = {"anonymous": U, "bad_token": U, "revoked_token": U}
    for role in ROLES[3:]:
        groups = [g for g, members in GROUPS.items() if role in members and g in given]
        chosen = given.get(role) or (given[groups[0]] if groups else rest)
        assert chosen is not None, f"no outcome for {role}"
        outcomes[role] = chosen
    if "anonymous" in given:
        outcomes["anonymous"] = given["anonymous"]
    return outcomes


# ---------------------------------------------------------------------------------------------------- the world

HANGZHOU, NINGBO = 330100, 330200
#: The lab's customer (the world's records name it): confirmed, its instrument linked to the lab's certificates.
STATION = "91330106MA27XK5L3M"
OTHER = usci("91330106MA2AUTH10")
PENDING = usci("91330106MA2AUTH11")
#: The instrument of the world's records (the station registers it).
SERIAL = SCALE["serial_number"]
POPULATION = tuple(f"0x{i:064x}" for i in range(1, 21))
_serial = itertools.count(1)


@dataclass
class Case:
    """One request, and what shows whether it took effect (a write) and puts things back after it."""

    method: str
    url: str
    json: Any = None
    params: dict[str, Any] | None = None
    happened: Callable[[], bool] | None = None
    cleanup: Callable[[], None] | None = None


@dataclass
class Matrix:
    """The world, its app, each role's token, and the targets the rows read."""

    world: LabWorld
    api: TestClient
    tokens: dict[str, str | None]
    private: str = ""  # an anchored private certificate of the lab, linked to the station's instrument
    root: str = ""  # its batch
    instrument: int = 0  # the station's instrument
    draw: dict[str, Any] = field(default_factory=dict)  # published by the province, no results yet

    def headers(self, role: str) -> dict[str, str]:
        """The role's Authorization header."""
        token = self.tokens[role]
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def principal(self, role: str) -> Principal:
        """The role's principal (to set things up through the core)."""
        return self.world.core.authenticate(self.tokens[role])

    def certificate(self, *, number: str | None = None) -> str:
        """A new private certificate of the lab (pending); its digest."""
        record = self.world.record(number or fresh("AUTHZ"))
        answer = self.api.post("/v1/certificates", json={"record": record}, headers=self.headers("lab"))
        assert answer.status_code == 201, answer.text
        return str(answer.json()["digest"])

    def numbered(self, number: str) -> bool:
        """Whether the lab has a certificate under ``number``."""
        return self.scalar(select(Certificate.digest).where(Certificate.certificate_number == number)) is not None

    def scalar(self, query: Any) -> Any:
        """One value from the registry's database."""
        with self.world.core.sessions() as s:
            return s.scalar(query)

    def new_draw(self) -> dict[str, Any]:
        """A draw the province makes on chain (``tracecert draw run``), not published yet."""
        spec = DrawSpec(fresh("抽查"), 330000, POPULATION, 3, ("王检查", "李检查"), 2, {"how": "ACTIVE labs"})
        chain = self.world.chain
        return run(
            spec, chain.contracts, self.world.province, nudge=lambda: chain.client.rpc("evm_mine", []), poll=0.01
        )

    @contextmanager
    def suspended(self, really: bool) -> Iterator[None]:
        """The lab suspended on chain while inside (if ``really``), reinstated after."""
        if not really:
            yield
            return
        w = self.world
        w.chain.contracts.suspend_lab(w.province, from_hex(w.lab_id))
        w.core.forget_chain_answers()
        try:
            yield
        finally:
            w.chain.contracts.reinstate_lab(w.province, from_hex(w.lab_id))
            w.core.forget_chain_answers()


def fresh(prefix: str) -> str:
    """A name no other row uses."""
    return f"{prefix}-{next(_serial):05d}"


@pytest.fixture(scope="module")
def matrix(client: ChainClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """The world (like ``world``) with municipal regulators, enterprises, an instrument, an anchored private
    certificate, a fraud signal and a published draw; every role's token."""
    tmp: Path = tmp_path_factory.mktemp("authz")
    world = standalone_world(client, f"sqlite:///{tmp / 'registry.db'}", tmp)
    chain, core = world.chain, world.core
    hangzhou, ningbo = chain.actor("hangzhou"), chain.actor("ningbo")
    chain.contracts.register_regulator(world.province, hangzhou.address, HANGZHOU, "杭州市市场监督管理局")
    chain.contracts.register_regulator(world.province, ningbo.address, NINGBO, "宁波市市场监督管理局")
    core.add_regulator_account(bytes(hangzhou._account.key))
    core.settings = core.settings.model_copy(update={"webhook_allow_private": True})  # hooks.example resolves nowhere

    def regulator(address: str) -> str:
        return core.issue_token("REGULATOR", regulator_address=address)[1]

    revoked_id, revoked = core.issue_token("LAB", lab_id=world.lab_id)
    core.revoke_token(revoked_id)
    tokens: dict[str, str | None] = {
        "anonymous": None,
        "bad_token": "tc_lab_not-a-token",
        "revoked_token": revoked,
        "lab": world.token,
        "other_lab": world.other_token,
        "suspended_lab": world.token,
        "province": world.regulator_token,
        "city": regulator(hangzhou.address),
        "other_city": regulator(ningbo.address),
        "other_province": regulator(chain.actor("jiangsu").address),
        "national": regulator(chain.national.address),
    }
    province = core.authenticate(world.regulator_token)
    for code, role, confirmed in ((STATION, "enterprise", True), (OTHER, "other_enterprise", True),
                                  (PENDING, "pending_enterprise", False)):  # fmt: skip
        _, token, _ = register_enterprise(core, None, code, f"企业 {code}")
        tokens[role] = token
        if confirmed:
            register_enterprise(core, province, code, f"企业 {code}")
    app = create_app(app_settings(world), core=core, run_worker=False)
    with TestClient(app) as api:
        m = Matrix(world, api, tokens)
        registered = api.post("/v1/instruments", json={"instruments": [SCALE]}, headers=m.headers("enterprise"))
        assert registered.status_code == 200, registered.text
        m.instrument = registered.json()["instruments"][0]
        reused = fresh("REUSED")
        m.certificate(number=reused)
        again = world.record(reused, remarks="改过的")
        assert api.post("/v1/certificates", json={"record": again}, headers=m.headers("lab")).status_code == 409
        m.private = m.certificate()
        AnchoringWorker(core).drain()
        m.root = api.get(f"/v1/certificates/{m.private}").json()["batch"]["root"]
        m.draw = m.new_draw()
        assert api.post("/v1/draws", json=m.draw, headers=m.headers("province")).status_code == 201
        yield m
    core.engine.dispose()


# ---------------------------------------------------------------------------------------------------- the routes


@dataclass(frozen=True)
class Route:
    """A route's row: its request for a role, what a 2xx answer shows, and every role's outcome."""

    build: Callable[[Matrix, str], Case]
    outcomes: dict[str, Outcome]
    sees: Callable[[Matrix, Any], str] = lambda m, body: "ok"
    #: Whether a write takes effect with this outcome (a bulk answers 200 whatever becomes of its items).
    effective: Callable[[Outcome], bool] = lambda outcome: 200 <= outcome[0] < 300


def _issue(m: Matrix, role: str) -> Case:
    number = fresh("ISSUE")
    return Case("POST", "/v1/certificates", {"record": m.world.record(number)}, happened=lambda: m.numbered(number))


def _bulk(m: Matrix, role: str) -> Case:
    number = fresh("BULK")
    body = {"certificates": [{"record": m.world.record(number)}]}
    return Case("POST", "/v1/certificates/bulk", body, happened=lambda: m.numbered(number))


def _bulk_sees(m: Matrix, body: Any) -> str:
    first = body["results"][0]
    return "accepted" if first["ok"] else f"item refused: {first['error']['code']}"


def _publish(m: Matrix, role: str) -> Case:
    digest = m.certificate()
    public = select(Certificate.public).where(Certificate.digest == digest)
    return Case("POST", f"/v1/certificates/{digest}/publish", happened=lambda: bool(m.scalar(public)))


def _revoke(m: Matrix, role: str) -> Case:
    digest = m.certificate()
    op = select(LifecycleOp.id).where(LifecycleOp.digest == digest)
    return Case("POST", f"/v1/certificates/{digest}/revoke", {"reason": 1}, happened=lambda: m.scalar(op) is not None)


def _substitute(m: Matrix, role: str) -> Case:
    old_number = fresh("OLD")
    old = m.certificate(number=old_number)
    number = f"{old_number}-R"
    record = m.world.record(number, replaces={"certificate_number": old_number, "certificate_digest": old})
    return Case("POST", f"/v1/certificates/{old}/substitute", {"record": record}, happened=lambda: m.numbered(number))


def _publish_draw(m: Matrix, role: str) -> Case:
    if role != "province":  # the province's published draw: only its committer may hand it in
        return Case("POST", "/v1/draws", m.draw)
    draw = m.new_draw()
    kept = select(PublishedDraw.commitment).where(PublishedDraw.commitment == draw["commitment"].lower())
    return Case("POST", "/v1/draws", draw, happened=lambda: m.scalar(kept) is not None)


def _draw_result(m: Matrix, role: str) -> Case:
    draw = m.draw
    if role == "province":  # a draw of its own whose results are not published yet
        draw = m.new_draw()
        assert m.api.post("/v1/draws", json=draw, headers=m.headers("province")).status_code == 201
    result = select(PublishedDraw.result).where(PublishedDraw.commitment == draw["commitment"].lower())
    body = {"results": {item: {"outcome": "PASS"} for item in draw["sample"]}}
    return Case("PUT", f"/v1/draws/{draw['commitment']}/result", body, happened=lambda: m.scalar(result) is not None)


def _fresh_usci() -> str:
    return usci(f"91330106MA{next(_serial):07d}")


def _register(m: Matrix, role: str) -> Case:
    code = _fresh_usci()
    exists = select(Enterprise.usci).where(Enterprise.usci == code)
    return Case(
        "POST", "/v1/enterprises", {"usci": code, "name": "某企业"}, happened=lambda: m.scalar(exists) is not None
    )


def _confirm(m: Matrix, role: str) -> Case:
    code = _fresh_usci()
    register_enterprise(m.world.core, None, code, "某企业")
    state = select(Enterprise.state).where(Enterprise.usci == code)
    return Case("POST", f"/v1/enterprises/{code}/confirm", happened=lambda: m.scalar(state) == "CONFIRMED")


def _instruments(m: Matrix, role: str) -> Case:
    serial = fresh("SN")
    body = {"instruments": [SCALE | {"serial_number": serial, "asset_number": serial}]}
    exists = select(Instrument.id).where(Instrument.serial_number == serial)
    return Case("POST", "/v1/instruments", body, happened=lambda: m.scalar(exists) is not None)


def _watch(m: Matrix, role: str) -> Case:
    digest = m.certificate()
    watched = select(Watch.id).where(Watch.digest == digest)
    return Case("POST", "/v1/watches", {"digests": [digest]}, happened=lambda: m.scalar(watched) is not None)


def _unwatch(m: Matrix, role: str) -> Case:
    digest = m.certificate()
    add_watches(m.world.core, m.principal("enterprise"), [digest])
    watched = select(Watch.id).where(Watch.usci == STATION, Watch.digest == digest)
    return Case("DELETE", f"/v1/watches/{digest}", happened=lambda: m.scalar(watched) is None)


def _deactivate(m: Matrix, url: str) -> Callable[[], None]:
    def cleanup() -> None:  # an enterprise has at most 5 webhooks
        with m.world.core.sessions.begin() as s:
            s.execute(update(Webhook).where(Webhook.url == url).values(active=False))

    return cleanup


def _hook(m: Matrix, role: str) -> Case:
    url = f"https://hooks.example/{fresh('hook')}"
    active = select(Webhook.id).where(Webhook.url == url, Webhook.active.is_(True))
    return Case("POST", "/v1/webhooks", {"url": url}, happened=lambda: m.scalar(active) is not None,
                cleanup=_deactivate(m, url))  # fmt: skip


def _unhook(m: Matrix, role: str) -> Case:
    url = f"https://hooks.example/{fresh('hook')}"
    hook = add_webhook(m.world.core, m.principal("enterprise"), url)["id"]
    active = select(Webhook.active).where(Webhook.id == hook)
    return Case("DELETE", f"/v1/webhooks/{hook}", happened=lambda: not m.scalar(active), cleanup=_deactivate(m, url))


def _rename_site(m: Matrix, role: str) -> Case:
    """Rename a site of the station (its own, made for the row)."""
    site_id, name = fresh("site")[-16:], fresh("站点")
    with m.world.core.sessions.begin() as s:
        s.add(Site(id=site_id, usci=STATION, name=fresh("旧名"), region=330106))
    named = select(Site.name).where(Site.id == site_id)
    return Case("PATCH", f"/v1/sites/{site_id}", {"name": name}, happened=lambda: m.scalar(named) == name)


def _get(url: Callable[[Matrix], str], **params: Callable[[Matrix], Any]) -> Callable[[Matrix, str], Case]:
    def build(m: Matrix, role: str) -> Case:
        return Case("GET", url(m), params={k: v(m) for k, v in params.items()})

    return build


def _record_shown(m: Matrix, body: Any) -> str:
    if "record" in body:
        return "full"
    assert body["serial_number"] is None and "serial_number" in body["withheld"], body
    return "withheld"


def _leaf(m: Matrix, body: Any) -> str:
    [leaf] = [leaf for leaf in body["leaves"] if leaf["digest"] == m.private]
    return "withheld" if leaf["certificate_number"] is None else "full"


def _listed(m: Matrix, body: Any) -> str:
    return "listed" if m.private in [i["digest"] for i in body["items"]] else "unlisted"


def _lab_shown(m: Matrix, body: Any) -> str:
    """Of the dependents of the NMI's standard (every record of the lab cites it): are the lab's shown."""
    assert body["total"] > 0
    return "shown" if m.world.lab_id in body["labs"] else "withheld"


def _instrument_linked(m: Matrix, body: Any) -> str:
    return "linked" if m.instrument in [i["id"] for i in body["items"]] else "none"


def _station_listed(m: Matrix, body: Any) -> str:
    return "listed" if STATION in [e["usci"] for e in body["items"]] else "unlisted"


LISTED, UNLISTED, FULL, WITHHELD = ok("listed"), ok("unlisted"), ok("full"), ok("withheld")
NOT_A_REGULATOR, NOT_AN_ENTERPRISE = no("NOT_A_REGULATOR"), no("NOT_AN_ENTERPRISE")
NOT_OVER_LAB, NOT_OF_REGION = no("NOT_REGULATOR_OVER_LAB"), no("NOT_REGULATOR_OF_REGION")
NOT_YOURS = no("DRAW_NOT_YOURS")
#: A confirmed enterprise writes to its own register, watchlist and webhooks; a pending one only reads.
ENTERPRISE_WRITES = row(NOT_AN_ENTERPRISE, enterprises=ok(), pending_enterprise=no("ENTERPRISE_NOT_CONFIRMED"))

#: (method, path) → the route's row.
TABLE: dict[tuple[str, str], Route] = {
    # ------------------------------------------------------------------------------------- certificates: writes
    ("POST", "/v1/certificates"): Route(
        _issue,
        row(no("NOT_A_LAB"), lab=ok(status=201), other_lab=no("WRONG_LAB"), suspended_lab=no("LAB_SUSPENDED")),
    ),
    # A bulk is answered item by item: a token that may not issue gets each item refused.
    ("POST", "/v1/certificates/bulk"): Route(
        _bulk,
        row(
            ok("item refused: NOT_A_LAB"),
            lab=ok("accepted"),
            other_lab=ok("item refused: WRONG_LAB"),
            suspended_lab=ok("item refused: LAB_SUSPENDED"),
        ),
        _bulk_sees,
        lambda outcome: outcome == (200, "accepted"),
    ),
    ("POST", "/v1/certificates/{digest}/publish"): Route(
        _publish,
        row(NOT_OVER_LAB, lab=ok(), suspended_lab=ok(), other_lab=no("WRONG_LAB"), over=ok()),
    ),
    # A suspended lab may still revoke (as on chain: revocation only lowers trust). A regulator's revocation goes
    # on chain from its own account: the registry must hold it (it holds the province's and Hangzhou's).
    ("POST", "/v1/certificates/{digest}/revoke"): Route(
        _revoke,
        row(
            NOT_OVER_LAB,
            lab=ok(status=202),
            suspended_lab=ok(status=202),
            other_lab=no("WRONG_LAB"),
            province=ok(status=202),
            city=ok(status=202),
            national=no("REGULATOR_ACCOUNT_NOT_HELD"),
        ),
    ),
    ("POST", "/v1/certificates/{digest}/substitute"): Route(
        _substitute,
        row(
            NOT_OVER_LAB,
            lab=ok(status=201),
            suspended_lab=no("LAB_SUSPENDED"),
            other_lab=no("WRONG_LAB"),
            over=no("NOT_A_LAB"),
        ),
    ),
    # ------------------------------------------------------------------------------------- draws
    # Only the regulator that committed a draw hands it in, and then its results.
    ("POST", "/v1/draws"): Route(
        _publish_draw, row(NOT_A_REGULATOR, province=ok(status=201), over=NOT_YOURS, elsewhere=NOT_YOURS)
    ),
    ("PUT", "/v1/draws/{commitment}/result"): Route(
        _draw_result, row(NOT_A_REGULATOR, province=ok(), over=NOT_YOURS, elsewhere=NOT_YOURS)
    ),
    # ------------------------------------------------------------------------------------- enterprises
    # Without a token an enterprise registers itself (pending); with one, only a regulator over its region.
    ("POST", "/v1/enterprises"): Route(
        _register,
        row(NOT_A_REGULATOR, anonymous=ok("PENDING", 201), over=ok("CONFIRMED", 201), elsewhere=NOT_OF_REGION),
        lambda m, body: body["enterprise"]["state"],
    ),
    ("POST", "/v1/enterprises/{usci}/confirm"): Route(
        _confirm,
        row(NOT_A_REGULATOR, over=ok("CONFIRMED"), elsewhere=NOT_OF_REGION),
        lambda m, body: body["state"],
    ),
    ("POST", "/v1/instruments"): Route(
        _instruments,
        ENTERPRISE_WRITES,
    ),
    ("POST", "/v1/watches"): Route(
        _watch,
        ENTERPRISE_WRITES,
    ),
    # The station's watch: another enterprise cannot remove it (it has no such watch).
    ("DELETE", "/v1/watches/{digest}"): Route(
        _unwatch,
        row(NOT_AN_ENTERPRISE, enterprise=ok(status=204), enterprises=no("NOT_WATCHED", 404)),
    ),
    ("POST", "/v1/webhooks"): Route(
        _hook,
        ENTERPRISE_WRITES,
    ),
    ("DELETE", "/v1/webhooks/{webhook_id}"): Route(
        _unhook,
        row(NOT_AN_ENTERPRISE, enterprise=ok(status=204), enterprises=no("UNKNOWN_WEBHOOK", 404)),
    ),
    # Only the site's owner renames it (the QR code stays); another enterprise's site is not its to change.
    ("PATCH", "/v1/sites/{site_id}"): Route(
        _rename_site,
        row(
            NOT_AN_ENTERPRISE,
            enterprise=ok(),
            other_enterprise=no("NOT_YOUR_SITE"),
            pending_enterprise=no("ENTERPRISE_NOT_CONFIRMED"),
        ),
    ),
    # ------------------------------------------------------------------------------------- the private certificate
    # Enumerating (a filter that is no exact lookup) lists a private certificate to its lab and regulators only.
    ("GET", "/v1/certificates"): Route(
        _get(lambda m: "/v1/certificates", lab_id=lambda m: m.world.lab_id, serial_number=lambda m: SERIAL),
        row(UNLISTED, anonymous=UNLISTED, lab=LISTED, suspended_lab=LISTED, over=LISTED),
        _listed,
    ),
    ("GET", "/v1/certificates/{digest}"): Route(
        _get(lambda m: f"/v1/certificates/{m.private}"),
        row(WITHHELD, anonymous=WITHHELD, lab=FULL, suspended_lab=FULL, over=FULL),
        _record_shown,
    ),
    ("GET", "/v1/labs/{lab_id}/certificates/{number}"): Route(
        _get(lambda m: f"/v1/labs/{m.world.lab_id}/certificates/{_number(m)}"),
        row(WITHHELD, anonymous=WITHHELD, lab=FULL, suspended_lab=FULL, over=FULL),
        _record_shown,
    ),
    ("GET", "/v1/batches/{root}"): Route(
        _get(lambda m: f"/v1/batches/{m.root}"),
        row(WITHHELD, anonymous=WITHHELD, lab=FULL, suspended_lab=FULL, over=FULL),
        _leaf,
    ),
    ("GET", "/v1/certificates/{digest}/bundle"): Route(
        _get(lambda m: f"/v1/certificates/{m.private}/bundle"),
        row(NOT_OVER_LAB, lab=ok(), suspended_lab=ok(), other_lab=no("WRONG_LAB"), over=ok()),
    ),
    ("GET", "/v1/certificates/{digest}/vc"): Route(
        _get(lambda m: f"/v1/certificates/{m.private}/vc"),
        row(NOT_OVER_LAB, lab=ok(), suspended_lab=ok(), other_lab=no("WRONG_LAB"), over=ok()),
    ),
    # Linked instruments: the lab and its regulators see all, an enterprise its own.
    ("GET", "/v1/certificates/{digest}/instruments"): Route(
        _get(lambda m: f"/v1/certificates/{m.private}/instruments"),
        row(
            NOT_OVER_LAB,
            lab=ok("linked"),
            suspended_lab=ok("linked"),
            other_lab=no("WRONG_LAB"),
            over=ok("linked"),
            enterprise=ok("linked"),
            pending_enterprise=ok("none"),
            other_enterprise=ok("none"),
        ),
        _instrument_linked,
    ),
    # ------------------------------------------------------------------------------------- oversight
    ("GET", "/v1/fraud-signals"): Route(
        _get(lambda m: "/v1/fraud-signals"),
        row(NOT_A_REGULATOR, over=ok("the lab's"), elsewhere=ok("none")),
        lambda m, body: "the lab's" if any(i["lab_id"] == m.world.lab_id for i in body["items"]) else "none",
    ),
    ("GET", "/v1/anomalies"): Route(
        _get(lambda m: "/v1/anomalies"),
        row(NOT_A_REGULATOR, over=ok("the lab scanned"), elsewhere=ok("not the lab")),
        lambda m, body: "the lab scanned" if m.world.lab_id in body["labs"] else "not the lab",
    ),
    # Of the NMI's standard: whom its dependents are shown to (the others are counted).
    ("GET", "/v1/certificates/{digest}/dependents"): Route(
        _get(lambda m: f"/v1/certificates/{m.world.standard['digest']}/dependents"),
        row(
            NOT_A_REGULATOR,
            lab=ok("shown"),
            suspended_lab=ok("shown"),
            other_lab=ok("withheld"),
            over=ok("shown"),
            elsewhere=ok("withheld"),
            enterprises=ok("withheld"),
        ),
        _lab_shown,
    ),
    # ------------------------------------------------------------------------------------- enterprises: reads
    ("GET", "/v1/enterprises"): Route(
        _get(lambda m: "/v1/enterprises"),
        row(NOT_A_REGULATOR, over=LISTED, elsewhere=UNLISTED),
        _station_listed,
    ),
    ("GET", "/v1/instruments"): Route(
        _get(lambda m: "/v1/instruments", usci=lambda m: STATION),
        row(no("NOT_YOUR_REGISTER"), enterprise=ok("the station's"), over=ok("the station's"), elsewhere=NOT_OF_REGION),
        lambda m, body: "the station's" if body["usci"] == STATION and body["instruments"] else "other",
    ),
    ("GET", "/v1/instruments/{instrument_id}"): Route(
        _get(lambda m: f"/v1/instruments/{m.instrument}"),
        row(no("NOT_YOUR_REGISTER"), enterprise=ok(), over=ok(), elsewhere=NOT_OF_REGION),
    ),
    ("GET", "/v1/coverage"): Route(
        _get(lambda m: "/v1/coverage", region=lambda m: HANGZHOU),
        row(NOT_A_REGULATOR, over=ok(), elsewhere=NOT_OF_REGION),
    ),
    ("GET", "/v1/coverage/overdue"): Route(
        _get(lambda m: "/v1/coverage/overdue", region=lambda m: HANGZHOU),
        row(NOT_A_REGULATOR, over=ok(), elsewhere=NOT_OF_REGION),
    ),
    ("GET", "/v1/watches"): Route(_get(lambda m: "/v1/watches"), row(NOT_AN_ENTERPRISE, enterprises=ok())),
    ("GET", "/v1/webhooks"): Route(_get(lambda m: "/v1/webhooks"), row(NOT_AN_ENTERPRISE, enterprises=ok())),
    ("GET", "/v1/alerts"): Route(_get(lambda m: "/v1/alerts"), row(NOT_AN_ENTERPRISE, enterprises=ok())),
    ("GET", "/v1/me"): Route(
        _get(lambda m: "/v1/me"),
        row(ok("REGULATOR"), labs=ok("LAB"), enterprises=ok("ENTERPRISE")),
        lambda m, body: body["role"],
    ),
}


def _number(m: Matrix) -> str:
    return str(m.api.get(f"/v1/certificates/{m.private}", headers=m.headers("lab")).json()["certificate_number"])


def _outcome(m: Matrix, route: Route, response: Any) -> Outcome:
    body = response.json() if response.content else None
    if response.status_code >= 400:
        return response.status_code, body["error"]["code"]
    return response.status_code, "ok" if body is None else route.sees(m, body)


ROWS = [pytest.param(key, role, id=f"{key[0]} {key[1]} | {role}") for key in TABLE for role in ROLES]


@pytest.mark.parametrize(("key", "role"), ROWS)
def test_authorization(matrix: Matrix, key: tuple[str, str], role: str) -> None:
    route = TABLE[key]
    case = route.build(matrix, role)
    try:
        with matrix.suspended(role == "suspended_lab"):
            response = matrix.api.request(
                case.method, case.url, json=case.json, params=case.params, headers=matrix.headers(role)
            )
        outcome = _outcome(matrix, route, response)
        assert outcome == route.outcomes[role], response.text
        if case.happened is not None:
            assert case.happened() == route.effective(outcome)
    finally:
        if case.cleanup is not None:
            case.cleanup()


def _reads_caller(route: APIRoute) -> bool:
    """Whether the route depends on who calls (a required or an optional token)."""
    wanted = {typing.get_args(dep)[1].dependency for dep in (PrincipalDep, MaybePrincipalDep)}
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call in wanted:
            return True
        stack.extend(dependant.dependencies)
    return False


def test_the_table_covers_every_write_and_every_read_that_depends_on_the_caller(matrix: Matrix) -> None:
    """A new write route, or a read that reads the token, without a row fails here; so does a stale row."""
    routes = {
        (method, c.path_format): c.original_route
        for c in iter_route_contexts(matrix.api.app.routes)
        if isinstance(c.original_route, APIRoute)
        for method in c.methods
    }
    needed = {key for key, r in routes.items() if key[0] != "GET" or _reads_caller(r)}
    assert sorted(needed - set(TABLE)) == []
    assert sorted(set(TABLE) - set(routes)) == []
    assert all(set(route.outcomes) == set(ROLES) for route in TABLE.values())
    assert {key[0] for key in needed} == {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_the_fraud_signal_and_the_private_certificate_are_there(matrix: Matrix) -> None:
    """The targets the read rows rest on: a signal of the lab, an anchored private certificate."""
    assert matrix.scalar(select(FraudSignal.lab_id)) == matrix.world.lab_id
    status = select(Certificate.status, Certificate.public).where(Certificate.digest == matrix.private)
    with matrix.world.core.sessions() as s:
        assert tuple(s.execute(status).one()) == ("ANCHORED", False)
