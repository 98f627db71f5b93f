"""TRL's fused LM head on a CPU scores only the positions with a label (libraries.py): the answer tokens' log-
probabilities and their gradients are those of the model's own logits, for every family the engine knows, with a
LoRA adapter as DPO, ORPO and GRPO train it; and the head is handed those positions, not the whole batch."""

from __future__ import annotations

import pytest
import torch

from anchortune import libraries


def _batch(vocab: int):
    """Three rows of other lengths, right-padded: a prompt without labels, answer tokens with them, padding after."""
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(1, vocab, (3, 14), generator=generator)
    labels, mask = ids.clone(), torch.ones_like(ids)
    for row, (prompt, length) in enumerate(((5, 14), (3, 9), (8, 12))):
        labels[row, :prompt] = -100
        labels[row, length:] = -100
        mask[row, length:] = 0
    return ids, mask, labels


def _plain(model, ids, mask, labels) -> torch.Tensor:
    """Each next token's log-probability from the model's own forward and logits (zero where there is no label)."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target = labels[:, 1:]
    chosen = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return chosen.masked_fill(target == -100, 0.0)


@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3", "gemma3_text", "mistral", "phi3"])
def test_the_fused_head_on_answer_positions_gives_the_models_own_log_probs_and_gradients(parity, family, monkeypatch):
    from trl.trainer import utils

    libraries.trl_head_on_labelled_positions()  # as a preference or reinforcement run sets it
    assert utils._use_triton(torch.device("cpu")), "TRL's head scores every position on a CPU again"
    model = parity.lora(parity.families[family])
    model.eval()  # no dropout: the two passes see the same network
    ids, mask, labels = _batch(model.config.vocab_size)
    reference = _plain(model, ids, mask, labels)
    reference.sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()

    scored = []
    apply = utils._ChunkedLogProbFunction.apply
    monkeypatch.setattr(utils._ChunkedLogProbFunction, "apply",
                        lambda hidden, *rest: scored.append(hidden.shape[0]) or apply(hidden, *rest))
    utils.add_fused_lm_head(model.get_base_model(), outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    fused = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True).log_probs
    assert scored == [int((labels[:, 1:] != -100).sum())]  # the labelled positions, not 3 x 13
    assert torch.allclose(fused, reference, atol=2e-5), (fused - reference).abs().max()
    fused.sum().backward()
    assert parity.error({n: p.grad for n, p in model.named_parameters() if p.requires_grad}, expected) < 1e-4
