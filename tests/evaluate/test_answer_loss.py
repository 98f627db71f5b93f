"""The fused answer-only loss equals plain cross-entropy over full logits, in value and in gradients."""

from __future__ import annotations

import pytest
import torch

from anchortune.data.presets import load_preset
from anchortune.data.tokenize import encode
from anchortune.engine import loss as loss_mod
from anchortune.engine.collate import PadCollator


def plain_nll(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), batch["labels"][:, 1:],
                                             ignore_index=-100, reduction="sum")


@pytest.mark.parametrize("trainable_head", [False, True])
@pytest.mark.parametrize("softmax_rows", [16, 3])
def test_fused_loss_and_gradients_match_plain_cross_entropy(tiny_model_dir, tiny_tokenizer, monkeypatch,
                                                            trainable_head, softmax_rows):
    from transformers import AutoModelForCausalLM

    from anchortune.data.demo_support import support_demo

    monkeypatch.setattr(loss_mod, "CHUNK", 7)  # several chunks of at most 7 positions
    monkeypatch.setattr(loss_mod, "ROWS", softmax_rows)  # softmax over whole chunks, or over parts of them
    examples, _ = encode(support_demo(n_per_intent=1)[:6], load_preset("support"), tiny_tokenizer, 128)
    batch = PadCollator(tiny_tokenizer.pad_token_id)(examples)
    grads = []
    values = []
    for fused in (False, True):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
        model.get_output_embeddings().weight.requires_grad_(trainable_head)
        if fused:
            nll, count = loss_mod.answer_nll(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
            assert count == int((batch["labels"][:, 1:] != -100).sum())
        else:
            nll = plain_nll(model, batch)
        nll.backward()
        values.append(float(nll))
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert values[1] == pytest.approx(values[0], rel=1e-5)
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 10
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("positions", "sizes"), [(15, [5, 5, 5]), (14, [7, 7]), (3, [3]), (16, [6, 6, 4])])
def test_positions_are_split_into_equal_chunks_not_full_ones_and_a_remainder(monkeypatch, positions, sizes):
    seen = []
    real = loss_mod._log_softmax_rows
    monkeypatch.setattr(loss_mod, "_log_softmax_rows", lambda logits, t, grad: seen.append(len(t)) or real(logits, t, grad))
    monkeypatch.setattr(loss_mod, "CHUNK", 7)
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(positions, 8, generator=g, requires_grad=True)
    weight = torch.randn(11, 8, generator=g)
    targets = torch.randint(0, 11, (positions,), generator=g)
    value = loss_mod._linear_cross_entropy().apply(hidden, weight, targets)
    value.backward()
    assert seen == sizes
    reference = torch.nn.functional.cross_entropy(hidden.detach() @ weight.T, targets, reduction="sum")
    assert float(value) == pytest.approx(float(reference), rel=1e-5)


def test_the_head_products_see_rows_padded_with_zeros_and_the_same_numbers(monkeypatch):
    shapes = []
    real_mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda a, b, **kw: shapes.append(a.shape[0]) or real_mm(a, b, **kw))
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(45, 8, generator=g, requires_grad=True)
    weight = torch.randn(11, 8, generator=g, requires_grad=True)
    targets = torch.randint(0, 11, (45,), generator=g)
    loss_mod._linear_cross_entropy().apply(hidden, weight, targets).backward()
    assert shapes == [64]  # 45 positions in a product of 64 rows (PAD_MULTIPLE), not a shape of their own
    reference_h, reference_w = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
    torch.nn.functional.cross_entropy(reference_h @ reference_w.T, targets, reduction="sum").backward()
    torch.testing.assert_close(hidden.grad, reference_h.grad)
    torch.testing.assert_close(weight.grad, reference_w.grad)


def test_answer_loss_under_inference_mode_builds_no_gradients(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    from anchortune.data.demo_support import support_demo

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    examples, _ = encode(support_demo(n_per_intent=1)[:5], load_preset("support"), tiny_tokenizer, 128)
    value = loss_mod.answer_loss(model, examples, tiny_tokenizer.pad_token_id, batch_size=2)
    with torch.no_grad():
        batch = PadCollator(tiny_tokenizer.pad_token_id)(examples)
        reference = plain_nll(model, batch) / int((batch["labels"][:, 1:] != -100).sum())
    assert value == pytest.approx(float(reference), rel=1e-5)


def test_the_reused_logits_buffer_follows_chunk_size_vocabulary_and_precision(monkeypatch):
    from anchortune.engine.context import EngineContext, active

    run = EngineContext()
    with active(run):  # the buffers are the engaged run's
        first = loss_mod._buffer("logits", 600, torch.float32, "cpu")
        assert loss_mod._buffer("logits", 600, torch.float32, "cpu") is first  # reused, not made again
        monkeypatch.setattr(loss_mod, "CHUNK", 7)
        assert loss_mod._buffer("logits", 600, torch.float32, "cpu").shape == (7, 600)
        assert loss_mod._buffer("logits", 601, torch.bfloat16, "cpu").dtype == torch.bfloat16
        with torch.inference_mode():  # made in inference mode, it still takes a training's products
            held = loss_mod._buffer("logits", 602, torch.float32, "cpu")
        assert not held.is_inference()
    assert run.buffers["logits"] is held
    assert loss_mod._buffer("logits", 602, torch.float32, "cpu") is not held  # outside a run nothing is kept
    run.clear()
    assert not run.buffers
