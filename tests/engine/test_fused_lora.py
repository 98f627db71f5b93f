"""Fused LoRA projections: PEFT's numbers and gradients, fewer operations, and everything put back afterwards."""

from __future__ import annotations

import contextlib

import pytest
import torch

from anchortune.engine.collate import PadCollator
from anchortune.engine.fused_lora import fused


def _loss_and_grads(model, context, bf16: bool = False):
    model.zero_grad()
    batch = PadCollator(0)([{"input_ids": [5, 9, 11, 3, 7, 2], "labels": [-100, -100, 11, 3, 7, 2]},
                            {"input_ids": [4, 8, 15, 16], "labels": [-100, 8, 15, 16]}])
    with context, torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(**batch).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_fused_projections_give_peft_loss_and_gradients(lora_model):
    loss, grads = _loss_and_grads(lora_model, contextlib.nullcontext())
    with fused(lora_model) as groups:
        assert len(set(groups.values())) == 2 * 4  # per layer: q/k/v, gate/up, o, down
        fused_loss, fused_grads = _loss_and_grads(lora_model, contextlib.nullcontext())
    assert fused_loss == pytest.approx(loss, rel=1e-6)
    assert grads.keys() == fused_grads.keys() and len(grads) == 2 * 7 * 2
    for name, grad in grads.items():
        assert torch.allclose(fused_grads[name], grad, rtol=1e-4, atol=1e-6), name


def test_under_bf16_autocast_fused_stays_within_bf16_rounding_of_peft(lora_model):
    reference = _loss_and_grads(lora_model, contextlib.nullcontext())[1]
    peft_bf16 = _loss_and_grads(lora_model, contextlib.nullcontext(), bf16=True)[1]
    fused_bf16 = _loss_and_grads(lora_model, fused(lora_model), bf16=True)[1]

    def error(grads):
        return max(((grads[n] - g).norm() / g.norm()).item() for n, g in reference.items())

    assert error(fused_bf16) < max(2 * error(peft_bf16), 0.02)


def test_leaving_restores_peft_forward_and_separate_weights(lora_model):
    layer = lora_model.base_model.model.model.layers[0].self_attn.q_proj
    before = layer.base_layer.weight.detach().clone()
    with fused(lora_model):
        assert "forward" in vars(layer)
        assert layer.base_layer.weight.untyped_storage().nbytes() > before.numel() * before.element_size()
    assert "forward" not in vars(layer)
    assert layer.base_layer.weight.untyped_storage().nbytes() == before.numel() * before.element_size()
    assert torch.equal(layer.base_layer.weight, before)


def test_a_disabled_adapter_takes_the_base_path(lora_model):
    batch = {"input_ids": torch.tensor([[5, 9, 11, 3]])}
    with torch.no_grad(), lora_model.disable_adapter():
        base = lora_model(**batch).logits
    with torch.no_grad(), fused(lora_model), lora_model.disable_adapter():
        fused_base = lora_model(**batch).logits
    with torch.no_grad(), fused(lora_model):
        tuned = lora_model(**batch).logits
    assert torch.allclose(base, fused_base, atol=1e-6) and not torch.allclose(base, tuned, atol=1e-3)
