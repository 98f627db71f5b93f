"""Lists of variants are declared once and read everywhere: tasks (config.py), export formats (export/formats.py),
the quality gate's detectors (quality/detectors.py), model families (engine/families.py)."""

from __future__ import annotations

import ast
import importlib
from importlib import resources
from pathlib import Path

from anchortune.config import TASKS, RunConfig

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "anchortune"


def test_every_task_is_one_preset_file_and_the_command_line_names_each():
    files = {p.stem for p in resources.files("anchortune.data.task_presets").iterdir() if p.name.endswith(".yaml")}
    assert files == set(TASKS)
    assert all(task in RunConfig.model_fields["task"].description for task in TASKS)


def test_every_export_format_is_written_by_its_module_and_offered_everywhere():
    from anchortune.app import runs
    from anchortune.export import formats

    assert runs.FORMATS is formats.FORMATS
    for fmt in formats.FORMATS:
        assert callable(fmt.writer().export), fmt.name
        assert fmt.default_quant is None or fmt.default_quant in fmt.quants
    text = (PACKAGE / "cli" / "main.py").read_text(encoding="utf-8")
    assert "runs.FORMATS" in text  # --format and --quant are worded from the list


def _codes_found_in(path: Path) -> set[str]:
    """The codes of the Finding(line, "code", ...) calls in one module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding" and len(node.args) > 1 \
                and isinstance(node.args[1], ast.Constant):
            found.add(node.args[1].value)
    return found


def test_every_finding_the_gate_makes_is_a_declared_detector_whose_finder_exists():
    from anchortune.quality import detectors, findings, fix, report

    made = set().union(*(_codes_found_in(p) for p in (PACKAGE / "quality").glob("*.py")))
    assert made == set(detectors.BY_CODE)
    for detector in detectors.DETECTORS:
        module, function = detector.found_by.split(".")
        assert callable(getattr(importlib.import_module(f"anchortune.quality.{module}"), function)), detector
    assert findings.CODES.keys() == detectors.BY_CODE.keys()
    assert set(report.UNCLEAR_CODES) <= set(detectors.BY_CODE) and fix.DROP | fix.REVIEW <= set(detectors.BY_CODE)


def test_the_model_families_are_declared_once():
    from anchortune.engine import families, fused_layer, paths

    assert paths.FAMILIES == tuple(families.FAMILIES)
    assert set(fused_layer.LAYERS) == {f.fused_layer for f in families.FAMILIES.values() if f.fused_layer}
