"""dealflow: sales pipeline management on your own data.

>>> import dealflow
>>> crm = dealflow.open("dealflow.db")
>>> crm.load_sample("maven_crm")
>>> crm.report().stages

The names below load on first use (PEP 562): ``import dealflow.cli`` runs this file, and a
command should pay only for what it uses.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from dealflow.errors import Conflict, DealflowError, DomainError, ImportFailed, NotFound
from dealflow.lazy import lazy_names

if TYPE_CHECKING:
    from dealflow.api import Dealflow, open
    from dealflow.history import History
    from dealflow.store import Store

__version__ = "0.1.0"

__all__ = ["Conflict", "Dealflow", "DealflowError", "DomainError", "History", "ImportFailed", "NotFound", "Store", "open"]

_HOMES = {"Dealflow": "dealflow.api", "open": "dealflow.api", "History": "dealflow.history", "Store": "dealflow.store"}

__getattr__ = lazy_names(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
