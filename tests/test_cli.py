"""Every command has help with an example, and errors reach the user as one clear line."""
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from dealflow.cli.app import app

def _leaves(group, prefix=()):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _leaves(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


LEAVES = dict(_leaves(get_command(app)))
COMMANDS = sorted(LEAVES)
BIN = Path(sys.executable).parent / "dealflow"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    command = LEAVES[name]
    assert command.help and "Example" in command.help, f"dealflow {name} needs a docstring ending in an Example block"


def test_bad_file_is_a_clear_error(tmp_path):
    out = subprocess.run([str(BIN), "import", "deals", str(tmp_path / "missing.csv"), "--db", str(tmp_path / "x.db")],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "missing.csv: no such file" in out.stderr
    assert "Traceback" not in out.stderr


def test_report_json_on_empty_store(tmp_path):
    import json

    out = subprocess.run([str(BIN), "report", "--db", str(tmp_path / "x.db"), "--format", "json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["deals"] == {"open": 0, "won": 0, "lost": 0, "total": 0}
