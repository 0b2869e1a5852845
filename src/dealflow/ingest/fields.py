"""What each import kind accepts: its fields, their types, and the headers that name them.

Header synonyms cover generic spreadsheets and the usual exports of Salesforce, HubSpot,
Pipedrive and Odoo. Matching ignores case, spaces and punctuation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# "money": an amount that may name its currency ("€1.200") and is checked for sign and size.
# "probability": "35%", "35" or "0.35", stored as 0.35.
FieldType = Literal["str", "float", "int", "money", "probability", "datetime", "date", "bool"]


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType = "str"
    synonyms: tuple[str, ...] = ()
    required: bool = False
    help: str = ""


def F(name: str, type: FieldType = "str", *synonyms: str, required: bool = False, help: str = "") -> Field:  # noqa: A002
    return Field(name, type, synonyms, required, help)


KINDS: dict[str, tuple[Field, ...]] = {
    "accounts": (
        F("external_id", "str", "account id", "company id", "record id", "id", "account number", "organization id"),
        F("name", "str", "account", "account name", "company", "company name", "organization", "organization name", "organisation", required=True),
        F("sector", "str", "industry", "sector", "vertical"),
        F("country", "str", "country", "office location", "billing country", "hq country", "location"),
        F("employees", "int", "employees", "number of employees", "employee count", "headcount"),
        F("revenue", "money", "revenue", "annual revenue"),
        F("year_established", "int", "year established", "founded", "founded year", "year founded"),
        F("parent", "str", "parent", "parent account", "subsidiary of", "parent company"),
    ),
    "contacts": (
        F("external_id", "str", "contact id", "record id", "id", "person id"),
        F("name", "str", "name", "full name", "contact name", "person name", required=True),
        F("account", "str", "account", "account name", "company", "company name", "organization"),
        F("email", "str", "email", "email address", "e-mail"),
        F("phone", "str", "phone", "phone number", "mobile"),
        F("title", "str", "title", "job title", "position"),
    ),
    "products": (
        F("external_id", "str", "product id", "product code", "sku", "id"),
        F("name", "str", "product", "product name", "name", "item", required=True),
        F("family", "str", "family", "product family", "series", "category", "product line"),
        F("list_price", "money", "list price", "price", "sales price", "unit price", "msrp"),
    ),
    "owners": (
        F("external_id", "str", "owner id", "user id", "employee id", "agent id"),
        F("name", "str", "owner", "owner name", "sales agent", "sales rep", "rep", "agent", "user", "name", "opportunity owner", "deal owner", required=True),
        F("email", "str", "email", "owner email", "user email"),
        F("team", "str", "team", "sales team", "manager", "sales manager", "team name"),
        F("manager", "str", "manager", "sales manager", "team lead"),
        F("region", "str", "region", "regional office", "office", "territory"),
    ),
    "deals": (
        F("external_id", "str", "opportunity id", "deal id", "opportunity_id", "record id", "id", "deal - id", "application id", required=True),
        F("name", "str", "opportunity name", "deal name", "title", "deal - title", "name"),
        F("account", "str", "account", "account name", "company", "company name", "organization", "deal - organization", "associated company"),
        F("owner", "str", "owner", "sales agent", "opportunity owner", "deal owner", "sales rep", "agent", "deal - owner", "assigned to"),
        F("product", "str", "product", "product name", "products", "item"),
        F("pipeline", "str", "pipeline", "deal - pipeline", "sales process"),
        F("stage", "str", "stage", "deal stage", "dealstage", "deal - stage", "opportunity stage", "status"),
        F("amount", "money", "amount", "value", "deal value", "close value", "revenue", "deal - value", "expected revenue", "amount requested"),
        F("currency", "str", "currency", "amount currency", "currency code", "deal - currency"),
        F("probability", "probability", "probability", "probability (%)", "win probability", "deal probability"),
        F("source", "str", "source", "lead source", "deal source", "original source", "channel"),
        F("created_at", "datetime", "created", "created date", "create date", "created at", "creation date", "deal - deal created", "registered at", "opened"),
        F("expected_close_date", "date", "expected close date", "close date expected", "expected close", "deal - expected close date"),
        F("closed_at", "datetime", "close date", "closed date", "closed at", "closed", "deal - won time", "deal - close time", "date closed"),
        F("lost_reason", "str", "lost reason", "loss reason", "closed lost reason", "deal - lost reason", "reason lost"),
        F("status", "str", "won/lost", "outcome", "is won", "deal status"),
        F("true_probability", "float", "true probability", help="synthetic data only: the probability the deal was drawn with"),
    ),
    "leads": (
        F("external_id", "str", "lead id", "prospect id", "record id", "id", "lead number", required=True),
        F("name", "str", "name", "lead name", "full name"),
        F("email", "str", "email", "email address"),
        F("source", "str", "lead source", "source", "origin", "lead origin", "original source", "channel"),
        F("campaign", "str", "campaign", "campaign name", "utm campaign"),
        F("segment", "str", "segment", "industry", "company size", "tier"),
        F("status", "str", "status", "lead status", "lifecycle stage"),
        F("owner", "str", "owner", "lead owner", "assigned to", "sales rep"),
        F("account", "str", "company", "account", "organization"),
        F("created_at", "datetime", "created", "created date", "create date", "created at"),
        F("contacted_at", "datetime", "contacted", "first contacted", "contacted at", "first contact date"),
        F("qualified_at", "datetime", "qualified", "qualified date", "qualified at", "became sql date"),
        F("converted", "bool", "converted", "is converted", "won"),
        F("converted_at", "datetime", "converted date", "converted at", "conversion date"),
        F("lost_reason", "str", "lost reason", "disqualified reason", "disqualification reason"),
    ),
    "stage_history": (
        F("deal", "str", "opportunity id", "deal id", "record id", "deal", "opportunity", required=True),
        F("stage", "str", "stage", "to stage", "new stage", "stage name", "deal stage", required=True),
        F("at", "datetime", "date", "changed at", "timestamp", "last modified", "last modified date", "stage change date", "time", required=True),
        F("by", "str", "by", "changed by", "user", "last modified by", "modified by"),
        F("lost_reason", "str", "lost reason", "reason"),
    ),
    "activities": (
        F("external_id", "str", "activity id", "task id", "record id", "id"),
        F("deal", "str", "deal", "deal id", "opportunity id", "related to", "what id"),
        F("lead", "str", "lead", "lead id", "prospect id"),
        F("kind", "str", "type", "activity type", "kind", "task type", "activity", required=True),
        F("subject", "str", "subject", "title", "description"),
        F("owner", "str", "owner", "assigned to", "user", "activity owner"),
        F("at", "datetime", "date", "start", "started at", "due date", "activity date", "timestamp", "at", required=True),
        F("ended_at", "datetime", "end", "ended at", "completed at", "end date"),
        F("outcome", "str", "outcome", "result", "status"),
        F("resource", "str", "resource", "performer"),
    ),
    "rates": (  # exchange rates: company-currency units per 1 unit of ``currency`` from ``valid_from`` on
        F("valid_from", "date", "date", "valid from", "effective date", "effective from", "rate date", "as of", "day", "from date", "start date", required=True),
        F("currency", "str", "currency", "currency code", "code", "iso code", "ccy", "from currency", "source currency", required=True),
        F("rate", "float", "rate", "exchange rate", "fx rate", "conversion rate", "rate to company currency", "value", required=True),
    ),
    "events": (
        F("case_id", "str", "case id", "case", "case:concept:name", "application id", "deal id", "trace id", required=True),
        F("activity", "str", "activity", "concept:name", "event", "activity name", required=True),
        F("timestamp", "datetime", "timestamp", "time:timestamp", "time", "date", "at", required=True),
        F("resource", "str", "resource", "org:resource", "user", "performer"),
        F("lifecycle", "str", "lifecycle", "lifecycle:transition", "transition"),
    ),
}

# The kinds `dealflow export` writes back out, in dependency order: each kind's references are imported before it.
IMPORTABLE = ("owners", "accounts", "contacts", "products", "rates", "deals", "leads", "stage_history", "activities")

STAGE_DATE_PREFIX = "entered:"  # deals: "entered:Engaging" is the instant the deal entered that stage
