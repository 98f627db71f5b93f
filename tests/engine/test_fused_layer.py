"""The fused decoder layer: the layer's numbers and gradients on packed rows, its own path for anything else."""

from __future__ import annotations

import contextlib

import pytest
import torch

from anchortune.engine import fused_layer, fused_lora, packed_attention, precision
from anchortune.engine.collate import PackCollator

ROW = PackCollator(0, 8)([{"input_ids": [5, 9, 11, 3, 7, 2], "labels": [-100, -100, 11, 3, 7, 2]},
                          {"input_ids": [4, 8, 15, 16, 1, 2, 3], "labels": [-100, 8, 15, 16, 1, 2, 3]}])


@contextlib.contextmanager
def _training_contexts(model, fuse: bool, run=None):
    """The contexts the engine enters, with or without the fused layers (`run`: the run's engine context, which
    counts its optimizer steps); yields how many layers are fused."""
    with contextlib.ExitStack() as stack:
        groups = stack.enter_context(fused_lora.fused(model, run))
        count = stack.enter_context(fused_layer.fused_layers(model, groups)) if fuse else 0
        stack.enter_context(packed_attention.packed(model))
        if not count:  # as the engine: fused layers rotate with the float32 tables themselves
            stack.enter_context(precision.rotary_in_compute_dtype(model))
        yield count


def _loss_and_grads(model, fuse: bool, bf16: bool = False, row=ROW):
    model.zero_grad()
    embeddings = model.get_input_embeddings()
    captured = {}
    hook = embeddings.register_forward_hook(lambda m, i, o: captured.setdefault("h", o.retain_grad() or o))
    embeddings.weight.requires_grad_(True)  # so the first layer's input gradient is formed too
    try:
        with _training_contexts(model, fuse) as count, torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=row["input_ids"], labels=row["labels"], position_ids=row["position_ids"],
                         cu_seq_lens_q=row["cu_seq_lens_q"], use_cache=False).loss
        loss.backward()
    finally:
        hook.remove()
        embeddings.weight.requires_grad_(False)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    grads["input"] = captured["h"].grad.clone()
    return count, loss.item(), grads


def test_fused_layers_give_the_layers_loss_and_gradients(lora_model):
    _, loss, grads = _loss_and_grads(lora_model, fuse=False)
    count, fused_loss, fused_grads = _loss_and_grads(lora_model, fuse=True)
    assert count == 2
    assert fused_loss == pytest.approx(loss, rel=1e-6)
    assert grads.keys() == fused_grads.keys() and len(grads) == 2 * 7 * 2 + 1
    for name, grad in grads.items():
        assert torch.allclose(fused_grads[name], grad, rtol=1e-4, atol=1e-6), name


def test_under_bf16_autocast_fused_layers_stay_within_bf16_rounding(lora_model):
    reference = _loss_and_grads(lora_model, fuse=False)[2]
    layer_bf16 = _loss_and_grads(lora_model, fuse=False, bf16=True)[2]
    fused_bf16 = _loss_and_grads(lora_model, fuse=True, bf16=True)[2]

    def error(grads):
        return max(((grads[n] - g).norm() / g.norm()).item() for n, g in reference.items())

    assert error(fused_bf16) < max(2 * error(layer_bf16), 0.02)


def test_on_the_compiled_kernels_fused_layers_match_their_torch_operations(lora_model, monkeypatch):
    from anchortune.engine import native

    native.reset()
    if native.library() is None:
        pytest.skip(f"compiled kernels unavailable here: {native.describe()}")
    count, loss, grads = _loss_and_grads(lora_model, fuse=True, bf16=True)
    monkeypatch.setenv("ANCHORTUNE_NATIVE", "off")
    native.reset()
    try:
        _, torch_loss, torch_grads = _loss_and_grads(lora_model, fuse=True, bf16=True)
    finally:
        monkeypatch.delenv("ANCHORTUNE_NATIVE")
        native.reset()
    assert count == 2 and loss == pytest.approx(torch_loss, rel=1e-3)
    for name, grad in torch_grads.items():
        assert ((grads[name] - grad).norm() / grad.norm()).item() < 2e-2, name


def test_an_optimizer_step_reaches_the_next_forward(lora_model):
    """The bf16 adapter operands are cached per adapter version: an in-place update must not be missed."""
    param = next(p for n, p in lora_model.named_parameters() if "layers.1.mlp.down_proj.lora_B" in n)
    with _training_contexts(lora_model, fuse=True), torch.no_grad():
        before = lora_model(input_ids=ROW["input_ids"], position_ids=ROW["position_ids"],
                            cu_seq_lens_q=ROW["cu_seq_lens_q"], use_cache=False).logits
        param.add_(0.5)  # as the optimizer's step does: in place
        after = lora_model(input_ids=ROW["input_ids"], position_ids=ROW["position_ids"],
                           cu_seq_lens_q=ROW["cu_seq_lens_q"], use_cache=False).logits
    with _training_contexts(lora_model, fuse=False), torch.no_grad():
        expected = lora_model(input_ids=ROW["input_ids"], position_ids=ROW["position_ids"],
                              cu_seq_lens_q=ROW["cu_seq_lens_q"], use_cache=False).logits
    assert not torch.allclose(before, after, atol=1e-3)
    assert torch.allclose(after, expected, atol=1e-5)


def test_a_fused_adamw_step_reaches_the_next_forward(lora_model):
    """torch's fused AdamW (the Trainer's default) updates the adapters without bumping their versions."""
    from anchortune.engine.context import EngineContext

    params = [p for p in lora_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=0.05, fused=True)
    run = EngineContext()  # the Trainer tells the run's context of each step (train/engine.py, StepCount)
    optimizer.register_step_post_hook(lambda *args: run.stepped())  # this optimizer's own hook, not the process's
    row = {k: ROW[k] for k in ("input_ids", "position_ids", "cu_seq_lens_q")}
    with _training_contexts(lora_model, fuse=True, run=run):
        losses = []
        for _ in range(3):
            loss = lora_model(**row, labels=ROW["labels"], use_cache=False).loss
            losses.append(loss.item())
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        with torch.no_grad():
            fused_logits = lora_model(**row, use_cache=False).logits
    with _training_contexts(lora_model, fuse=False), torch.no_grad():
        expected = lora_model(**row, use_cache=False).logits
    assert losses[2] < losses[0]
    assert torch.allclose(fused_logits, expected, atol=1e-5)


def test_calls_that_are_not_packed_training_rows_take_the_layers_own_forward(lora_model, monkeypatch):
    calls = []
    real = fused_layer._function

    def watched():
        function = real()
        return type("Watched", (), {"apply": staticmethod(lambda *a: calls.append(1) or function.apply(*a))})

    monkeypatch.setattr(fused_layer, "_FN", None)
    monkeypatch.setattr(fused_layer, "_function", watched)
    batch = {"input_ids": torch.tensor([[5, 9, 11, 3], [4, 8, 15, 16]]),
             "attention_mask": torch.ones(2, 4, dtype=torch.long)}
    with torch.no_grad():
        plain = lora_model(**batch).logits
        with _training_contexts(lora_model, fuse=True):
            padded = lora_model(**batch).logits  # a padded batch (generation, evaluation without packing)
            cached = lora_model(input_ids=ROW["input_ids"], position_ids=ROW["position_ids"],
                                cu_seq_lens_q=ROW["cu_seq_lens_q"], use_cache=True).logits  # with a KV cache
    assert calls == [] and torch.allclose(plain, padded, atol=1e-6) and cached.shape[1] == ROW["input_ids"].shape[1]
    with _training_contexts(lora_model, fuse=True), torch.no_grad():
        lora_model(input_ids=ROW["input_ids"], position_ids=ROW["position_ids"], cu_seq_lens_q=ROW["cu_seq_lens_q"],
                   use_cache=False)
    assert len(calls) == 2  # a packed row: both layers fused


def test_unknown_layers_are_left_alone_and_leaving_restores_the_forward():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, hidden_act="gelu")
    gelu = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with fused_lora.fused(gelu) as groups, fused_layer.fused_layers(gelu, groups) as count:
        assert count == 0  # the fused function computes SiLU's SwiGLU only
    config.hidden_act = "silu"
    silu = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with fused_lora.fused(silu) as groups, fused_layer.fused_layers(silu, groups) as count:
        assert count == 0  # LoRA on two projections only: the layers keep their own forward
    silu = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    layer = silu.get_base_model().model.layers[0]
    with fused_lora.fused(silu) as groups, fused_layer.fused_layers(silu, groups) as count:
        assert count == 2 and "forward" in vars(layer)
    assert "forward" not in vars(layer)


OTHER_ROW = PackCollator(0, 8)([{"input_ids": [7, 3, 9, 12, 5, 6, 1, 2, 4],
                                 "labels": [-100, -100, -100, 12, 5, 6, 1, 2, 4]},
                                {"input_ids": [6, 2, 13], "labels": [-100, 2, 13]},
                                {"input_ids": [8, 8, 3, 10, 11], "labels": [-100, -100, 3, 10, 11]}])


def _row_loss(model, row):
    return model(input_ids=row["input_ids"], labels=row["labels"], position_ids=row["position_ids"],
                 cu_seq_lens_q=row["cu_seq_lens_q"], use_cache=False).loss


def _accumulated_grads(model, fuse: bool, schedule):
    """Adapter gradients after `schedule(loss_of_row)`, which runs forwards and backwards in its own order."""
    model.zero_grad()
    with _training_contexts(model, fuse):
        schedule(lambda row: _row_loss(model, row))
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_micro_batches_one_after_another_accumulate_the_layers_gradients(lora_model):
    def one_after_another(loss_of):
        for row in (ROW, OTHER_ROW, ROW):
            loss_of(row).backward()

    expected = _accumulated_grads(lora_model, False, one_after_another)
    got = _accumulated_grads(lora_model, True, one_after_another)
    for name, grad in expected.items():
        assert torch.allclose(got[name], grad, rtol=1e-4, atol=1e-6), name


def test_forwards_before_their_backwards_keep_their_own_activations(lora_model):
    def both_then_backward(loss_of):
        (loss_of(ROW) + loss_of(OTHER_ROW)).backward()

    expected = _accumulated_grads(lora_model, False, both_then_backward)
    got = _accumulated_grads(lora_model, True, both_then_backward)
    for name, grad in expected.items():
        assert torch.allclose(got[name], grad, rtol=1e-4, atol=1e-6), name
