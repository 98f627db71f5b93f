"""Packed attention: each example of a packed row sees only itself, with SDPA's numbers and gradients."""

from __future__ import annotations

import pytest
import torch

from anchortune.engine.loss import answer_nll
from anchortune.engine import packed_attention
from anchortune.engine.collate import PackCollator, PadCollator

EXAMPLES = [{"input_ids": [5, 9, 11, 3, 7, 2], "labels": [-100, -100, 11, 3, 7, 2]},
            {"input_ids": [4, 8, 15, 16], "labels": [-100, 8, 15, 16]},
            {"input_ids": [6, 1, 30, 31, 32, 33, 34], "labels": [-100, -100, -100, 31, 32, 33, 34]}]


def _kernel_and_sdpa(dtype, bounds):
    torch.manual_seed(0)
    width = bounds[-1]
    q = torch.randn(1, 6, width, 8, dtype=dtype, requires_grad=True)  # 6 query heads share 2 key/value heads
    k = torch.randn(1, 2, width, 8, dtype=dtype, requires_grad=True)
    v = torch.randn(1, 2, width, 8, dtype=dtype, requires_grad=True)
    grad = torch.randn(1, width, 6, 8, dtype=dtype)
    packed_attention.register()
    out, _ = packed_attention.attention(None, q, k, v, None, scaling=8 ** -0.5,
                                        cu_seq_lens_q=torch.tensor(bounds, dtype=torch.int32))
    got = [out, *torch.autograd.grad(out, (q, k, v), grad)]
    parts = [torch.nn.functional.scaled_dot_product_attention(q[:, :, s:e].float(), k[:, :, s:e].float(),
                                                              v[:, :, s:e].float(), is_causal=True, enable_gqa=True)
             for s, e in zip(bounds[:-1], bounds[1:])]
    ref = torch.cat(parts, dim=2).transpose(1, 2)
    want = [ref, *torch.autograd.grad(ref, (q, k, v), grad.float())]
    return got, want


@pytest.mark.parametrize("bounds", [[0, 5, 12, 16], [0, 32, 39, 64]])  # segments padded inside, or not
@pytest.mark.parametrize("keep_bytes", [packed_attention.KEEP_BYTES, 0])  # probabilities kept, or recomputed
def test_the_kernel_gives_sdpa_outputs_and_gradients_per_segment(bounds, keep_bytes, monkeypatch):
    monkeypatch.setattr(packed_attention, "KEEP_BYTES", keep_bytes)
    got, want = _kernel_and_sdpa(torch.float32, bounds)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-5), (g - w).abs().max()


def test_the_kernel_in_bf16_stays_within_bf16_rounding_of_sdpa():
    got, want = _kernel_and_sdpa(torch.bfloat16, [0, 5, 12, 16])
    for g, w in zip(got, want):
        assert g.dtype == torch.bfloat16
        assert (g.float() - w).abs().max() <= 0.03 * w.abs().max()


def _nll_and_grads(model, batch, **packing):
    model.zero_grad()
    nll, count = answer_nll(model, batch["input_ids"], batch["attention_mask"], batch["labels"], **packing)
    nll.backward()
    return nll.item(), count, {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_a_packed_row_trains_as_the_padded_batch_of_its_examples(lora_model):
    padded = _nll_and_grads(lora_model, PadCollator(0)(EXAMPLES))
    row = PackCollator(0, multiple=8)(EXAMPLES)
    with packed_attention.packed(lora_model):
        packed = _nll_and_grads(lora_model, row, position_ids=row["position_ids"], cu_seq_lens_q=row["cu_seq_lens_q"])
    assert lora_model.get_base_model().config._attn_implementation != packed_attention.NAME  # put back
    assert packed[0] == pytest.approx(padded[0], rel=1e-5) and packed[1] == padded[1]
    for name, grad in padded[2].items():
        assert torch.allclose(packed[2][name], grad, atol=1e-6, rtol=1e-4), name


def test_without_bounds_the_model_attends_as_with_sdpa(lora_model):
    batch = PadCollator(0)(EXAMPLES)
    before = _nll_and_grads(lora_model, batch)[0]
    with packed_attention.packed(lora_model):
        assert _nll_and_grads(lora_model, batch)[0] == pytest.approx(before, rel=1e-6)


def test_bounds_that_do_not_cover_the_row_are_refused():
    q, k = torch.zeros(1, 2, 8, 4), torch.zeros(1, 1, 8, 4)
    with pytest.raises(ValueError, match="cu_seq_lens_q"):
        packed_attention.attention(None, q, k, k, None, cu_seq_lens_q=torch.tensor([0, 5]))
