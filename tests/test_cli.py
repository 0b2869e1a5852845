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


def _run(*args: str, cwd: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess:  # noqa: A002
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd, input=input, timeout=120)


# (arguments, exit code, a phrase the message must hold)
USAGE_CASES = [
    ((), 2, "Usage: dealflow"),
    (("reprt",), 2, "No such command 'reprt'"),
    (("import", "widgets", "f.csv"), 2, "'widgets' is not one of"),
    (("report", "--as-of", "yesterday"), 2, "'yesterday' is not a date"),
    (("report", "--format", "xml"), 2, "'xml' is not one of"),
    (("export", "widgets", "x.csv"), 2, "'widgets' is not one of"),
    (("forecast", "--period", "2017Q3", "--by", "region"), 2, "'region' is not one of"),
]


@pytest.mark.parametrize(("args", "code", "phrase"), USAGE_CASES, ids=[" ".join(a) or "no-args" for a, _, _ in USAGE_CASES])
def test_usage_errors_print_usage_not_a_traceback(tmp_path, args, code, phrase):
    out = _run(*args, cwd=tmp_path)
    assert "Traceback" not in out.stderr + out.stdout
    assert out.returncode == code, out.stderr
    assert phrase in (out.stderr if args else out.stdout + out.stderr)  # no arguments: the help
    if args:
        assert "Try 'dealflow" in out.stderr  # click's usage hint
    assert not (tmp_path / "dealflow.db").exists(), "a usage error must not create a database"


def test_version():
    out = _run("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("dealflow ")
    assert out.stdout.split()[1][0].isdigit()


def test_dealflow_errors_are_one_red_line(tmp_path):
    out = _run("teams", "assign", "Nobody", "X", "--db", str(tmp_path / "x.db"))
    assert out.returncode == 1
    assert out.stderr.strip() == "Error: no team 'Nobody'; see dealflow teams list"


@pytest.mark.parametrize(("target", "phrase"), [
    ("dir", "is a directory"),
    ("junk", "is not a SQLite database"),
    ("nodir", "does not exist"),
])
def test_unusable_database_paths_are_clear_errors(tmp_path, target, phrase):
    paths = {"dir": tmp_path, "junk": tmp_path / "junk.db", "nodir": tmp_path / "missing" / "x.db"}
    (tmp_path / "junk.db").write_text("not a database at all")
    out = _run("report", "--db", str(paths[target]))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert phrase in out.stderr and str(paths[target]) in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "missing").exists()


def test_unreachable_postgres_is_a_clear_error():
    out = _run("report", "--db", "postgresql://someone:secret@127.0.0.1:1/nothing")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "cannot reach the database" in out.stderr and "127.0.0.1:1" in out.stderr
    assert "secret" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_rejects_into_a_missing_folder_is_refused_before_importing(tmp_path):
    data = tmp_path / "accounts.csv"
    data.write_text("account,sector\nAcme,retail\n")
    out = _run("import", "accounts", str(data), "--skip-invalid", "--rejects", str(tmp_path / "no" / "r.csv"),
               "--db", str(tmp_path / "x.db"))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "--rejects" in out.stderr and "does not exist" in out.stderr


def test_report_on_an_empty_store_hints_how_to_load_data(tmp_path):
    out = _run("report", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "no data yet" in out.stderr and "dealflow sample maven_crm" in out.stderr


def test_every_option_has_help_and_no_rst_markup():
    missing, rst = [], []
    for name, command in LEAVES.items():
        if command.callback.__module__.endswith("serve_cmd"):
            continue  # serve and users are documented in serve_cmd.py
        if "``" in (command.help or ""):
            rst.append(name)
        for param in command.params:
            if param.name != "help" and not getattr(param, "help", None):
                missing.append(f"{name} {param.name}")
    assert not missing, f"options without help: {missing}"
    assert not rst, f"RST double backticks in help: {rst}"


@pytest.mark.parametrize(("command", "option", "choices"), [
    ("forecast", "by", ["owner", "team", "product"]),
    ("backtest", "period", ["month", "quarter"]),
    ("score", "scorer", ["dealflow", "stage_rate", "stage_default", "naive_bayes"]),
    ("funnel", "by", ["source", "segment", "owner", "campaign"]),
    ("funnel", "cohort", ["month", "quarter"]),
    ("bottlenecks", "period", ["month", "quarter"]),
    ("inspect", "slip-period", ["month", "quarter"]),
    ("report", "table", ["stages", "owners", "products", "ageing", "cycle"]),
])
def test_fixed_choice_options_list_their_choices(command, option, choices):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("│") and f" --{option} " in l)
    assert "<" + "|".join(choices) + ">" in line, line


def test_help_paragraphs_are_reflowed_but_examples_kept():
    from dealflow.cli.app import reflow_help

    text = "First line.\n\nA long paragraph\nwrapped in source.\n\nExample:\n    dealflow a\n    dealflow b"
    assert reflow_help(text) == "First line.\n\nA long paragraph wrapped in source.\n\nExample:\n    dealflow a\n    dealflow b"


def test_fmt_value_formats_by_column_kind():
    from dealflow.cli.common import fmt_value

    assert fmt_value(0.63154, "win_rate") == "0.6315"
    assert fmt_value(1.0, "conversion") == "1.0000"
    assert fmt_value(0.5, "in_period_probability") == "0.5000"
    assert fmt_value(2.5, "lift") == "2.5000"
    assert fmt_value(0.12, "wape") == "0.1200"
    assert fmt_value(57.0, "median_days") == "57.0"
    assert fmt_value(1234.56, "deal_days") == "1,234.6"
    assert fmt_value(1234567.8, "won_amount") == "1,234,568"
    assert fmt_value(0.0, "open_amount") == "0"
    assert fmt_value(55.194, "avg_won_amount") == "55.19"
    assert fmt_value(0.25, "amount") == "0.25"  # a small amount is money, not a rate
    assert fmt_value(4238, "won") == "4,238"
    assert fmt_value(None, "win_rate") == "–"
    assert fmt_value(float("nan"), "win_rate") == "–"
    assert fmt_value(True) == "yes"
    assert fmt_value(0.4, "because") == "0.40"  # 'auc' inside a word is not AUC


def test_report_pipeline_is_matched_in_any_case_and_unknown_ones_listed(file_store):
    from typer.testing import CliRunner

    from tests.factories import add_deal

    add_deal(file_store, "A", [("Qualify", "2024-01-01"), ("Won", "2024-01-09")], pipeline="Sales")
    add_deal(file_store, "B", [("Qualify", "2024-01-01")], pipeline="Renewals")
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--db", file_store.url, "--pipeline", "nope"])
    assert result.exit_code == 2
    assert "no pipeline 'nope'; pipelines: Renewals, Sales" in result.output
    result = runner.invoke(app, ["report", "--db", file_store.url, "--pipeline", "sales", "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    assert json.loads(result.stdout)["deals"]["total"] == 1


@pytest.mark.parametrize(("table", "first_column"), [
    ("stages", "pipeline"), ("owners", "owner"), ("products", "product"), ("ageing", "bucket"), ("cycle", "status"),
])
def test_report_csv_writes_the_chosen_table(file_store, table, first_column):
    from typer.testing import CliRunner

    from tests.factories import add_deal

    add_deal(file_store, "A", [("Qualify", "2024-01-01"), ("Won", "2024-01-09")], owner="Ann", product="Widget")
    result = CliRunner().invoke(app, ["report", "--db", file_store.url, "--format", "csv", "--table", table])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split(",")[0] == first_column


def test_report_table_fits_80_columns_without_cutting_stage_names(file_store):
    from tests.factories import add_deal

    for i, path in enumerate([[], [("Propose", "2024-01-05")], [("Negotiate", "2024-01-05")], [("Won", "2024-02-05")]]):
        add_deal(file_store, f"D{i}", [("Qualify", "2024-01-01"), *path], amount=1_234_567.0,
                 owner="Alexandrina Featherstonehaugh", product="Enterprise Suite Plus")
    out = subprocess.run([str(BIN), "report", "--db", file_store.url], capture_output=True, text=True, env={"COLUMNS": "80", "PATH": ""})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out.stdout
    assert "Negotiate" in out.stdout and "Alexandrina Featherstonehaugh" in out.stdout


def test_sample_prints_each_files_result_right_after_it(tmp_path):
    out = _run("sample", "maven_crm", "--db", str(tmp_path / "m.db"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Importing ")]
    assert len(starts) == 4
    for i in starts:
        name = lines[i].split(" from ")[1].removesuffix(" ...")
        assert lines[i + 1].startswith(f"  {name}: "), lines[i : i + 2]
    assert "  sales_pipeline.csv: 8,800 rows, 8,800 new" in out.stdout


def test_notes_say_activities():
    from dealflow.cli.common import tidy_note

    assert tidy_note("3 deal(s), 7 new activit(ies)") == "3 deal(s), 7 new activities"


def test_import_where_every_row_is_rejected_fails(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,stage,amount\nA,Open,x\nB,Open,y\n")
    out = subprocess.run([str(BIN), "import", "deals", str(bad), "--skip-invalid", "--db", str(tmp_path / "x.db")],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "2 rejected" in out.stdout
