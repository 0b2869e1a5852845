"""Real samples bundled with dealflow, and how to load them.

- ``maven_crm``: Maven Analytics "CRM Sales Opportunities" (public domain): 8,800 B2B deals.
- ``bpi2012``: BPI Challenge 2012 (CC BY 4.0, 4TU.ResearchData, B.F. van Dongen): 13,087 loan
  applications with 262,200 timestamped events. See ATTRIBUTION.md beside this file.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dealflow.errors import DealflowError
from dealflow.store import Store

if TYPE_CHECKING:  # the CLI lists SAMPLES without loading the importer
    from dealflow.ingest import ImportResult

HERE = Path(__file__).parent

# Each sample: the files to import, in order, as (kind, data file, mapping file).
SAMPLES: dict[str, list[tuple[str, str, str]]] = {
    "maven_crm": [
        ("accounts", "accounts.csv", "accounts.toml"),
        ("products", "products.csv", "products.toml"),
        ("owners", "sales_teams.csv", "sales_teams.toml"),
        ("deals", "sales_pipeline.csv", "sales_pipeline.toml"),
    ],
    "bpi2012": [
        ("events", "events.csv.gz", "events.toml"),
        ("deals", "applications.csv.gz", "applications.toml"),
    ],
}


def load_sample(
    store: Store,
    name: str,
    data_dir: str | Path | None = None,
    on_step: Callable[[str], None] | None = None,
) -> list[ImportResult]:
    """Import a bundled sample (or the same files from ``data_dir``) into ``store``."""
    from dealflow.ingest import load_mapping, run_import

    if name not in SAMPLES:
        raise DealflowError(f"no sample {name!r}; samples: {', '.join(SAMPLES)}")
    folder = HERE / name
    results = []
    for kind, data_file, mapping_file in SAMPLES[name]:
        path = Path(data_dir) / data_file.removesuffix(".gz") if data_dir else folder / data_file
        if on_step:
            on_step(f"{kind} from {path.name}")
        results.append(run_import(store, kind, path, mapping=load_mapping(folder / mapping_file)))
    return results
