"""Every setting is documented in docs/settings.md (as datasette's tests/test_docs.py does)."""
from dataclasses import fields
from pathlib import Path

import pytest

from dealflow.settings import Settings

DOC = (Path(__file__).resolve().parents[1] / "docs/settings.md").read_text()


@pytest.mark.parametrize("name", [f.name for f in fields(Settings)])
def test_setting_is_documented(name):
    assert f"`DEALFLOW_{name.upper()}`" in DOC


def test_settings_read_from_environment():
    s = Settings.from_env({"DEALFLOW_DATABASE_URL": "x.db", "DEALFLOW_IDLE_DAYS": "7", "DEALFLOW_HTTPS": "yes"}, dotenv=None)
    assert (s.database_url, s.idle_days, s.https) == ("x.db", 7, True)
