"""Request and response bodies of the REST API, named by direction: ``DealCreate``, ``DealUpdate``, ``DealPublic``."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")

# Instants are stored as naive UTC; the API sends them with their zone ("...Z"), as RFC 3339 and the schema ask.
Instant = Annotated[datetime, AfterValidator(lambda v: v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="rows matching the filters, over all pages")
    limit: int
    offset: int


class _Row(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(BaseModel):
    status: int
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: Instant | None = None


class Me(BaseModel):
    id: int
    email: str
    role: str
    via: str
    owner_id: int | None = None


class TokenCreate(BaseModel):
    name: str | None = Field(default=None, max_length=200, description="what the token is for")
    scope: Literal["read", "write"] = "read"
    days: int = Field(default=30, ge=1, le=365, description="days until it expires")


class TokenInfo(BaseModel):
    """A token as listed: never its secret (that is shown once, when created)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str | None = None
    scope: str
    created_at: Instant
    expires_at: Instant | None = None
    revoked_at: Instant | None = None


class TokenCreated(TokenInfo):
    token: str = Field(description="the secret: shown this once, stored only hashed")


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: Instant
    user_email: str | None = None
    action: str
    entity: str | None = None
    entity_id: str | None = None
    changes: dict[str, Any] | None = None
    remote_addr: str | None = None


class AccountPublic(_Row):
    id: int
    external_id: str
    name: str
    sector: str | None = None
    country: str | None = None
    employees: int | None = None
    revenue: float | None = None
    year_established: int | None = None
    owner_id: int | None = None


class AccountCreate(BaseModel):
    external_id: str | None = None
    name: str = Field(min_length=1, max_length=300)
    sector: str | None = None
    country: str | None = None
    employees: int | None = None
    revenue: float | None = None


class ContactPublic(_Row):
    id: int
    external_id: str
    account_id: int | None = None
    name: str
    email: str | None = None
    phone: str | None = None
    title: str | None = None


class ContactCreate(BaseModel):
    external_id: str | None = None
    account_id: int | None = None
    name: str = Field(min_length=1, max_length=300)
    email: str | None = None
    phone: str | None = None
    title: str | None = None


class LeadPublic(_Row):
    id: int
    external_id: str
    name: str | None = None
    email: str | None = None
    source: str | None = None
    campaign: str | None = None
    segment: str | None = None
    status: str | None = None
    owner_id: int | None = None
    account_id: int | None = None
    created_at: Instant | None = None
    converted: bool | None = None
    converted_deal_id: int | None = None


class LeadCreate(BaseModel):
    external_id: str | None = None
    name: str | None = None
    email: str | None = None
    source: str | None = None
    campaign: str | None = None
    segment: str | None = None
    status: str | None = "new"
    owner_id: int | None = None
    account_id: int | None = None


class ProductPublic(_Row):
    id: int
    external_id: str
    name: str
    family: str | None = None
    list_price: float | None = None


class ProductCreate(BaseModel):
    external_id: str | None = None
    name: str = Field(min_length=1, max_length=300)
    family: str | None = None
    list_price: float | None = Field(default=None, ge=0)


class StagePublic(_Row):
    id: int
    pipeline_id: int
    name: str
    position: int
    kind: str
    probability: float | None = None


class PipelinePublic(_Row):
    id: int
    name: str
    stages: list[StagePublic] = []


class StageSpec(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["open", "won", "lost"] | None = None
    probability: float | None = Field(default=None, ge=0, le=1)


class PipelineCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    stages: list[StageSpec] = Field(min_length=1)


class DealPublic(_Row):
    id: int
    external_id: str
    name: str | None = None
    account_id: int | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    pipeline_id: int
    stage_id: int
    status: str
    amount: float | None = None
    currency: str | None = None
    source: str | None = None
    created_at: Instant | None = None
    expected_close_date: date | None = None
    closed_at: Instant | None = None
    lost_reason: str | None = None
    version: int


class DealCreate(BaseModel):
    external_id: str | None = None
    name: str | None = None
    pipeline_id: int
    stage: str = Field(description="name of the stage the deal starts in")
    account_id: int | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    amount: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, max_length=3)
    source: str | None = None
    expected_close_date: date | None = None


class DealUpdate(BaseModel):
    expected_version: int | None = Field(default=None, description="the version you read; 409 if the deal changed since")
    name: str | None = None
    amount: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, max_length=3)
    expected_close_date: date | None = None
    owner_id: int | None = None
    account_id: int | None = None
    contact_id: int | None = None
    source: str | None = None


class StageMoveCreate(BaseModel):
    stage: str = Field(description="name of the stage to move to")
    lost_reason: str | None = Field(default=None, description="required when the stage is a lost stage")
    expected_version: int | None = Field(default=None, description="the version you read; 409 if the deal changed since")


class StageChangePublic(BaseModel):
    id: int
    deal_id: int
    from_stage: str | None = None
    to_stage: str
    at: Instant
    by: str | None = None
    lost_reason: str | None = None


class FieldChangePublic(_Row):
    id: int
    deal_id: int
    field: str
    old_value: str | None = None
    new_value: str | None = None
    at: Instant
    by: str | None = None


class ActivityPublic(_Row):
    id: int
    external_id: str
    deal_id: int | None = None
    lead_id: int | None = None
    kind: str
    subject: str | None = None
    owner_id: int | None = None
    at: Instant
    ended_at: Instant | None = None
    outcome: str | None = None


class ActivityCreate(BaseModel):
    deal_id: int | None = None
    lead_id: int | None = None
    kind: str = Field(min_length=1, max_length=50, examples=["call"])
    subject: str | None = Field(default=None, max_length=300)
    at: datetime | None = Field(default=None, description="when it happened; now when left out")
    ended_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=200)


class DealDetail(BaseModel):
    deal: DealPublic
    stage: str
    probability: float | None
    stage_changes: list[StageChangePublic]
    field_changes: list[FieldChangePublic]
    activities: list[ActivityPublic]


class MoveResult(BaseModel):
    deal: DealPublic
    change: StageChangePublic


class RowProblemPublic(BaseModel):
    file: str
    row: int
    column: str
    value: str | None = None
    reason: str


class ImportPreview(BaseModel):
    upload: str = Field(description="pass back to POST /api/imports to run the import of this file")
    kind: str
    columns: list[str]
    mapping: dict[str, Any]
    rows: list[dict[str, Any]]
    total_rows: int
    notes: list[str] = Field(default=[], description="what reading the file found out, e.g. the encoding detected")


class ImportResultPublic(BaseModel):
    rows: int
    inserted: int
    updated: int
    rejected: int
    problems: list[RowProblemPublic]
    warnings: list[RowProblemPublic] = Field(default_factory=list, description="valid but suspicious rows, stored anyway")


class ImportRunPublic(_Row):
    id: int
    kind: str
    file: str
    at: Instant
    rows: int
    inserted: int
    updated: int
    rejected: int


class AnalysisInfo(BaseModel):
    key: str
    title: str
    description: str
    available: bool
    api: str
    page: str
    params: list[str]


# -- settings (admins): users and stages -------------------------------------------------------
Role = Literal["admin", "manager", "rep"]


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str | None = Field(default=None, description="the linked owner's name")
    role: str
    owner_id: int | None = None
    team_id: int | None = None
    team: str | None = None
    active: bool
    created_at: Instant
    last_sign_in: Instant | None = Field(default=None, description="last sign-in (form or token), from the audit trail")


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    name: str | None = Field(default=None, max_length=200,
                             description="links the user to the owner of this name, created when there is none")
    role: Role = "rep"
    team_id: int | None = None
    owner_id: int | None = Field(default=None, description="the owner whose deals are this user's (instead of name)")
    password: str = Field(min_length=8, max_length=1000, description="the initial password; stored hashed (argon2)")


class UserUpdate(BaseModel):
    """Only the fields sent change; send ``team_id: null`` to take the user out of their team."""

    role: Role | None = None
    team_id: int | None = None
    owner_id: int | None = None
    active: bool | None = Field(default=None, description="false: the user cannot sign in, sessions end, tokens are revoked")


class PasswordReset(BaseModel):
    password: str = Field(min_length=8, max_length=1000, description="the new password; every open session of the user ends")


class StageUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    probability: float | None = Field(default=None, ge=0, le=1, description="win probability of deals in this stage, 0..1")


class StageCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["open", "won", "lost"] = "open"
    probability: float | None = Field(default=None, ge=0, le=1, description="required for an open stage; won 1, lost 0")
    before_id: int | None = Field(default=None, description="an open stage to insert before (default: after the last open stage)")


class StageOrder(BaseModel):
    stage_ids: list[int] = Field(min_length=1, description="every open stage of the pipeline, once, in the new order")
