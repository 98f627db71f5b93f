"""Parity of the engine's paths: for every model family the fast parts claim, `fast` and `auto` give the loss and
LoRA gradients of `standard` (plain transformers + PEFT) on packed and padded rows, in fp32 and under bf16
autocast; a family or feature the fast parts do not cover takes the standard path, and says so.

Tolerances: fp32, loss within 1e-5 relative and every gradient within 1e-4 of the standard one relative to its
norm (the same products summed in another order). bf16: every gradient no further from the fp32 standard
gradient than twice the standard path's own bf16 error (or 2 %), the loss within 1 %.
"""

from __future__ import annotations

import pytest
import torch

from anchortune.train import paths
from anchortune.train.collate import PackCollator, PadCollator
from anchortune.train.engine import batch_nll
from anchortune.evaluate.loss import autocast

SMALL = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256)
WINDOW = 4  # sliding windows shorter than the test's examples (6 to 11 tokens)


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(**SMALL))


def _qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = Qwen2ForCausalLM(Qwen2Config(**SMALL))
    for name, param in model.named_parameters():
        if name.endswith("bias"):  # Qwen2's q/k/v biases, random and far from zero
            param.data.normal_(std=0.5)
    return model


def _qwen3():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return Qwen3ForCausalLM(Qwen3Config(**SMALL, head_dim=16))


def _gemma3(**extra):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(**SMALL, head_dim=16, sliding_window=WINDOW, query_pre_attn_scalar=16,
                              layer_types=["sliding_attention", "full_attention"], **extra)
    model = Gemma3ForCausalLM(config)
    for name, param in model.named_parameters():
        if "norm" in name:  # Gemma's norms start at zero (weight 1 + w): move them, q/k norms included
            param.data.normal_(std=0.3)
    return model


def _mistral():
    from transformers import MistralConfig, MistralForCausalLM

    return MistralForCausalLM(MistralConfig(**SMALL, sliding_window=WINDOW))


def _phi3():
    from transformers import Phi3Config, Phi3ForCausalLM

    return Phi3ForCausalLM(Phi3Config(**SMALL, pad_token_id=0))


FAMILIES = {"llama": _llama, "qwen2": _qwen2, "qwen3": _qwen3, "gemma3_text": _gemma3, "mistral": _mistral,
            "phi3": _phi3}


def _lora(build):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(build(), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero; a trained adapter has not
            param.data.normal_(std=0.1)
    return model


def _examples():
    generator = torch.Generator().manual_seed(1)
    out = []
    for length, prompt in ((9, 3), (6, 2), (11, 4)):
        ids = torch.randint(1, 96, (length,), generator=generator).tolist()
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def _row(packed: bool) -> dict:
    return PackCollator(0, 8)(_examples()) if packed else PadCollator(0)(_examples())


def _loss_and_grads(model, engine: str, precision: str, packed: bool):
    plan = paths.plan(model, engine, precision, lora=True, device="cpu")
    model.zero_grad()
    row = _row(packed)
    with paths.engaged(model, plan), autocast(precision):
        nll, count = batch_nll(model, row, plan)
        loss = nll / count
    loss.backward()
    grads = {n: p.grad.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.item(), grads, plan


def _error(grads, reference) -> float:
    return max(((grads[n] - g).norm() / g.norm()).item() for n, g in reference.items())


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_fast_and_auto_train_as_standard_in_fp32(family, packed):
    model = _lora(FAMILIES[family])
    loss, grads, plan = _loss_and_grads(model, "standard", "fp32", packed)
    assert plan.path == "standard" and not any(p.fast for p in plan.parts.values())
    assert len(grads) >= 2 * 2 * 4 and all(g.norm() > 0 for g in grads.values())
    for engine in ("fast", "auto"):
        other, other_grads, other_plan = _loss_and_grads(model, engine, "fp32", packed)
        assert other_plan.uses("lora_projections") and other_plan.uses("attention"), other_plan.describe()
        assert other == pytest.approx(loss, rel=1e-5), (engine, other_plan.describe())
        assert _error(other_grads, grads) < 1e-4, (engine, other_plan.describe())


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_fast_under_bf16_stays_within_the_standard_paths_bf16_rounding(family, packed):
    model = _lora(FAMILIES[family])
    loss, reference, _ = _loss_and_grads(model, "standard", "fp32", packed)
    standard_loss, standard, _ = _loss_and_grads(model, "standard", "bf16", packed)
    fast_loss, fast, plan = _loss_and_grads(model, "fast", "bf16", packed)
    assert plan.uses("attention") and plan.uses("loss_head"), plan.describe()
    assert fast_loss == pytest.approx(loss, rel=1e-2) and standard_loss == pytest.approx(loss, rel=1e-2)
    assert _error(fast, reference) < max(2 * _error(standard, reference), 0.02), plan.describe()


def test_the_fused_decoder_layers_run_for_llama_and_mistral_only():
    for family in FAMILIES:
        plan = paths.plan(_lora(FAMILIES[family]), "fast", "bf16", lora=True, device="cpu")
        assert plan.uses("decoder_layers") == (family in ("llama", "mistral")), (family, plan.describe())


def test_qwen2_biases_reach_the_fused_projections():
    """Before the fused projections added the frozen biases, Qwen2's logits differed from PEFT's by ~0.75."""
    from anchortune.train import fused_lora

    model = _lora(_qwen2)
    ids = torch.tensor([[5, 9, 11, 3, 7, 2]])
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        with fused_lora.fused(model):
            fused = model(input_ids=ids).logits
    assert (plain - fused).abs().max() < 1e-5


def test_a_sliding_window_shorter_than_the_row_is_honoured():
    """Gemma 3's sliding layers: a window shorter than the examples changes the loss, and fast follows it."""
    narrow = _lora(_gemma3)
    wide = _lora(_gemma3)
    wide.get_base_model().config.sliding_window = 64
    for layer in wide.get_base_model().model.layers:
        if layer.self_attn.sliding_window:
            layer.self_attn.sliding_window = 64
    narrow_loss = _loss_and_grads(narrow, "fast", "fp32", True)[0]
    assert narrow_loss != pytest.approx(_loss_and_grads(wide, "fast", "fp32", True)[0], rel=1e-4)
    assert narrow_loss == pytest.approx(_loss_and_grads(narrow, "standard", "fp32", True)[0], rel=1e-5)


def test_a_family_without_a_parity_test_takes_the_standard_path_and_says_why():
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    model = _lora(lambda: GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=96, hidden_size=64, intermediate_size=128,
                                                           num_hidden_layers=2, num_attention_heads=4)))
    for engine in ("auto", "fast"):
        plan = paths.plan(model, engine, "bf16", lora=True, device="cpu")
        assert plan.path == "standard"
        assert "gpt_neox" in plan.describe() and "no parity test" in plan.describe()
    loss, grads, _ = _loss_and_grads(model, "standard", "fp32", True)
    fast_loss, fast_grads, _ = _loss_and_grads(model, "fast", "fp32", True)
    assert fast_loss == loss and _error(fast_grads, grads) == 0


def test_scaled_logits_keep_the_models_own_head_and_soft_capped_scores_its_own_attention():
    model = _lora(lambda: _gemma3(final_logit_softcapping=3.0))
    plan = paths.plan(model, "fast", "fp32", lora=True, device="cpu")
    assert not plan.uses("loss_head") and "final_logit_softcapping" in plan.parts["loss_head"].why
    assert plan.uses("attention")
    loss, grads, _ = _loss_and_grads(model, "standard", "fp32", True)
    fast_loss, fast_grads, _ = _loss_and_grads(model, "fast", "fp32", True)
    assert fast_loss == pytest.approx(loss, rel=1e-5) and _error(fast_grads, grads) < 1e-4
    model.get_base_model().config.attn_logit_softcapping = 50.0
    plan = paths.plan(model, "fast", "fp32", lora=True, device="cpu")
    assert not plan.uses("attention") and "soft-capped" in plan.parts["attention"].why


def test_auto_keeps_a_gpu_on_the_standard_path_and_fast_claims_only_device_agnostic_parts():
    model = _lora(_llama)
    auto = paths.plan(model, "auto", "bf16", lora=True, device="cuda")
    assert auto.path == "standard" and "cuda" in auto.describe()
    fast = paths.plan(model, "fast", "bf16", lora=True, device="cuda")
    assert fast.uses("attention") and not fast.uses("kernels") and not fast.uses("page_cache")


def test_leaving_the_engine_keeps_no_cache_and_no_patch():
    from anchortune.evaluate import loss as loss_mod
    from anchortune.train import packed_attention

    model = _lora(_llama)
    _loss_and_grads(model, "fast", "bf16", True)
    assert not loss_mod._CASTS and not hasattr(loss_mod._BUFFERS, "logits") and not packed_attention._MASKS
    base = model.get_base_model()
    assert base.config._attn_implementation != packed_attention.NAME
    assert not any("forward" in vars(m) for m in model.modules())


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine must be one of"):
        paths.plan(_lora(_llama), "turbo", "fp32", lora=True)
