"""The layout holds: the package root stays small, and the layer contract catches a wrong import.

`make test` runs `lint-imports` on the tree itself; these tests make sure the contract is not
vacuous (it fails on an upward import and on a cycle in a copy of the tree) and that no module
lands loose at the package root again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "imagehub"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

#: The package root holds the app factory, configuration, errors and the entry points only.
ROOT_MODULES = {"__init__.py", "__main__.py", "app.py", "config.py", "errors.py"}


def _lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=source_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_tree(tmp_path: Path) -> Path:
    target = tmp_path / "src"
    shutil.copytree(PACKAGE, target / "imagehub", ignore=shutil.ignore_patterns("__pycache__", "static"))
    return target


def test_the_package_root_holds_only_the_factory_config_errors_and_entry_points() -> None:
    loose = {path.name for path in PACKAGE.glob("*.py")} - ROOT_MODULES
    assert not loose, f"put these in a package that names their job: {sorted(loose)}"


def test_every_package_says_what_it_owns() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        if "migrations" in init.parts:
            continue
        text = init.read_text(encoding="utf-8").lstrip()
        assert text.startswith('"""') and len(text.split('"""')[1].strip()) > 40, init


def test_the_tree_keeps_its_layers() -> None:
    done = _lint_imports(ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    src = _copy_tree(tmp_path)
    catalog = src / "imagehub" / "catalog" / "spec.py"
    catalog.write_text(catalog.read_text() + "\nfrom imagehub.service import generation  # noqa\n")
    done = _lint_imports(src)
    assert done.returncode != 0
    assert "imagehub.catalog.spec -> imagehub.service.generation" in done.stdout


@pytest.mark.parametrize(
    ("importer", "imported"),
    [("service/validation.py", "imagehub.service.generation"), ("api/auth.py", "imagehub.api.images")],
)
def test_a_cycle_breaks_the_contract(tmp_path: Path, importer: str, imported: str) -> None:
    src = _copy_tree(tmp_path)
    module = src / "imagehub" / importer
    module.write_text(module.read_text() + f"\nimport {imported}  # noqa\n")
    done = _lint_imports(src)
    assert done.returncode != 0
    assert "No cycles" in done.stdout and "BROKEN" in done.stdout
