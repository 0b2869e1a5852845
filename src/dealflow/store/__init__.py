"""Storage: the SQL tables, migrations and the one ``Store`` every edge uses."""
from dealflow.store.db import Store, resolve_url

__all__ = ["Store", "resolve_url"]
