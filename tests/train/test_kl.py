"""The KL term to the base model: zero where the adapter changes nothing, positive and trainable where it does."""

from __future__ import annotations

import pytest

from anchortune.train.kl import KLTerm

ROWS = [{"input_ids": [5, 9, 11, 3, 7, 2]}, {"input_ids": [4, 8, 15, 16, 23, 42 % 96]}]


def test_an_adapter_that_changes_nothing_costs_nothing(lora_model):
    for name, param in lora_model.named_parameters():
        if "lora_B" in name:
            param.data.zero_()
    assert KLTerm(ROWS, 1.0)(lora_model).item() == pytest.approx(0.0, abs=1e-6)


def test_the_term_is_positive_reaches_the_adapters_and_takes_rows_in_turn(lora_model):
    term = KLTerm(ROWS, 0.5)
    value = term(lora_model)
    assert value.item() > 0
    value.backward()
    grads = [p.grad for n, p in lora_model.named_parameters() if "lora_" in n]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    lora_model.zero_grad()
    second = term(lora_model)
    assert term.calls == 2 and second.item() != pytest.approx(value.item())
    assert not KLTerm([], 1.0) and not KLTerm(ROWS, 0.0)


def test_a_run_with_the_kl_term_trains_and_says_so(tmp_path, support_file, tiny_model_dir, monkeypatch):
    from anchortune.app import runs as app_runs
    from anchortune.config import RunConfig
    from anchortune.data.records import AnchorPoint
    from anchortune.evaluate import probe

    # the random tiny model answers every general prompt with nothing; a real model's answers stand in for them
    answers = [AnchorPoint(({"role": "user", "content": p}, {"role": "assistant", "content": f"An answer about {p}"}),
                           i) for i, p in enumerate(probe.general_prompts("replay")[:6], start=1)]
    monkeypatch.setattr(probe, "base_answers", lambda *args, **kwargs: answers)

    cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), batch_size=4,
                          max_length=256, precision="fp32", learning_rate=3e-3, max_steps=4, eval_every=2,
                          val_fraction=0.25, kl_general=0.1)
    outcome = app_runs.train_run(cfg, tmp_path / "run")
    assert outcome.summary["losses"]["tuned_valid"] < outcome.summary["losses"]["base_valid"]
    assert "kl_general: 0.1" in (outcome.folder / "config.yaml").read_text()
    assert outcome.summary["training"]["kl_rows"] > 0  # the base model's replay answers held the run


def test_a_run_whose_base_model_answers_nothing_says_the_term_is_off(tmp_path, support_file, tiny_model_dir):
    from anchortune.app import runs as app_runs
    from anchortune.config import RunConfig

    cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), batch_size=4,
                          max_length=256, precision="fp32", max_steps=2, eval_every=2, val_fraction=0.25,
                          kl_general=0.1)
    messages = []
    outcome = app_runs.train_run(cfg, tmp_path / "run", on_event=lambda e: messages.append(e.data.get("message", "")))
    assert outcome.summary["training"]["kl_rows"] == 0
    assert any("KL term" in m and "off" in m for m in messages)
