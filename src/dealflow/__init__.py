"""dealflow: sales pipeline management on your own data.

>>> import dealflow
>>> crm = dealflow.open("dealflow.db")
>>> crm.load_sample("maven_crm")
>>> crm.report().stages
"""
from dealflow.api import Dealflow, open
from dealflow.errors import Conflict, DealflowError, DomainError, ImportFailed, NotFound
from dealflow.history import History
from dealflow.store import Store

__version__ = "0.1.0"

__all__ = ["Conflict", "Dealflow", "DealflowError", "DomainError", "History", "ImportFailed", "NotFound", "Store", "open"]
