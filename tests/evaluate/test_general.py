"""General ability the guard measures: shipped text windows, cloze items scored by their ending only, and a
deliberately forgetting run caught by them on the real model."""

from __future__ import annotations

import pytest

from anchortune.evaluate import general


def test_the_shipped_material_loads_and_cloze_targets_are_the_endings_only(tiny_tokenizer):
    items = general.cloze_items()
    assert len(items) >= 100 and all(len(item) == 3 and item[1] != item[2] for item in items)
    material = general.general_set(tiny_tokenizer)
    assert len(material.text) >= 8 and all(len(w["input_ids"]) == general.TEXT_CHUNK for w in material.text)
    assert len(material.cloze) == 2 * len(items)
    start, right, _ = items[0]
    example = material.cloze[0]
    targets = [t for t in example["labels"] if t != -100]
    assert tiny_tokenizer.decode(targets).endswith(right.strip()) and len(targets) < len(example["input_ids"])


def test_sequence_nlls_add_up_to_the_answer_loss(tiny_model_dir, tiny_tokenizer):
    from anchortune.engine.loss import answer_loss
    from anchortune.models.loading import load_model

    model = load_model(tiny_model_dir)
    examples = general.general_set(tiny_tokenizer).cloze[:12]
    nlls = general.sequence_nlls(model, examples, tiny_tokenizer.pad_token_id)
    tokens = sum(sum(t != -100 for t in e["labels"][1:]) for e in examples)
    mean = answer_loss(model, examples, tiny_tokenizer.pad_token_id)  # outside a run: the standard path
    assert sum(nlls) / tokens == pytest.approx(mean, rel=1e-4)
    alone = general.sequence_nlls(model, examples[3:4], tiny_tokenizer.pad_token_id)  # padding changes nothing
    assert alone[0] == pytest.approx(nlls[3], rel=1e-4)


def _alone(model, example: dict) -> float:
    """One example's summed target NLL from the plain model forward on it alone (fp32): the reference."""
    import torch

    ids = torch.tensor([example["input_ids"]])
    labels = torch.tensor(example["labels"][1:])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    keep = labels != -100
    return float(torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="sum"))


@pytest.mark.parametrize("engine", [None, "fast"])
def test_packed_sequence_nlls_equal_each_example_scored_alone(tiny_model_dir, tiny_tokenizer, engine):
    """Packed rows (engine/loss.py, example_nlls) give every example the NLL it has alone, in the examples' order,
    outside a run (transformers' masks from the position ids) and in a run on the fast engine (per-example
    attention); the examples are of mixed lengths, so rows hold several of them."""
    from anchortune.engine import paths
    from anchortune.engine.engaged import engaged
    from anchortune.models.loading import load_model

    model = load_model(tiny_model_dir)
    material = general.general_set(tiny_tokenizer)
    examples = material.cloze[:20] + material.text[:2] + material.cloze[40:45]
    expected = [_alone(model, e) for e in examples]
    if engine is None:
        found = general.sequence_nlls(model, examples, tiny_tokenizer.pad_token_id)
    else:
        plan = paths.evaluation_plan(model, "fp32", engine)
        assert plan.uses("attention")
        with engaged(model, plan, training=False):
            found = general.sequence_nlls(model, examples, tiny_tokenizer.pad_token_id)
    assert found == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_cloze_accuracy_counts_the_right_ending_winning(tiny_model_dir, tiny_tokenizer, monkeypatch):
    from anchortune.models.loading import load_model

    model = load_model(tiny_model_dir)
    examples = general.general_set(tiny_tokenizer).cloze[:8]
    monkeypatch.setattr(general, "sequence_nlls", lambda *a, **k: [1.0, 2.0, 3.0, 2.5, 0.5, 0.7, 4.0, 1.0])
    assert general.cloze_accuracy(model, examples, 0) == pytest.approx(0.5)  # items 1 and 3 of 4 right


@pytest.mark.real_model
def test_a_deliberately_forgetting_run_is_caught_by_the_general_measures(tmp_path, monkeypatch):
    """Full fine-tuning at a high learning rate on one narrow intent: general text and cloze give way. (The held-out
    answers, generated after training and judged apart from the general measures, are left out: minutes on 2 cores.)"""
    from anchortune.app import models as app_models
    from anchortune.app import runs as app_runs
    from anchortune.config import RunConfig
    from anchortune.data.demo_support import support_demo
    from anchortune.data.loading import save_anchor_points
    from anchortune.train import held_out

    monkeypatch.setattr(held_out, "ANSWER_ROWS", 0)

    narrow = [p for p in support_demo(n_per_intent=15) if p.label == support_demo()[0].label]
    data = save_anchor_points(narrow * 3, tmp_path / "narrow.jsonl")
    cfg = RunConfig.build(data=str(data), task="support", method="full", learning_rate=1e-3, max_steps=4,
                          eval_every=4, batch_size=4, max_length=192, val_fraction=0.2, patience=0)
    outcome = app_runs.train_run(cfg, tmp_path / "run", force=True)
    rows = [c for c in outcome.summary["balance"]["candidates"]]
    last = max(rows, key=lambda c: c["step"])
    assert last["text_drift"] > 0.05 or last["cloze_drop"] > 0.08, last
    assert outcome.summary["balance"]["diagnosis"]["verdict"] == "forgetting" or \
        outcome.summary["balance"]["chosen"]["step"] < last["step"], outcome.summary["balance"]
