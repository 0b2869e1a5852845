"""The domain core and the store are typed strictly (STYLE.md §6)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_on_domain_and_store():
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    targets = ["src/dealflow/domain", "src/dealflow/store", "src/dealflow/history.py", "src/dealflow/errors.py"]
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", *targets], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
