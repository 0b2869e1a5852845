"""Settings, read once from the environment (and an optional ``.env``) and passed down."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_DATABASE = "dealflow.db"


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip("'\"")
    return out


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default=DEFAULT_DATABASE, metadata={"help": "database file path or URL (DEALFLOW_DATABASE_URL)"})
    secret_key: str = field(default="", metadata={"help": "key that signs session cookies (DEALFLOW_SECRET_KEY); generated per run when empty"})
    currency: str = field(default="USD", metadata={"help": "company currency amounts are reported in (DEALFLOW_CURRENCY)"})
    fiscal_start_month: int = field(default=1, metadata={"help": "first month of the fiscal year, 1-12 (DEALFLOW_FISCAL_START_MONTH)"})
    timezone: str = field(default="UTC", metadata={"help": "time zone periods are cut in (DEALFLOW_TIMEZONE)"})
    stalled_percentile: float = field(default=0.75, metadata={"help": "a deal is stalled past this percentile of won deals' time in its stage (DEALFLOW_STALLED_PERCENTILE)"})
    idle_days: int = field(default=14, metadata={"help": "a deal is idle after this many days without activity (DEALFLOW_IDLE_DAYS)"})
    https: bool = field(default=False, metadata={"help": "mark cookies Secure; set when served behind HTTPS (DEALFLOW_HTTPS)"})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: Path | None = Path(".env")) -> "Settings":
        env = {**(_read_dotenv(dotenv) if dotenv else {}), **(environ if environ is not None else os.environ)}
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"DEALFLOW_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            elif f.type in ("bool", bool):
                values[f.name] = raw.lower() in {"1", "true", "yes", "on"}
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]
