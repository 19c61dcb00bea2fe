"""Bundle sources against a registry's HTTP API (served by httpx's MockTransport from the test world's bundles):
what each look-up asks, and that a verification asks a registry little."""

from __future__ import annotations

import httpx

from tests.verifier.conftest import TraceWorld, chain_of_three, reuse_number
from tracecert.verification.chainview import LiveChainView
from tracecert.verification.engine import Verifier
from tracecert.verification.report import Verdict
from tracecert.verification.sources import ChainedSource, MemorySource, RegistrySource, numbered


class FakeRegistry:
    """The registry's read endpoints over the world's bundles; every request is recorded."""

    def __init__(self, bundles: MemorySource) -> None:
        self.bundles = bundles
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        path, params = request.url.path, request.url.params
        if path.endswith("/bundle"):
            bundle = self.bundles.by_digest(path.split("/")[3])
            return httpx.Response(200, json=bundle) if bundle else httpx.Response(404, json={})
        if path == "/v1/certificates":
            digests = self.bundles.numbered(params["lab_id"], params["number"])
            return httpx.Response(200, json={"items": [{"digest": d} for d in digests], "next_cursor": None})
        return httpx.Response(404, json={})


def _registry(world: TraceWorld) -> tuple[RegistrySource, FakeRegistry]:
    fake = FakeRegistry(world.source)
    client = httpx.Client(base_url="http://registry.test", transport=httpx.MockTransport(fake))
    return RegistrySource("http://registry.test", client=client), fake


def test_numbered_asks_the_listing_only(trace_world: TraceWorld) -> None:
    w = trace_world
    _, mid, leaf = chain_of_three(w)
    second = reuse_number(w, leaf, mid)
    source, fake = _registry(w)
    lab, number = w.city.hex_id, leaf["record"]["certificate_number"]
    assert numbered(source, lab, number) == {leaf["digest"], second["digest"]}
    assert fake.requests == ["/v1/certificates"]
    fake.requests.clear()
    assert {b["digest"] for b in source.by_number(lab, number)} == {leaf["digest"], second["digest"]}
    assert sorted(fake.requests) == sorted(
        ["/v1/certificates"] + [f"/v1/certificates/{d}/bundle" for d in (leaf["digest"], second["digest"])]
    )
    # Merged over several sources; a source without its own `numbered` answers through by_number.
    chained = ChainedSource(MemorySource([leaf]), source)
    assert numbered(chained, lab, number) == {leaf["digest"], second["digest"]}


def test_a_verification_asks_a_registry_little(trace_world: TraceWorld) -> None:
    w = trace_world
    _, mid, leaf = chain_of_three(w)
    source, fake = _registry(w)
    verifier = Verifier(LiveChainView(w.chain.contracts), source)
    assert verifier.verify_bundle(leaf).verdict is Verdict.VALID
    fake.requests.clear()
    report = verifier.verify_bundle(leaf)  # the standards' certificates are cached now
    assert report.verdict is Verdict.VALID
    assert fake.requests == ["/v1/certificates"]  # its number, once; no bundle fetched for it
    # Reuse of the number: only the other certificate's bundle is fetched, to confirm it.
    second = reuse_number(w, leaf, mid)
    fake.requests.clear()
    report = verifier.verify_bundle(leaf)
    assert "NUMBER_UNIQUE" in report.codes
    assert fake.requests == ["/v1/certificates", f"/v1/certificates/{second['digest']}/bundle"]
