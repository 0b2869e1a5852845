"""The tables of the CRM core. Times are stored as naive UTC instants on every backend.

History is append-only: ``stage_changes`` and ``field_changes`` are only ever inserted into.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    region: Mapped[str | None] = mapped_column(String(200))
    manager: Mapped[str | None] = mapped_column(String(200))
    share_with_members: Mapped[bool] = mapped_column(Boolean, default=False)


class Owner(Base):
    """A person who owns deals, leads and activities (a sales rep or manager)."""

    __tablename__ = "owners"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    sector: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(200))
    employees: Mapped[int | None] = mapped_column(Integer)
    revenue: Mapped[float | None] = mapped_column(Float)
    year_established: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    attributes: Mapped[dict[str, Any] | None]
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    family: Mapped[str | None] = mapped_column(String(200))
    list_price: Mapped[float | None] = mapped_column(Float)


class Pipeline(Base):
    __tablename__ = "pipelines"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("pipeline_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # open | won | lost
    probability: Mapped[float | None] = mapped_column(Float)


class Lead(Base):
    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    source: Mapped[str | None] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(200))
    segment: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(100))  # new, contacted, qualified, disqualified, converted
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    contacted_at: Mapped[datetime | None] = mapped_column(DateTime)
    qualified_at: Mapped[datetime | None] = mapped_column(DateTime)
    converted: Mapped[bool | None] = mapped_column(Boolean)
    converted_at: Mapped[datetime | None] = mapped_column(DateTime)
    converted_deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", use_alter=True))
    lost_reason: Mapped[str | None] = mapped_column(String(300))
    attributes: Mapped[dict[str, Any] | None]
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class Deal(Base):
    __tablename__ = "deals"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)  # open | won | lost
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))
    source: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime | None] = mapped_column(DateTime)
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    lost_reason: Mapped[str | None] = mapped_column(String(300))
    true_probability: Mapped[float | None] = mapped_column(Float)  # only synthetic data knows it
    attributes: Mapped[dict[str, Any] | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class DealProduct(Base):
    """A line of a deal: which product, how many, at what price."""

    __tablename__ = "deal_products"
    __table_args__ = (UniqueConstraint("deal_id", "product_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[float] = mapped_column(Float, default=1.0)
    price: Mapped[float | None] = mapped_column(Float)


class StageChange(Base):
    """One move of a deal between stages. Append-only; durations are derived when read."""

    __tablename__ = "stage_changes"
    __table_args__ = (
        # Unique indexes, not constraints: bulk imports set them aside (migration 0003).
        Index("uq_stage_change", "deal_id", "at", "to_stage_id", unique=True),
        Index("ix_stage_changes_deal_at", "deal_id", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)  # also the tie-breaker for equal times
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"))
    from_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id"))
    to_stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str | None] = mapped_column(String(200))
    lost_reason: Mapped[str | None] = mapped_column(String(300))


class FieldChange(Base):
    """An edit of a tracked deal field (amount, expected close date). Append-only."""

    __tablename__ = "field_changes"
    __table_args__ = (
        UniqueConstraint("deal_id", "field", "at", name="uq_field_change"),
        Index("ix_field_changes_deal_at", "deal_id", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"))
    field: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str | None] = mapped_column(String(200))


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (Index("uq_activities_external_id", "external_id", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(300))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    kind: Mapped[str] = mapped_column(String(50))  # call, email, meeting, task, or the source's own name
    subject: Mapped[str | None] = mapped_column(String(300))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    resource: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime)  # start (or the only time known)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class User(Base):
    """Someone who signs in. A rep or manager is linked to the owner whose deals are theirs."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))  # admin | manager | rep
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sessions_valid_after: Mapped[datetime | None] = mapped_column(DateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scope: Mapped[str] = mapped_column(String(10))  # read | write
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user_email: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str | None] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(200))
    changes: Mapped[dict[str, Any] | None]
    remote_addr: Mapped[str | None] = mapped_column(String(100))


class ImportRun(Base):
    """One run of ``dealflow import``: what was read and what it did."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    file: Mapped[str] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(DateTime)
    rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)


class ExchangeRate(Base):
    """How many company-currency units one unit of ``currency`` is worth from ``valid_from`` on.

    A rate holds until the next one for the same currency; reports pick, per deal, the rate
    valid on its close date (closed deals) or the latest one (open deals).
    """

    __tablename__ = "exchange_rates"
    __table_args__ = (UniqueConstraint("currency", "valid_from", name="uq_exchange_rate"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date] = mapped_column(Date)
    rate: Mapped[float] = mapped_column(Float)
