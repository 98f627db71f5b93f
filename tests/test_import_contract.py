"""The import contract in .importlinter holds: shells (cli, api) -> app -> domain -> config, settings, errors, with
no cycles between the layers, and the shells reach the domain only through the application layer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contract_is_kept():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_no_second_application_layer_remains():
    package = ROOT / "src" / "anchortune"
    assert not (package / "studio.py").exists() and not (package / "service.py").exists()
    assert not (package / "export" / "run_folder.py").exists() and (package / "run_folder.py").is_file()
