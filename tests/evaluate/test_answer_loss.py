"""The fused answer-only loss equals plain cross-entropy over full logits, in value and in gradients."""

from __future__ import annotations

import pytest
import torch

from anchortune.data.presets import load_preset
from anchortune.data.tokenize import encode
from anchortune.evaluate import loss as loss_mod
from anchortune.train.collate import PadCollator


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

    monkeypatch.setattr(loss_mod, "CHUNK", 7)  # several chunks, the last one partial
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
    first = loss_mod._logits_buffer(600, torch.float32, "cpu")
    assert loss_mod._logits_buffer(600, torch.float32, "cpu") is first  # reused, not made again
    monkeypatch.setattr(loss_mod, "CHUNK", 7)
    assert loss_mod._logits_buffer(600, torch.float32, "cpu").shape == (7, 600)
    assert loss_mod._logits_buffer(601, torch.bfloat16, "cpu").dtype == torch.bfloat16
    with torch.inference_mode():  # made in inference mode, it still takes a training's products
        held = loss_mod._logits_buffer(602, torch.float32, "cpu")
    assert not held.is_inference()
