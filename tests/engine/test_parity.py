"""Parity of the engine's paths: for every model family the fast parts claim, `fast` and `auto` give the loss and
LoRA gradients of `standard` (plain transformers + PEFT) on packed and padded rows, in fp32 and under bf16
autocast; a family or feature the fast parts do not cover takes the standard path, and says so. The tiny
models (Llama; Qwen2 with random non-zero q/k/v biases; Qwen3; Gemma 3 with a sliding window shorter than the
rows and moved q/k norms; Mistral with such a window; Phi-3) come from the `parity` fixture (conftest.py).

Tolerances: fp32, loss within 1e-5 relative and every gradient within 1e-4 of the standard one relative to its
norm (the same products summed in another order). bf16: every gradient no further from the fp32 standard
gradient than twice the standard path's own bf16 error (or 2 %), the loss within 1 %.
"""

from __future__ import annotations

import pytest
import torch

from anchortune.engine.engaged import engaged
from anchortune.engine.loss import autocast
from anchortune.engine import paths
from anchortune.train.engine import batch_nll

FAMILIES = list(paths.FAMILIES)  # declared once: engine/families.py


def _loss_and_grads(parity, model, engine: str, precision: str, packed: bool):
    plan = paths.plan(model, engine, precision, lora=True, device="cpu")
    model.zero_grad()
    with engaged(model, plan), autocast(precision):
        nll, count = batch_nll(model, parity.row(packed), plan)
        loss = nll / count
    loss.backward()
    grads = {n: p.grad.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.item(), grads, plan


def test_the_families_tested_here_are_the_ones_the_engine_claims(parity):
    assert sorted(FAMILIES) == sorted(paths.FAMILIES) == sorted(parity.families)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
@pytest.mark.parametrize("family", FAMILIES)
def test_fast_and_auto_train_as_standard_in_fp32(parity, family, packed):
    model = parity.lora(parity.families[family])
    loss, grads, plan = _loss_and_grads(parity, model, "standard", "fp32", packed)
    assert plan.path == "standard" and not any(p.fast for p in plan.parts.values())
    assert len(grads) >= 2 * 2 * 4 and all(g.norm() > 0 for g in grads.values())
    for engine in ("fast", "auto"):
        other, other_grads, other_plan = _loss_and_grads(parity, model, engine, "fp32", packed)
        assert other_plan.uses("lora_projections") and other_plan.uses("attention"), other_plan.describe()
        assert other == pytest.approx(loss, rel=1e-5), (engine, other_plan.describe())
        assert parity.error(other_grads, grads) < 1e-4, (engine, other_plan.describe())


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
@pytest.mark.parametrize("family", FAMILIES)
def test_fast_under_bf16_stays_within_the_standard_paths_bf16_rounding(parity, family, packed):
    model = parity.lora(parity.families[family])
    loss, reference, _ = _loss_and_grads(parity, model, "standard", "fp32", packed)
    standard_loss, standard, _ = _loss_and_grads(parity, model, "standard", "bf16", packed)
    fast_loss, fast, plan = _loss_and_grads(parity, model, "fast", "bf16", packed)
    assert plan.uses("attention") and plan.uses("loss_head"), plan.describe()
    assert fast_loss == pytest.approx(loss, rel=1e-2) and standard_loss == pytest.approx(loss, rel=1e-2)
    assert parity.error(fast, reference) < max(2 * parity.error(standard, reference), 0.02), plan.describe()


def test_the_fused_decoder_layers_run_for_llama_and_mistral_only(parity):
    for family in FAMILIES:
        plan = paths.plan(parity.lora(parity.families[family]), "fast", "bf16", lora=True, device="cpu")
        assert plan.uses("decoder_layers") == (family in ("llama", "mistral")), (family, plan.describe())


def test_qwen2_biases_reach_the_fused_projections(parity):
    """Before the fused projections added the frozen biases, Qwen2's logits differed from PEFT's by ~0.75."""
    from anchortune.engine import fused_lora

    model = parity.lora(parity.qwen2)
    ids = torch.tensor([[5, 9, 11, 3, 7, 2]])
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        with fused_lora.fused(model):
            fused = model(input_ids=ids).logits
    assert (plain - fused).abs().max() < 1e-5


def test_a_sliding_window_shorter_than_the_row_is_honoured(parity):
    """Gemma 3's sliding layers: a window shorter than the examples changes the loss, and fast follows it."""
    narrow = parity.lora(parity.gemma3)
    wide = parity.lora(parity.gemma3)
    wide.get_base_model().config.sliding_window = 64
    for layer in wide.get_base_model().model.layers:
        if layer.self_attn.sliding_window:
            layer.self_attn.sliding_window = 64
    narrow_loss = _loss_and_grads(parity, narrow, "fast", "fp32", True)[0]
    assert narrow_loss != pytest.approx(_loss_and_grads(parity, wide, "fast", "fp32", True)[0], rel=1e-4)
    assert narrow_loss == pytest.approx(_loss_and_grads(parity, narrow, "standard", "fp32", True)[0], rel=1e-5)


def test_a_family_without_a_parity_test_takes_the_standard_path_and_says_why(parity):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    model = parity.lora(lambda: GPTNeoXForCausalLM(GPTNeoXConfig(
        vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)))
    for engine in ("auto", "fast"):
        plan = paths.plan(model, engine, "bf16", lora=True, device="cpu")
        assert plan.path == "standard"
        assert "gpt_neox" in plan.describe() and "no parity test" in plan.describe()
    loss, grads, _ = _loss_and_grads(parity, model, "standard", "fp32", True)
    fast_loss, fast_grads, _ = _loss_and_grads(parity, model, "fast", "fp32", True)
    assert fast_loss == loss and parity.error(fast_grads, grads) == 0


def test_scaled_logits_keep_the_models_own_head_and_soft_capped_scores_its_own_attention(parity):
    model = parity.lora(lambda: parity.gemma3(final_logit_softcapping=3.0))
    plan = paths.plan(model, "fast", "fp32", lora=True, device="cpu")
    assert not plan.uses("loss_head") and "final_logit_softcapping" in plan.parts["loss_head"].why
    assert plan.uses("attention")
    loss, grads, _ = _loss_and_grads(parity, model, "standard", "fp32", True)
    fast_loss, fast_grads, _ = _loss_and_grads(parity, model, "fast", "fp32", True)
    assert fast_loss == pytest.approx(loss, rel=1e-5) and parity.error(fast_grads, grads) < 1e-4
    model.get_base_model().config.attn_logit_softcapping = 50.0
    plan = paths.plan(model, "fast", "fp32", lora=True, device="cpu")
    assert not plan.uses("attention") and "soft-capped" in plan.parts["attention"].why


def test_auto_keeps_a_gpu_on_the_standard_path_and_fast_claims_only_device_agnostic_parts(parity):
    model = parity.lora(parity.llama)
    auto = paths.plan(model, "auto", "bf16", lora=True, device="cuda")
    assert auto.path == "standard" and "cuda" in auto.describe()
    fast = paths.plan(model, "fast", "bf16", lora=True, device="cuda")
    assert fast.uses("attention") and not fast.uses("kernels") and not fast.uses("page_cache")


def test_leaving_the_engine_keeps_no_patch_and_its_caches_are_the_runs(parity):
    from anchortune.engine import context as context_mod
    from anchortune.engine import packed_attention

    model = parity.lora(parity.llama)
    plan = paths.plan(model, "fast", "bf16", lora=True, device="cpu")
    run = context_mod.EngineContext()  # a run session's (train/session.py)
    with engaged(model, plan, run), autocast("bf16"):
        nll, count = batch_nll(model, parity.row(True), plan)
    (nll / count).backward()
    assert run.casts or run.buffers or run.masks  # what the parts kept is the run's ...
    assert context_mod.current() is None  # ... no one's once it left the engine ...
    run.clear()  # ... and gone when its session closes
    assert not run.casts and not run.buffers and not run.masks
    assert model.get_base_model().config._attn_implementation != packed_attention.NAME
    assert not any("forward" in vars(m) for m in model.modules())


def test_an_unknown_engine_is_refused(parity):
    with pytest.raises(ValueError, match="engine must be one of"):
        paths.plan(parity.lora(parity.llama), "turbo", "fp32", lora=True)
