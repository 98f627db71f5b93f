"""The quality gate's bench injectors (bench/quality_*.py) still run on today's anchor points: nothing else in the
suite imports them, and a renamed field once broke two of them silently. Each injects into the bundled demo rows,
keeps every row's fields, and marks the defects it reports on rows that exist."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from anchortune.data.demo_invoices import invoice_demo
from anchortune.data.demo_support import support_demo

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def injectors():
    sys.path.insert(0, str(BENCH))
    try:
        import quality_gate
        from quality_inject_b import inject_b
        from quality_inject_c import inject_c
        from quality_inject_fit import inject_fit
    finally:
        sys.path.remove(str(BENCH))
    return {"a": quality_gate.INJECTORS["a"], "b": inject_b, "c": inject_c, "fit": inject_fit}


@pytest.mark.parametrize("name", ["a", "b", "c", "fit"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_each_injector_runs_on_the_demo_rows(injectors, shared_data, name, fmt):
    clean = support_demo() if fmt == "text" else invoice_demo(120)
    rows, defects, partners = injectors[name](clean, fmt, 0.03, 0, shared_data)
    assert [r.line for r in rows] == list(range(1, len(rows) + 1))
    assert defects and set(defects) <= {r.line for r in rows}
    assert not set(defects) & partners
    assert len(rows) >= len(clean)
