"""The registry's tables of the enterprise side: enterprise accounts, their sites and instrument registers
(:mod:`registry.enterprises`, :mod:`registry.instruments`), and what enterprises watch and are alerted of
(:mod:`registry.alerts`): watches, webhooks, alerts (the feed) and their deliveries (the webhooks' outbox)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import HEX32, Base, utcnow

__all__ = [
    "AlertMark",
    "AlertRow",
    "Delivery",
    "DeliveryState",
    "Enterprise",
    "EnterpriseState",
    "Instrument",
    "InstrumentCoverage",
    "Site",
    "Watch",
    "Webhook",
]


class EnterpriseState(StrEnum):
    """An enterprise account: registered by itself and waiting for its regulator, or confirmed."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"


class Enterprise(Base):
    """An enterprise account (企业), keyed by its unified social credit code; its region is the code's 3rd-8th
    characters (the registering authority's GB/T 2260 code), which says which regulators confirm it."""

    __tablename__ = "enterprises"

    usci: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    region: Mapped[int] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(16), default=EnterpriseState.PENDING)
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The regulator account that onboarded or confirmed it.
    confirmed_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Site(Base):
    """A place where an enterprise uses instruments (a gas station, a market stall, a ward), with its GB/T 2260
    region code: the unit of 强制检定合格公示 and of a region's coverage."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("usci", "name", name="uq_sites_usci_name"),)

    #: A short public identifier (the site's public page and QR code carry it).
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    usci: Mapped[str] = mapped_column(ForeignKey("enterprises.usci"))
    name: Mapped[str] = mapped_column(String(256))
    region: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Instrument(Base):
    """A registered instrument (强检器具备案): what it is in the official catalogue, how it is identified, where and
    for what it is used, and its verification period. Certificates link to it by (manufacturer, serial number) or
    by the owner's asset number."""

    __tablename__ = "instruments"
    __table_args__ = (
        Index("ix_instruments_region_category", "region", "category"),
        Index("ix_instruments_serial", "serial_number", "manufacturer_key"),
        Index("uq_instruments_usci_asset", "usci", "asset_number", unique=True),
        Index("uq_instruments_usci_serial", "usci", "manufacturer_key", "serial_number", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usci: Mapped[str] = mapped_column(ForeignKey("enterprises.usci"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    #: The site's region, copied so that a region's statistics read one table.
    region: Mapped[int] = mapped_column(Integer)
    #: The catalogue's kind (e.g. 燃油加油机) and the entry it is in.
    category: Mapped[str] = mapped_column(String(64))
    catalogue_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: TRADE | SAFETY | MEDICAL | ENVIRONMENT | OTHER
    use: Mapped[str] = mapped_column(String(16))
    #: Under mandatory verification: the catalogue's mode is V or P+V and the use is one the entry names.
    mandatory: Mapped[bool] = mapped_column(Boolean)
    manufacturer: Mapped[str] = mapped_column(String(256))
    manufacturer_key: Mapped[str] = mapped_column(String(256))
    model: Mapped[str] = mapped_column(String(128))
    serial_number: Mapped[str] = mapped_column(String(128))
    asset_number: Mapped[str | None] = mapped_column(String(128), nullable=True)
    period_months: Mapped[int] = mapped_column(Integer)
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InstrumentCoverage(Base):
    """What decides an instrument's state on any day, derived from its linked certificates on chain (kept by
    :mod:`registry.statistics`): the stretches of days its verifications keep it in force, and its
    verifications' issue days with pass or fail, as day ordinals."""

    __tablename__ = "instrument_coverage"

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), primary_key=True)
    #: The day it was registered (China time), as the figures count it.
    registered_day: Mapped[int] = mapped_column(Integer)
    #: :func:`registry.coverage.derive`'s array (stretches and verification days), packed
    #: (:func:`registry.coverage.pack`).
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    refreshed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Watch(Base):
    """A certificate an enterprise relies on (a supplier's, a standard's) and wants to hear about; the
    certificates of its registered instruments are watched without a row here."""

    __tablename__ = "watches"
    __table_args__ = (UniqueConstraint("usci", "digest", name="uq_watches_usci_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usci: Mapped[str] = mapped_column(ForeignKey("enterprises.usci"))
    digest: Mapped[str] = mapped_column(HEX32, index=True)
    note: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """Where an enterprise wants its alerts posted (signed, see :mod:`registry.alerts`)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usci: Mapped[str] = mapped_column(ForeignKey("enterprises.usci"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AlertRow(Base):
    """One alert of one enterprise about one event (the feed): kept once per (enterprise, event key)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("usci", "key", name="uq_alerts_usci_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    usci: Mapped[str] = mapped_column(ForeignKey("enterprises.usci"))
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DeliveryState(StrEnum):
    """Where a webhook delivery is: to be sent (again), delivered (a 2xx answer), or given up."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class Delivery(Base):
    """An alert to post to one webhook (the outbox): written with the alert, in the same transaction."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "webhook_id", name="uq_deliveries_alert_webhook"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class AlertMark(Base):
    """What the alert producer last saw of something it polls (a lab's status on chain), so that a change is
    alerted once."""

    __tablename__ = "alert_marks"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
