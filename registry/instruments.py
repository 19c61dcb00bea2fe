"""The instrument register (强检器具备案) of enterprises (:mod:`registry.enterprises`).

A confirmed enterprise registers the instruments it uses: a kind from the official catalogue
(:func:`tracecert.instruments.catalogue`) or a category TraceCert names, manufacturer, model, serial and asset
numbers, the site where it is used with the site's GB/T 2260 region, the use (贸易结算 / 安全防护 / 医疗卫生 /
环境监测 / other), whether it is under mandatory verification (the catalogue decides where it can) and the
verification period. A table (JSON rows, CSV or Excel) is
imported as a whole or not at all: every failing row is named with its field, so the file is fixed and sent again
(sending it again changes nothing that is already registered).

Certificates link to registered instruments by (manufacturer, serial number), or by the owner's asset number
within the owner's USCI (:func:`registry.coverage.links`); the link is read both ways.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from registry.core import Principal, RegistryCore
from registry.coverage import due_states, linked_certificates, today
from registry.db import Certificate, utcnow
from registry.db_enterprises import Instrument, InstrumentCoverage, Site
from registry.enterprises import check_usci, confirmed_enterprise, region_valid, require_regulator_of, usci_region
from registry.errors import Conflict, Forbidden, InvalidRequest, NotFound, PayloadTooLarge
from registry.statistics import refresh
from tracecert.human import local_time
from tracecert.instruments import USES, catalogue_entry, is_mandatory, register_category

__all__ = [
    "HEADINGS",
    "MAX_ROWS",
    "XLSX",
    "InstrumentIn",
    "instrument_view",
    "instruments_of_certificate",
    "list_instruments",
    "manufacturer_key",
    "parse_table",
    "read_instrument",
    "register_instruments",
    "update_site",
]

#: Rows in one import (a large enterprise's register; a region is imported enterprise by enterprise).
MAX_ROWS = 20_000
#: What an Excel upload may unpack to, in all (a zip bomb of a few KiB otherwise unpacks to gigabytes), and in how
#: many parts: 20,000 rows of a register unpack to a few MiB.
MAX_XLSX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_XLSX_PARTS = 1_000
_USE_NAMES = {zh: code for code, (zh, _en) in USES.items()} | {code: code for code in USES}
_SEPARATORS = re.compile(r"[\s.,，。·()（）\-]+")


def manufacturer_key(name: str | None) -> str | None:
    """A manufacturer's name as links compare it: NFKC, case-folded, without spaces and punctuation
    (``Tatsuno (Suzhou) Co.`` = ``TATSUNO(SUZHOU)CO``)."""
    if not name:
        return None
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", name).casefold()) or None


# ---------------------------------------------------------------------------------------------- the register


class InstrumentIn(BaseModel):
    """One instrument to register (a row of the register)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: StrictStr = Field(min_length=1, max_length=64, description="The kind, as the catalogue names it")
    use: StrictStr = Field(description="TRADE | SAFETY | MEDICAL | ENVIRONMENT | OTHER, or its Chinese name")
    manufacturer: StrictStr = Field(min_length=1, max_length=256)
    model: StrictStr = Field(min_length=1, max_length=128)
    serial_number: StrictStr = Field(min_length=1, max_length=128, description="出厂编号")
    asset_number: StrictStr | None = Field(default=None, max_length=128, description="The owner's asset number")
    site: StrictStr = Field(min_length=1, max_length=256, description="Where it is used (a station, a ward)")
    site_region: StrictInt = Field(description="The site's GB/T 2260 six-digit region code")
    period_months: StrictInt = Field(ge=1, le=120, description="Verification period in months")

    @field_validator("use")
    @classmethod
    def _use(cls, value: str) -> str:
        if value not in _USE_NAMES:
            raise ValueError(f"a use is one of {', '.join(USES)} or {'/'.join(zh for zh, _ in USES.values())}")
        return _USE_NAMES[value]

    mandatory: StrictBool | None = Field(
        default=None,
        description="Under mandatory verification (是否强检). Taken from the catalogue where it decides; required "
        "where it does not; a declaration the catalogue contradicts is refused.",
    )

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        name = register_category(value)
        if name is None:
            raise ValueError(
                "not a kind in the catalogue of instruments under mandatory management, nor a category TraceCert "
                "knows (e.g. 燃油加油机 or JJG443)"
            )
        return name

    @model_validator(mode="after")
    def _mandatory(self) -> InstrumentIn:
        decided = is_mandatory(self.category, self.use)
        if decided is None and self.mandatory is None:
            raise ValueError(
                "say whether it is under mandatory verification (mandatory / 是否强检): the catalogue "
                "does not decide for this kind and use"
            )
        if decided is True and self.mandatory is False:
            raise ValueError("the catalogue puts this kind, used so, under mandatory verification (mandatory: true)")
        if self.mandatory is None:
            self.mandatory = decided
        return self

    @field_validator("site_region")
    @classmethod
    def _region(cls, value: int) -> int:
        if not region_valid(value):
            raise ValueError("not a six-digit GB/T 2260 region code of a province, city or district")
        return value

    @field_validator("asset_number")
    @classmethod
    def _asset(cls, value: str | None) -> str | None:
        return value or None


#: Column headings a table may use (Chinese or English) for each field.
HEADINGS: dict[str, tuple[str, ...]] = {
    "category": ("category", "器具名称", "器具类别", "计量器具名称"),
    "use": ("use", "用途", "使用用途"),
    "manufacturer": ("manufacturer", "制造单位", "生产厂家", "制造厂"),
    "model": ("model", "型号规格", "型号", "规格型号"),
    "serial_number": ("serial_number", "出厂编号"),
    "asset_number": ("asset_number", "管理编号", "资产编号"),
    "site": ("site", "使用地点", "使用场所"),
    "site_region": ("site_region", "区划代码", "行政区划代码"),
    "period_months": ("period_months", "检定周期（月）", "检定周期(月)", "检定周期"),
    "mandatory": ("mandatory", "是否强检", "强检"),
}
_YES_NO = {"是": True, "否": False, "true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
_HEADING = {h: field for field, names in HEADINGS.items() for h in names}
_OPTIONAL = ("asset_number", "mandatory")
#: The media type of an Excel workbook.
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _row_error(row: int, field: str, rule: str, message: str) -> dict[str, Any]:
    return {"row": row, "field": field, "rule": rule, "message": message}


def parse_table(media_type: str, content: bytes) -> list[dict[str, Any]]:
    """Rows of a register as dicts of :class:`InstrumentIn` fields, from CSV (UTF-8, a BOM allowed) or Excel
    (.xlsx, the first sheet); the first row names the columns (Chinese or English headings, :data:`HEADINGS`).

    Raises:
        InvalidRequest: TABLE_INVALID (not readable, unknown or missing columns). PayloadTooLarge: TOO_MANY_ROWS.
    """
    if media_type == XLSX:
        table = _xlsx_rows(content)
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(
                "a CSV register is UTF-8 text",
                code="TABLE_INVALID",
                details=[_row_error(0, "(file)", "utf8", str(exc))],
            ) from exc
        try:
            table = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:  # a cell over the reader's field limit (128 KiB)
            raise InvalidRequest(
                "not a readable CSV table", code="TABLE_INVALID", details=[_row_error(0, "(file)", "csv", str(exc))]
            ) from exc
    table = [row for row in table if any(cell.strip() for cell in row)]
    if not table:
        raise InvalidRequest("the register is empty", code="TABLE_INVALID")
    heads = [h.strip() for h in table[0]]
    unknown = [h for h in heads if h and h not in _HEADING]
    missing = [f for f in HEADINGS if f not in _OPTIONAL and f not in {_HEADING.get(h) for h in heads}]
    if unknown or missing:
        details = [_row_error(1, h, "unknown_column", f"columns are {', '.join(HEADINGS)}") for h in unknown] + [
            _row_error(1, f, "missing_column", f"name it {' or '.join(HEADINGS[f])}") for f in missing
        ]
        raise InvalidRequest("the register's columns are not the ones expected", code="TABLE_INVALID", details=details)
    if len(table) - 1 > MAX_ROWS:
        raise PayloadTooLarge(f"{len(table) - 1} rows; the limit is {MAX_ROWS}", code="TOO_MANY_ROWS")
    fields = [_HEADING.get(h) for h in heads]
    rows: list[dict[str, Any]] = []
    for cells in table[1:]:
        row: dict[str, Any] = {}
        for field, cell in zip(fields, cells, strict=False):
            if field is not None and cell.strip():
                row[field] = _typed(field, cell.strip())
        rows.append(row)
    return rows


def _typed(field: str, cell: str) -> Any:
    if field in ("site_region", "period_months"):
        return int(cell) if re.fullmatch(r"\d{1,9}", cell) else cell
    if field == "mandatory":
        return _YES_NO.get(cell.casefold(), cell)
    return cell


def _xlsx_rows(content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    def unreadable(exc: Exception) -> InvalidRequest:
        return InvalidRequest(
            "not an Excel workbook (.xlsx)",
            code="TABLE_INVALID",
            details=[_row_error(0, "(file)", "xlsx", str(exc)[:200])],
        )

    # A damaged workbook raises what zipfile, openpyxl and the XML parsers raise (IndexError for no sheet,
    # lxml's XMLSyntaxError, ElementTree's ParseError, ...): all of them mean the file is not a readable workbook.
    try:
        _require_small_unpacked(content)
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except PayloadTooLarge:
        raise
    except Exception as exc:
        raise unreadable(exc) from exc
    try:
        sheet = book.worksheets[0]
        out = []
        for i, values in enumerate(sheet.iter_rows(values_only=True)):
            if i > MAX_ROWS + 1:
                raise PayloadTooLarge(f"over {MAX_ROWS} rows", code="TOO_MANY_ROWS")
            out.append(["" if v is None else _cell_text(v) for v in values])
        return out
    except PayloadTooLarge:
        raise
    except Exception as exc:
        raise unreadable(exc) from exc
    finally:
        book.close()


def _require_small_unpacked(content: bytes) -> None:
    """The workbook's parts unpack to at most :data:`MAX_XLSX_UNPACKED_BYTES`, in at most :data:`MAX_XLSX_PARTS`
    parts. The sizes are the archive's own; Python's zipfile never unpacks a part past its stated size (a part that
    lies is cut short and fails its CRC), so the bound holds.

    Raises:
        PayloadTooLarge: XLSX_TOO_LARGE.
        zipfile.BadZipFile: not a zip archive (the caller says TABLE_INVALID).
    """
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        parts = archive.infolist()
        unpacked = sum(part.file_size for part in parts)
    if len(parts) > MAX_XLSX_PARTS or unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise PayloadTooLarge(
            f"the workbook unpacks to {unpacked:,} bytes in {len(parts):,} parts; the limits are "
            f"{MAX_XLSX_UNPACKED_BYTES:,} bytes and {MAX_XLSX_PARTS:,} parts",
            code="XLSX_TOO_LARGE",
        )


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class _Valid:
    row: int
    data: InstrumentIn


def _validate_rows(rows: Sequence[Any]) -> list[_Valid]:
    errors: list[dict[str, Any]] = []
    valid: list[_Valid] = []
    seen: dict[tuple[str, ...], int] = {}
    for n, raw in enumerate(rows, start=2):  # the table's row numbers: the headings are row 1
        if not isinstance(raw, dict):
            errors.append(_row_error(n, "(row)", "object", "a row is an object of fields"))
            continue
        try:
            item = InstrumentIn.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors():
                field = ".".join(str(p) for p in e["loc"]) or "(row)"
                errors.append(_row_error(n, field, e["type"], e["msg"]))
            continue
        keys: list[tuple[str, ...]] = [("serial", manufacturer_key(item.manufacturer) or "", item.serial_number)]
        if item.asset_number:
            keys.append(("asset", item.asset_number))
        for key in keys:
            if key in seen:
                field = "asset_number" if key[0] == "asset" else "serial_number"
                errors.append(_row_error(n, field, "duplicate", f"the same instrument as row {seen[key]}"))
            seen.setdefault(key, n)
        valid.append(_Valid(n, item))
    if errors:
        raise InvalidRequest(
            f"{len(errors)} problem(s) in {len({e['row'] for e in errors})} row(s); nothing was registered",
            code="REGISTER_INVALID",
            details=errors[:1000],
        )
    return valid


def _site(s: Session, usci: str, name: str, region: int, sites: dict[str, Site]) -> Site:
    site = sites.get(name)
    if site is None:
        site = Site(id=secrets.token_hex(6), usci=usci, name=name, region=region, created_at=utcnow())
        s.add(site)
        s.flush()  # before the instruments that name it (no ORM relationship orders the inserts)
        sites[name] = site
    elif site.region != region:
        site.region = region
        # Instrument.region is the site's, copied: every instrument at the site moves with it.
        s.execute(update(Instrument).where(Instrument.site_id == site.id).values(region=region))
    return site


def register_instruments(core: RegistryCore, principal: Principal, rows: Sequence[Any]) -> dict[str, Any]:
    """Register (or update) a confirmed enterprise's instruments: all rows or none. An instrument already
    registered (same asset number, or same manufacturer and serial number) is updated; sending the same table
    again changes nothing. A row may not give an instrument the serial number another one has (rule ``taken``).

    Raises:
        Forbidden: NOT_AN_ENTERPRISE, ENTERPRISE_NOT_CONFIRMED. InvalidRequest: REGISTER_INVALID (each failing row
        with its field), REGISTER_EMPTY. PayloadTooLarge: TOO_MANY_ROWS.
    """
    usci = confirmed_enterprise(core, principal)
    if not rows:
        raise InvalidRequest("no instruments to register", code="REGISTER_EMPTY")
    if len(rows) > MAX_ROWS:
        raise PayloadTooLarge(f"{len(rows)} rows; the limit is {MAX_ROWS}", code="TOO_MANY_ROWS")
    valid = _validate_rows(rows)
    created = updated = unchanged = 0
    ids: list[int] = []
    with core.sessions.begin() as s:
        sites = {site.name: site for site in s.scalars(select(Site).where(Site.usci == usci))}
        by_asset: dict[str, Instrument] = {}
        by_serial: dict[tuple[str, str], Instrument] = {}
        for known in s.scalars(select(Instrument).where(Instrument.usci == usci)):
            if known.asset_number:
                by_asset[known.asset_number] = known
            by_serial[(known.manufacturer_key, known.serial_number)] = known
        taken: list[dict[str, Any]] = []
        changed: list[int] = []
        for v in valid:
            d = v.data
            key = manufacturer_key(d.manufacturer) or ""
            inst: Instrument | None = by_asset.get(d.asset_number) if d.asset_number else None
            holder = by_serial.get((key, d.serial_number))
            if inst is not None and holder is not None and holder is not inst:
                # Found by its asset number, it would take the serial number another registered instrument has.
                message = f"registered instrument {holder.id} has this manufacturer and serial number"
                taken.append(_row_error(v.row, "serial_number", "taken", message))
                continue
            inst = inst or holder
            site = _site(s, usci, d.site, d.site_region, sites)
            entry = catalogue_entry(d.category)
            values = {
                "site_id": site.id,
                "region": d.site_region,
                "category": d.category,
                "catalogue_no": entry.no if entry else None,
                "use": d.use,
                "mandatory": bool(d.mandatory),
                "manufacturer": d.manufacturer,
                "manufacturer_key": key,
                "model": d.model,
                "serial_number": d.serial_number,
                "asset_number": d.asset_number,
                "period_months": d.period_months,
            }
            if inst is None:
                inst = Instrument(usci=usci, registered_at=utcnow(), **values)
                s.add(inst)
                created += 1
            elif any(getattr(inst, k) != val for k, val in values.items()):
                # Its old serial number and asset number are free for the rows that follow.
                if by_serial.get((inst.manufacturer_key, inst.serial_number)) is inst:
                    del by_serial[(inst.manufacturer_key, inst.serial_number)]
                if inst.asset_number and by_asset.get(inst.asset_number) is inst:
                    del by_asset[inst.asset_number]
                for k, val in values.items():
                    setattr(inst, k, val)
                changed.append(inst.id)
                updated += 1
            else:
                unchanged += 1
            if inst.asset_number:
                by_asset[inst.asset_number] = inst
            by_serial[(key, d.serial_number)] = inst
            s.flush()
            ids.append(inst.id)
        if taken:
            raise InvalidRequest(
                f"{len(taken)} row(s) would give an instrument another's serial number; nothing was registered",
                code="REGISTER_INVALID",
                details=taken[:1000],
            )
        # The changed instruments' coverage rows go with the change: rows missing, not stale, if what follows is
        # cut short (the worker computes rows that are missing).
        for i in range(0, len(changed), 500):
            s.execute(delete(InstrumentCoverage).where(InstrumentCoverage.instrument_id.in_(changed[i : i + 500])))
    if created or updated:  # their coverage rows, now (the worker computes any a crash left out)
        refresh(core, ids)
    return {"usci": usci, "created": created, "updated": updated, "unchanged": unchanged, "instruments": ids}


def update_site(
    core: RegistryCore, principal: Principal, site_id: str, *, name: str | None = None, region: int | None = None
) -> dict[str, Any]:
    """Rename a site or correct its region, keeping its identifier: the QR code on a printed poster still opens
    its page. A new region moves every instrument at the site (their coverage rows are recomputed).

    Raises:
        Forbidden: NOT_AN_ENTERPRISE, ENTERPRISE_NOT_CONFIRMED, NOT_YOUR_SITE. NotFound: UNKNOWN_SITE.
        Conflict: SITE_NAME_TAKEN (another site of the enterprise has that name).
    """
    usci = confirmed_enterprise(core, principal)
    moved: list[int] = []
    with core.sessions.begin() as s:
        site = s.get(Site, site_id)
        if site is None:
            raise NotFound(f"no site {site_id}", code="UNKNOWN_SITE")
        if site.usci != usci:
            raise Forbidden("an enterprise changes its own sites", code="NOT_YOUR_SITE")
        if name is not None and name != site.name:
            if s.scalar(select(Site.id).where(Site.usci == usci, Site.name == name)) is not None:
                raise Conflict(f"another site of {usci} is named {name!r}", code="SITE_NAME_TAKEN")
            site.name = name
        if region is not None and region != site.region:
            site.region = region
            moved = list(s.scalars(select(Instrument.id).where(Instrument.site_id == site.id)))
            s.execute(update(Instrument).where(Instrument.site_id == site.id).values(region=region))
            for i in range(0, len(moved), 500):
                s.execute(delete(InstrumentCoverage).where(InstrumentCoverage.instrument_id.in_(moved[i : i + 500])))
        view = {"id": site.id, "name": site.name, "region": site.region}
    if moved:  # their coverage rows in the new region, now (the worker computes any a crash left out)
        refresh(core, moved)
    return view


# ---------------------------------------------------------------------------------------------- links


def _instrument_columns() -> Any:
    return select(
        Instrument.id, Instrument.usci, Instrument.serial_number, Instrument.manufacturer_key, Instrument.asset_number
    )


def _read_scope(core: RegistryCore, principal: Principal, usci: str | None) -> str | None:
    """Whose register the caller may read: an enterprise its own; a regulator one it is over (or all it is over
    with ``usci`` None). Returns the USCI to filter on, or None for a regulator reading its region."""
    if principal.role == "ENTERPRISE":
        if usci is not None and usci != principal.usci:
            raise Forbidden("an enterprise reads its own register", code="NOT_YOUR_REGISTER")
        return principal.usci
    if principal.role == "REGULATOR" and principal.regulator_address is not None:
        if usci is None:
            raise InvalidRequest("a regulator names the enterprise (usci)", code="USCI_REQUIRED")
        check_usci(usci)
        require_regulator_of(core, principal, usci_region(usci))
        return usci
    raise Forbidden("labs do not read enterprises' registers", code="NOT_YOUR_REGISTER")


def instrument_view(
    inst: Instrument, site: Site, certificates: Iterable[Certificate], due: dict[str, Any]
) -> dict[str, Any]:
    """A registered instrument with its site, catalogue entry, use, due state and linked certificates."""
    entry = catalogue_entry(inst.category)
    return {
        "id": inst.id,
        "usci": inst.usci,
        "category": inst.category,
        "catalogue": {"no": entry.no, "item": entry.item, "mode": entry.mode, "form": entry.form} if entry else None,
        "use": inst.use,
        "use_name": {"zh": USES[inst.use][0], "en": USES[inst.use][1]},
        "mandatory": inst.mandatory,
        "manufacturer": inst.manufacturer,
        "model": inst.model,
        "serial_number": inst.serial_number,
        "asset_number": inst.asset_number,
        "site": {"id": site.id, "name": site.name, "region": site.region},
        "period_months": inst.period_months,
        "registered_at": local_time(inst.registered_at),
        "due": due,
        "certificates": [
            {
                "digest": c.digest,
                "certificate_number": c.certificate_number,
                "kind": c.kind,
                "issue_date": c.issue_date,
                "valid_until": c.valid_until,
                "status": c.status,
            }
            for c in certificates
        ],
    }


def list_instruments(
    core: RegistryCore, principal: Principal, usci: str | None = None, on: dt.date | None = None
) -> dict[str, Any]:
    """An enterprise's register with each instrument's due state (:func:`registry.coverage.due_state`)."""
    owner = _read_scope(core, principal, usci)
    day = on or today(core)
    chosen = _instrument_columns().where(Instrument.usci == owner)
    with core.sessions() as s:
        rows = s.execute(
            select(Instrument, Site)
            .join(Site, Site.id == Instrument.site_id)
            .where(Instrument.usci == owner)
            .order_by(Instrument.id)
        ).all()
        certs = linked_certificates(s, chosen)
        states = due_states(s, {i.id: i for i, _ in rows}, certs, day)
    return {
        "usci": owner,
        "instruments": [instrument_view(i, site, certs.get(i.id, []), states[i.id]) for i, site in rows],
    }


def read_instrument(
    core: RegistryCore, principal: Principal, instrument_id: int, on: dt.date | None = None
) -> dict[str, Any]:
    """One registered instrument with its linked certificates (for its owner or a regulator over it)."""
    day = on or today(core)
    with core.sessions() as s:
        found = s.execute(
            select(Instrument, Site).join(Site, Site.id == Instrument.site_id).where(Instrument.id == instrument_id)
        ).first()
        if found is None:
            raise NotFound(f"no instrument {instrument_id}", code="UNKNOWN_INSTRUMENT")
        inst, site = found
        _read_scope(core, principal, inst.usci)
        certs = linked_certificates(s, _instrument_columns().where(Instrument.id == instrument_id))
        state = due_states(s, {inst.id: inst}, certs, day)[inst.id]
        return instrument_view(inst, site, certs.get(inst.id, []), state)


def instruments_of_certificate(core: RegistryCore, principal: Principal, digest: str) -> list[dict[str, Any]]:
    """The registered instruments a certificate is linked to (the link read the other way): for the certificate's
    lab, a regulator over it, or the enterprise that registered the instrument (its own only)."""
    with core.sessions() as s:
        cert = s.scalar(select(Certificate).where(Certificate.digest == digest))
        if cert is None:
            raise NotFound(f"no certificate {digest}", code="NOT_FOUND")
        query = select(Instrument, Site).join(Site, Site.id == Instrument.site_id)
        # As LINK compares columns: a value the certificate does not state matches nothing (``== None`` would
        # read IS NULL, and link every instrument of the customer without an asset number).
        conditions = []
        if cert.serial_number is not None and cert.manufacturer_key is not None:
            same = Instrument.manufacturer_key == cert.manufacturer_key
            owner = [Instrument.usci == cert.customer_usci] if cert.customer_usci is not None else []
            conditions.append(and_(Instrument.serial_number == cert.serial_number, same, *owner))
        if cert.customer_usci is not None and cert.asset_number is not None:
            conditions.append(and_(Instrument.usci == cert.customer_usci, Instrument.asset_number == cert.asset_number))
        rows = s.execute(query.where(or_(*conditions)).order_by(Instrument.id)).all() if conditions else []
        lab_id = cert.lab_id
    if principal.role == "ENTERPRISE":
        shown = [(i, site) for i, site in rows if i.usci == principal.usci]
    else:
        core.require_lab_or_regulator(principal, lab_id)
        shown = [(i, site) for i, site in rows]
    return [
        {
            "id": i.id,
            "usci": i.usci,
            "category": i.category,
            "serial_number": i.serial_number,
            "asset_number": i.asset_number,
            "site": {"id": site.id, "name": site.name, "region": site.region},
        }
        for i, site in shown
    ]
