"""强制检定合格公示: a site's public notice of its instruments under mandatory verification.

A site (a gas station, a market stall, a ward) shows the public what it uses under mandatory verification and
whether each is verified and in force: a page anyone opens by the site's QR code (``/s/{site_id}``), the JSON it
reads (:func:`site_notice`), the QR code itself (:func:`site_qr`) and an A4 poster to print and hang (:func:`poster`).

The notice carries what a customer may see and nothing else of the enterprise or its customers: the enterprise's
name and unified social credit code (public on its business licence), the site's name and region, and per
instrument its category, model, serial number (出厂编号, as the verification sticker shows it), state, last
verification, due date, the verifying lab's name and the certificate's digest (the verifier's link). No addresses,
contacts, asset numbers or certificate numbers.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import segno
from sqlalchemy import select

from registry.core import RegistryCore
from registry.coverage import STATES, due_states, linked_certificates, today
from registry.db import Certificate, CertificateStatus, Lab
from registry.db_enterprises import Enterprise, Instrument, Site
from registry.errors import NotFound
from tracecert.certificate.model import Kind

__all__ = ["POSTER_TITLE", "QR_ERROR", "poster", "require_site", "site_notice", "site_qr", "site_qr_png", "site_url"]

#: The poster's title.
POSTER_TITLE = "强制检定计量器具合格公示"
#: The QR codes' error correction level (the PNG and the poster encode the same symbol).
QR_ERROR = "m"
_VERIFICATIONS = (Kind.VERIFICATION, Kind.VERIFICATION_FAIL_NOTICE)
_ORDER = ("FAILED", "OVERDUE", "NEVER")


def _shown(certificates: Sequence[Certificate], due: Mapping[str, Any], day: dt.date) -> Certificate | None:
    """The certificate the notice shows for an instrument: the one keeping it in force, else its latest
    verification on chain (passed or failed) issued by ``day``; None if it was never verified."""
    verifications = [
        c
        for c in certificates
        if c.status == CertificateStatus.ANCHORED and c.kind in _VERIFICATIONS and c.issue_date <= day.isoformat()
    ]
    keeping = [c for c in verifications if c.digest == due.get("certificate")]
    if keeping:
        return keeping[0]
    return max(verifications, key=lambda c: (c.issue_date, c.seq)) if verifications else None


def _verdict(states: Sequence[str]) -> dict[str, Any]:
    """The site's overall verdict: all in force, or how many are not, by state."""
    counts = Counter(states)
    total = len(states)
    not_in_force = total - counts["IN_FORCE"]
    if total == 0:
        code = "NONE_REGISTERED"
        text = {"zh": "本场所暂无强制检定计量器具备案", "en": "no instruments under mandatory verification registered"}
    elif not_in_force == 0:
        code = "ALL_IN_FORCE"
        text = {"zh": "全部合格有效", "en": "all verified and in force"}
    else:
        code = "NOT_ALL_IN_FORCE"
        parts = [k for k in _ORDER if counts[k]]
        text = {
            "zh": f"{not_in_force} 件未在有效期内：" + "，".join(f"{STATES[k][0]} {counts[k]} 件" for k in parts),
            "en": f"{not_in_force} of {total} not in force: " + ", ".join(f"{counts[k]} {STATES[k][1]}" for k in parts),
        }
    return {
        "code": code,
        "text": text,
        "total": total,
        "in_force": counts["IN_FORCE"],
        "not_in_force": not_in_force,
        "by_state": {k: counts[k] for k in STATES},
    }


def site_notice(
    core: RegistryCore, site_id: str, day: dt.date | None = None, *, verifier_url: str | None = None
) -> dict[str, Any]:
    """The public notice of a site on ``day`` (today in China by default): the enterprise, the site, the overall
    verdict and each instrument under mandatory verification with its state (see the module for what it carries).

    Args:
        verifier_url: where the verifier's page lives (each certificate's link is ``{verifier_url}/c/{digest}``);
            None: the core's setting; empty: no links.

    Raises:
        NotFound: UNKNOWN_SITE.
    """
    day = day or today(core)
    verifier = core.settings.verifier_url if verifier_url is None else verifier_url
    chosen = select(
        Instrument.id, Instrument.usci, Instrument.serial_number, Instrument.manufacturer_key, Instrument.asset_number
    ).where(Instrument.site_id == site_id, Instrument.mandatory.is_(True))
    with core.sessions() as s:
        found = s.execute(
            select(Site, Enterprise).join(Enterprise, Enterprise.usci == Site.usci).where(Site.id == site_id)
        ).first()
        if found is None:
            raise NotFound(f"no site {site_id}", code="UNKNOWN_SITE")
        site, enterprise = found
        instruments = list(
            s.scalars(
                select(Instrument)
                .where(Instrument.site_id == site_id, Instrument.mandatory.is_(True))
                .order_by(Instrument.id)
            )
        )
        certificates = linked_certificates(s, chosen)
        states = due_states(s, {i.id: i for i in instruments}, certificates, day)
        shown = {i.id: _shown(certificates.get(i.id, []), states[i.id], day) for i in instruments}
        lab_ids = {c.lab_id for c in shown.values() if c is not None}
        labs = dict(s.execute(select(Lab.lab_id, Lab.name).where(Lab.lab_id.in_(lab_ids))).all()) if lab_ids else {}
        items = []
        for inst in instruments:
            due, cert = states[inst.id], shown[inst.id]
            items.append(
                {
                    "category": inst.category,
                    "model": inst.model,
                    "serial_number": inst.serial_number,
                    "state": due["state"],
                    "state_name": due["state_name"],
                    "due_date": due["due_date"],
                    "due_soon": due["due_soon"],
                    "last_verified": cert.issue_date if cert else None,
                    "lab": labs.get(cert.lab_id) if cert else None,
                    "certificate": cert.digest if cert else None,
                    "verify_url": f"{verifier.rstrip('/')}/c/{cert.digest}" if cert and verifier else None,
                }
            )
        return {
            "on": day.isoformat(),
            "enterprise": {"usci": enterprise.usci, "name": enterprise.name},
            "site": {"id": site.id, "name": site.name, "region": site.region},
            "verdict": _verdict([i["state"] for i in items]),
            "instruments": items,
        }


# ---------------------------------------------------------------------------------------------- the QR code


def site_url(base_url: str, site_id: str) -> str:
    """The address of a site's public page under the registry's public ``base_url``."""
    return f"{base_url.rstrip('/')}/s/{site_id}"


def site_qr(url: str) -> segno.QRCode:
    """The QR code of a site's page (the PNG and the poster draw this same symbol)."""
    return segno.make(url, error=QR_ERROR, micro=False)


@functools.lru_cache(maxsize=1024)
def site_qr_png(url: str) -> bytes:
    """The PNG of :func:`site_qr` (scale 8, border 4), drawn once per address: an anonymous request for a poster's
    code costs a dictionary lookup, not a drawing."""
    out = io.BytesIO()
    site_qr(url).save(out, kind="png", scale=8, border=4)
    return out.getvalue()


def require_site(core: RegistryCore, site_id: str) -> None:
    """Raises NotFound (UNKNOWN_SITE) unless this registry has the site: one primary-key read."""
    with core.sessions() as s:
        if s.get(Site, site_id) is None:
            raise NotFound(f"no site {site_id}", code="UNKNOWN_SITE")


# ---------------------------------------------------------------------------------------------- the poster

_FONT = "STSong-Light"
_COLOURS = {"IN_FORCE": "#17733a", "FAILED": "#b3261e", "OVERDUE": "#b3261e", "NEVER": "#5f6368"}
_VERDICT_COLOURS = {"ALL_IN_FORCE": "#17733a", "NOT_ALL_IN_FORCE": "#b3261e", "NONE_REGISTERED": "#5f6368"}


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    return _FONT


def _fit(text: str, width: float, size: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` points at ``size``."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, _FONT, size) <= width:
        return text
    while text and stringWidth(text + "…", _FONT, size) > width:
        text = text[:-1]
    return text + "…"


def poster(notice: Mapping[str, Any], url: str) -> bytes:
    """An A4 poster of a site's notice (one page, PDF): the title, the enterprise and site, the QR code of the site's
    page (``url``, printed under it too) big, the verdict, the instruments with state and due date, the day it was
    printed and that scanning shows the live status. Chinese in reportlab's built-in CID font (no font file)."""
    from reportlab.lib.colors import HexColor, black, white
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    font = _font()
    width, height = A4
    margin = 48.0
    out = io.BytesIO()
    c = Canvas(out, pagesize=A4, pageCompression=1)
    site, enterprise, verdict = notice["site"], notice["enterprise"], notice["verdict"]
    c.setTitle(f"{POSTER_TITLE} — {site['name']}")
    c.setAuthor(enterprise["name"])
    c.setCreator("TraceCert")

    y = height - margin - 26
    c.setFont(font, 26)
    c.drawCentredString(width / 2, y, POSTER_TITLE)
    y -= 30
    c.setFont(font, 14)
    c.drawCentredString(width / 2, y, _fit(enterprise["name"], width - 2 * margin, 14))
    y -= 20
    c.setFont(font, 12)
    c.drawCentredString(
        width / 2, y, _fit(f"使用场所：{site['name']}（行政区划代码 {site['region']}）", width - 2 * margin, 12)
    )
    y -= 16
    c.setFont(font, 9)
    c.drawCentredString(width / 2, y, f"统一社会信用代码：{enterprise['usci']}")

    # The QR code, drawn module by module from segno's matrix (the same symbol as the PNG).
    qr = site_qr(url)
    border = 4
    rows = list(qr.matrix_iter(scale=1, border=border))
    side = 260.0 if len(notice["instruments"]) <= 8 else 200.0  # as big as the table leaves room for
    module = side / len(rows)
    left, top = (width - side) / 2, y - 14
    c.setFillColor(white)
    c.rect(left, top - side, side, side, stroke=0, fill=1)
    c.setFillColor(black)
    for r, row in enumerate(rows):
        for col, dark in enumerate(row):
            if dark:
                c.rect(left + col * module, top - (r + 1) * module, module, module, stroke=0, fill=1)
    y = top - side - 12
    c.setFont(font, 8)
    c.drawCentredString(width / 2, y, _fit(url, width - 2 * margin, 8))
    y -= 18
    c.setFont(font, 13)
    c.drawCentredString(width / 2, y, "用手机扫描二维码，查看各器具的实时检定状态")
    y -= 26
    c.setFillColor(HexColor(_VERDICT_COLOURS[verdict["code"]]))
    c.setFont(font, 18)
    c.drawCentredString(width / 2, y, _fit(verdict["text"]["zh"], width - 2 * margin, 18))
    c.setFillColor(black)

    # The instruments.
    y -= 26
    columns = (("器具名称", 0.0), ("型号规格", 0.26), ("出厂编号", 0.46), ("状态", 0.70), ("有效期至", 0.85))
    span = width - 2 * margin
    starts = [margin + f * span for _, f in columns]
    ends = [*starts[1:], margin + span]
    c.setFont(font, 10)
    for (head, _), x in zip(columns, starts, strict=True):
        c.drawString(x, y, head)
    c.setLineWidth(0.6)
    c.line(margin, y - 5, width - margin, y - 5)
    footer = margin + 40
    row_height = 17.0
    instruments = list(notice["instruments"])
    room = max(0, int((y - 5 - footer - row_height) // row_height))
    listed = instruments if len(instruments) <= room + 1 else instruments[:room]
    for inst in listed:
        y -= row_height
        cells = (
            inst["category"],
            inst["model"],
            inst["serial_number"],
            inst["state_name"]["zh"],
            inst["due_date"] or "—",
        )
        for i, (cell, x, end) in enumerate(zip(cells, starts, ends, strict=True)):
            if i == 3:
                c.setFillColor(HexColor(_COLOURS[inst["state"]]))
            c.drawString(x, y, _fit(str(cell), end - x - 6, 10))
            c.setFillColor(black)
    if len(listed) < len(instruments):
        y -= row_height
        c.setFont(font, 10)
        c.drawString(margin, y, f"另有 {len(instruments) - len(listed)} 件，请扫描二维码查看。")

    c.setFont(font, 9)
    c.setFillColor(HexColor("#5a6270"))
    c.line(margin, footer + 8, width - margin, footer + 8)
    printed = f"打印日期：{notice['on']}（北京时间）。本公示为打印时的状态；扫描二维码查看实时状态。"
    c.drawString(margin, footer - 6, printed)
    c.drawString(margin, footer - 20, "检定状态由检定机构在 TraceCert 上链的检定证书决定，任何人可扫码核验。")
    c.showPage()
    c.save()
    return out.getvalue()
