"""Alerts in ``tracecert up`` as users meet them: the demo's enterprises add webhooks to a receiver on this machine;
the NMI revokes its volume standard's certificate; each enterprise whose certificates depend on it is told once,
signed — also when ``up`` is killed (SIGKILL) while the first post is in flight and started again."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response

from registry.alerts import verify_delivery
from tests.conftest import free_port, serving
from tests.test_up import _interrupt, _start, _wait_up
from tracecert.chain.node import AnvilNode


@dataclass
class HoldingReceiver:
    """Records every post; holds the first one open until ``release`` (the sender is killed meanwhile)."""

    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        """The receiver's app: POST /hook/{usci}."""
        app = FastAPI()

        @app.post("/hook/{usci}")
        async def hook(usci: str, request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.posts.append((usci, {k.lower(): v for k, v in request.headers.items()}, body))
                first = not self.arrived.is_set()
                self.arrived.set()
            if first:
                while not self.release.is_set():  # held open: the sender is killed while it waits for us
                    await _sleep(0.05)
            return Response(status_code=204)

        return app

    def revoked(self, usci: str, digest: str) -> list[tuple[dict[str, str], dict[str, object], bytes]]:
        """The posts to ``usci`` about the revocation of ``digest``."""
        out = []
        with self.lock:
            for who, headers, body in self.posts:
                alert = json.loads(body)
                if who == usci and alert["event"]["certificate"]["digest"] == digest:
                    out.append((headers, alert, body))
        return out


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_an_nmi_revocation_reaches_each_watcher_once_across_a_killed_sender(data_dir: Path) -> None:
    receiver = HoldingReceiver()
    chain_port = free_port()
    ports = {"registry": free_port(), "verifier": free_port(), "chain": chain_port}
    registry = f"http://127.0.0.1:{ports['registry']}"
    process = _start(data_dir, ports)
    try:
        with serving(receiver.app(), "webhook receiver") as hooks:
            _wait_up(process, data_dir, registry)
            summary = json.loads((data_dir / "demo" / "demo.json").read_text())["summary"]
            enterprises = summary["enterprises"]
            for ent in enterprises.values():
                added = httpx.post(
                    f"{registry}/v1/webhooks",
                    json={"url": f"{hooks}/hook/{ent['usci']}"},
                    headers={"Authorization": f"Bearer {ent['token']}"},
                )
                assert added.status_code == 200, added.text
            # The station's 公示: its two dispensers, one verified (the demo's certificate), one never yet.
            site = enterprises["fuel_station"]["sites"][0]
            notice = httpx.get(f"{registry}/v1/sites/{site['id']}/notice").json()
            assert sorted(i["state"] for i in notice["instruments"]) == ["IN_FORCE", "NEVER"]
            assert httpx.get(f"{registry}/s/{site['id']}").status_code == 200
            key = httpx.get(f"{registry}/v1/alerts/key").json()["public_key"]
            standard = summary["certificates"]["nmi_volume"]["digest"]
            nmi = {"Authorization": f"Bearer {summary['labs']['nmi']['token']}"}
            revoked = httpx.post(f"{registry}/v1/certificates/{standard}/revoke", json={"reason": 1}, headers=nmi)
            assert revoked.status_code == 202, revoked.text
            # The first post arrives and is held; up is killed with it in flight, then started again.
            assert receiver.arrived.wait(90), "no alert was posted"
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)
            receiver.release.set()
            (data_dir / "up.json").unlink(missing_ok=True)
            ports |= {"registry": free_port(), "verifier": free_port()}
            registry = f"http://127.0.0.1:{ports['registry']}"
            process = _start(data_dir, ports)
            _wait_up(process, data_dir, registry)
            # Watchers: the station whose dispenser's certificate depends on it (its instrument), the station
            # watching the province's volume standard by name; the power plant (pressure) is not concerned.
            fuel, north, plant = (enterprises[k]["usci"] for k in ("fuel_station", "north_station", "power_plant"))
            _wait(lambda: receiver.revoked(fuel, standard) and receiver.revoked(north, standard), 90, "both told")
            time.sleep(2 * 0.5 + 1)  # a sender poll or two more: nothing else may come
            for usci in (fuel, north):
                posts = receiver.revoked(usci, standard)
                assert len({alert["id"] for _, alert, _ in posts}) == 1, posts  # one alert, whatever the resends
                for headers, alert, body in posts:
                    assert verify_delivery(key, headers, body)
                    assert alert["type"] == "STANDARD_REVOKED" and alert["enterprise"] == usci
            assert receiver.revoked(plant, standard) == []
            first_usci, first_headers, _ = receiver.posts[0]
            resent = [h["tracecert-alert-id"] for u, h, _ in receiver.posts[1:] if u == first_usci]
            assert first_headers["tracecert-alert-id"] in resent, "the post in flight when up was killed: not resent"
            relations = {a["relation"] for _, alert, _ in receiver.revoked(north, standard) for a in alert["affected"]}
            assert relations == {"WATCHED"}
    finally:
        if process.poll() is None:
            _interrupt(process)
        AnvilNode.stop_detached(data_dir)
