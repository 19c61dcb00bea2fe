"""Where the verifier finds documents: proof bundles from files, folders, a registry, or memory.

A source is only ever a place to *find* evidence; nothing it returns is trusted: every bundle is checked against
the chain by the engine. The registry is one optional source among others, never the truth.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import httpx

from tracecert.certificate.canonical import certificate_digest, parse_json, to_hex
from tracecert.certificate.errors import CertificateError
from tracecert.certificate.model import record_from_json

__all__ = [
    "BundleSource",
    "ChainedSource",
    "CheckedSource",
    "DirectorySource",
    "MemorySource",
    "RegistrySource",
    "numbered",
    "read_bounded",
]

logger = logging.getLogger(__name__)


class BundleSource(Protocol):
    """Finds proof bundles (as JSON objects) by certificate digest, by original document hash, or by number."""

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        """The bundle of a certificate digest (``0x`` + hex)."""

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        """The bundle whose record binds an original document with this SHA-256."""

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        """Bundles of a lab's certificate number (more than one is a finding)."""


def numbered(source: Any, lab_id: str, number: str) -> set[str]:
    """The digests a source lists under a lab's certificate number, as it says (unchecked): through its own
    ``numbered`` when it has one (a registry answers from its listing, without fetching every bundle), else from
    :meth:`BundleSource.by_number`."""
    own = getattr(source, "numbered", None)
    if own is not None:
        return {str(d).lower() for d in own(lab_id, number)} - {""}
    return {str(b.get("digest", "")).lower() for b in source.by_number(lab_id, number)} - {""}


class MemorySource:
    """Bundles held in memory (what a user dropped in, a folder's files)."""

    def __init__(self, bundles: Iterable[dict[str, Any]] = ()) -> None:
        self._by_digest: dict[str, dict[str, Any]] = {}
        self._by_document: dict[str, str] = {}
        self._by_number: dict[tuple[str, str], set[str]] = {}
        for bundle in bundles:
            self.add(bundle)

    def add(self, bundle: dict[str, Any]) -> bool:
        """Index one bundle; False (and ignored) when it is not a bundle or its record does not hash to the digest
        it claims — a forged copy must never shadow the genuine certificate under its digest."""
        try:
            digest = str(bundle["digest"]).lower()
            record = bundle["record"]
            if to_hex(certificate_digest(record_from_json(record))) != digest:
                logger.info("ignoring a bundle whose record does not hash to its digest %s", digest)
                return False
            self._by_digest[digest] = bundle
            doc = record.get("original_document")
            if isinstance(doc, dict) and "sha256" in doc:
                self._by_document[str(doc["sha256"]).lower()] = digest
            key = (str(record["lab"]["lab_id"]).lower(), str(record["certificate_number"]))
            self._by_number.setdefault(key, set()).add(digest)
        except (KeyError, TypeError, AttributeError, CertificateError):
            logger.debug("ignoring a JSON object that is not a proof bundle")
            return False
        return True

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        """See :class:`BundleSource`."""
        return self._by_digest.get(digest.lower())

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        """See :class:`BundleSource`."""
        digest = self._by_document.get(sha256.lower())
        return self._by_digest.get(digest) if digest else None

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        """See :class:`BundleSource`."""
        return [self._by_digest[d] for d in sorted(self._by_number.get((lab_id.lower(), number), ()))]

    def numbered(self, lab_id: str, number: str) -> list[str]:
        """See :func:`numbered`."""
        return sorted(self._by_number.get((lab_id.lower(), number), ()))

    def __len__(self) -> int:
        return len(self._by_digest)


class DirectorySource(MemorySource):
    """Every ``*.json`` proof bundle under a folder (read once)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        for path in sorted(Path(folder).rglob("*.json")):
            try:
                doc = parse_json(path.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("format") == "tracecert-bundle/1":
                self.add(doc)


def read_bounded(response: httpx.Response, max_bytes: int) -> bytes | None:
    """The body of a streamed answer, read as it arrives and given up (None) once it is over ``max_bytes``: what a
    server the verifier does not trust sends is never read unbounded."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            return None
    return bytes(body)


class RegistrySource:
    """A TraceCert registry's API as a source (its bundles need a token of the lab or a regulator)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.max_bytes = max_bytes
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def _get(self, path: str, **params: Any) -> Any:
        """The JSON of a 200 answer, read within ``max_bytes`` and parsed within the depth bound; None otherwise
        (the registry is never trusted: an answer too large, too deep or not JSON is as good as none)."""
        try:
            with self._client.stream("GET", path, params=params or None) as response:
                if response.status_code != 200:
                    return None
                body = read_bounded(response, self.max_bytes)
        except httpx.HTTPError as exc:
            logger.warning("registry source unreachable: %s", exc)
            return None
        if body is None:
            logger.warning("registry source answered more than %d bytes for %s", self.max_bytes, path)
            return None
        try:
            return parse_json(body)
        except ValueError as exc:
            logger.warning("registry source answered no usable JSON for %s: %s", path, exc)
            return None

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        """See :class:`BundleSource`."""
        found = self._get(f"/v1/certificates/{digest.lower()}/bundle")
        return found if isinstance(found, dict) else None

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        """See :class:`BundleSource` (the registry's listing is searched by the document hash)."""
        found = self._get("/v1/certificates", document_sha256=sha256.lower(), limit=1)
        items = found.get("items", []) if isinstance(found, dict) else []
        return self.by_digest(items[0]["digest"]) if items else None

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        """See :class:`BundleSource`."""
        bundles = [self.by_digest(digest) for digest in self.numbered(lab_id, number)]
        return [b for b in bundles if b is not None]

    def numbered(self, lab_id: str, number: str) -> list[str]:
        """See :func:`numbered`: one request for the registry's public listing."""
        found = self._get("/v1/certificates", lab_id=lab_id.lower(), number=number, limit=10)
        items = found.get("items", []) if isinstance(found, dict) else []
        return [str(item["digest"]) for item in items if isinstance(item, dict) and "digest" in item]


class ChainedSource:
    """Ask several sources in order; the first answer wins (``by_number`` merges)."""

    def __init__(self, *sources: BundleSource) -> None:
        self.sources = list(sources)

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        """See :class:`BundleSource`."""
        return next((b for s in self.sources if (b := s.by_digest(digest)) is not None), None)

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        """See :class:`BundleSource`."""
        return next((b for s in self.sources if (b := s.by_document(sha256)) is not None), None)

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        """See :class:`BundleSource`."""
        seen: dict[str, dict[str, Any]] = {}
        for source in self.sources:
            for bundle in source.by_number(lab_id, number):
                seen.setdefault(str(bundle.get("digest")), bundle)
        return list(seen.values())

    def numbered(self, lab_id: str, number: str) -> list[str]:
        """See :func:`numbered`: every source's, merged."""
        return sorted(set().union(*(numbered(source, lab_id, number) for source in self.sources)))


def _record_digest(bundle: dict[str, Any]) -> str | None:
    try:
        return to_hex(certificate_digest(record_from_json(bundle["record"])))
    except (KeyError, TypeError, CertificateError):
        return None


class CheckedSource:
    """Wraps any source so that it can only answer the question asked: a bundle for a digest must hold a record
    that hashes to that digest; for a document, a record that binds that document; for a number, a record of that
    lab with that number. A source that answers something else (a lying mirror) is treated as not knowing."""

    def __init__(self, inner: BundleSource) -> None:
        self.inner = inner

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        """See :class:`BundleSource`."""
        bundle = self.inner.by_digest(digest)
        if bundle is None or _record_digest(bundle) != digest.lower():
            return None
        return bundle

    def by_document(self, sha256: str) -> dict[str, Any] | None:
        """See :class:`BundleSource`."""
        bundle = self.inner.by_document(sha256)
        if bundle is None or _record_digest(bundle) is None:
            return None
        bound = bundle["record"].get("original_document") or {}
        return bundle if str(bound.get("sha256", "")).lower() == sha256.lower() else None

    def by_number(self, lab_id: str, number: str) -> list[dict[str, Any]]:
        """See :class:`BundleSource`."""
        found = []
        for bundle in self.inner.by_number(lab_id, number):
            record = bundle.get("record") or {}
            same = (
                str((record.get("lab") or {}).get("lab_id", "")).lower() == lab_id.lower()
                and record.get("certificate_number") == number
            )
            if same and _record_digest(bundle) == str(bundle.get("digest", "")).lower():
                found.append(bundle)
        return found

    def claimed_digests(self, lab_id: str, number: str) -> set[str]:
        """The digests that the sources' bundles for a lab's number claim, *unchecked* (cheap: nothing is hashed).

        For finding other certificates under a number: each must then be fetched with :meth:`by_digest` (which
        checks it) and its record's lab and number compared, before it counts for anything.
        """
        return numbered(self.inner, lab_id, number)

    def add(self, bundle: dict[str, Any]) -> bool:
        """Add to the wrapped source when it takes additions (a :class:`MemorySource`)."""
        add = getattr(self.inner, "add", None)
        return bool(add(bundle)) if add is not None else False
