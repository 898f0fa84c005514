"""The import-linter contracts hold, and they would catch a pure module importing kopf."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env={"PYTHONPATH": str(project / "operator"), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kopf_in_the_pure_core_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(
        ROOT / "operator", tmp_path / "operator", ignore=shutil.ignore_patterns("__pycache__")
    )
    quantity = tmp_path / "operator" / "trimtab" / "quantity.py"
    quantity.write_text("import kopf  # a deliberate breach\n" + quantity.read_text())
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "trimtab.quantity -> kopf" in result.stdout
