"""The compiled training kernels: the numbers of the torch operations they replace, and a clean fallback."""

from __future__ import annotations

import contextlib

import pytest
import torch

from anchortune.engine import loss as loss_mod
from anchortune.engine import fused_layer, native

BF16 = torch.bfloat16


@pytest.fixture(params=["default", "portable"])
def kernels(request, monkeypatch):
    """The library as built for this CPU, and built with -DAT_PORTABLE (the plain loops that any CPU runs,
    where the default build takes AVX-512 intrinsics): each test checks both against torch."""
    if request.param == "portable":
        monkeypatch.setattr(native, "FLAGS", (*native.FLAGS, "-DAT_PORTABLE"))
    native.reset()
    if native.library() is None:
        pytest.skip(f"compiled kernels unavailable here: {native.describe()}")
    yield native.library()
    native.reset()


@contextlib.contextmanager
def _torch_path(monkeypatch):
    """The callers' torch operations: the kernels switched off as a user does (ANCHORTUNE_NATIVE=off)."""
    monkeypatch.setenv("ANCHORTUNE_NATIVE", "off")
    native.reset()
    try:
        yield
    finally:
        monkeypatch.delenv("ANCHORTUNE_NATIVE")
        native.reset()


def _bf16_agree(got, expected, share: float = 2e-3):
    """bf16 results equal but for a few values one rounding step apart (exp and sums differ in the last bit)."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    differ = got != expected
    assert differ.float().mean().item() <= share
    if differ.any():
        step = expected.float().abs()[differ] * 2 ** -7 + 1e-30
        assert ((got.float() - expected.float()).abs()[differ] <= step * 1.01).all()


def test_norm_forward_with_and_without_the_residual_sum(kernels):
    g = torch.Generator().manual_seed(1)
    x, o = torch.randn(96, 576, generator=g), torch.randn(96, 576, generator=g).to(BF16)
    weight = torch.rand(576, generator=g) + 0.5
    _, n, inv = native.rms_forward(x, weight, 1e-5)
    ref_n, ref_inv = fused_layer._rms(x, weight, 1e-5, BF16)
    _bf16_agree(n, ref_n)
    assert torch.allclose(inv, ref_inv, rtol=1e-6)
    h, n2, inv2 = native.rms_forward(x, weight, 1e-5, residual=o)
    ref_h = torch.add(x, o)
    ref_n2, ref_inv2 = fused_layer._rms(ref_h, weight, 1e-5, BF16)
    assert torch.equal(h, ref_h)
    _bf16_agree(n2, ref_n2)
    assert torch.allclose(inv2, ref_inv2, rtol=1e-6)


def test_norm_gradient_with_the_residual_gradient_added_in_place(kernels):
    g = torch.Generator().manual_seed(2)
    x, grad = torch.randn(64, 576, generator=g), torch.randn(64, 576, generator=g).to(BF16)
    weight, add = torch.rand(576, generator=g) + 0.5, torch.randn(64, 576, generator=g)
    inv = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)
    expected = fused_layer._rms_backward(grad, x, inv, weight).add_(add)
    out, low = native.rms_backward(grad, x, inv, weight, add=add, as_bf16=True)
    assert torch.allclose(out, expected, rtol=1e-4, atol=1e-5)
    _bf16_agree(low, out.to(BF16), share=0.0)
    native.rms_backward(grad, x, inv, weight, add=add, out=add)  # in place, as the layer's input gradient
    assert torch.allclose(add, expected, rtol=1e-4, atol=1e-5)


def test_rotary_embedding_and_its_gradient_on_strided_rows(kernels):
    g = torch.Generator().manual_seed(3)
    tokens, heads, dim = 40, 5, 64
    qkv = torch.randn(tokens, (heads + 2) * dim, generator=g).to(BF16)  # rotated heads, then values
    angle = torch.randn(tokens, dim // 2, generator=g)
    cos, sin = torch.cat([angle.cos()] * 2, -1), torch.cat([angle.sin()] * 2, -1)  # float32, as autocast has them
    rows = qkv[:, :heads * dim]
    expected = fused_layer._rotate(rows.view(tokens, heads, dim), cos, sin)
    got = native.rotate(rows, cos, sin, heads, dim)
    _bf16_agree(got, expected)
    x, half = rows.view(tokens, heads, dim).double(), dim // 2  # the exact rotation, rounded to bf16 once
    c, s = cos.double()[:, None, :half], sin.double()[:, None, :half]
    exact = torch.cat([x[..., :half] * c - x[..., half:] * s, x[..., half:] * c + x[..., :half] * s], -1).to(BF16)
    _bf16_agree(got, exact, share=1e-3)
    grad = torch.randn(tokens, heads, dim, generator=g).to(BF16)
    into, ref_into = torch.zeros_like(qkv), torch.zeros_like(qkv)
    fused_layer._rotate_backward(grad, cos, sin, ref_into[:, :heads * dim].view(tokens, heads, dim))
    native.rotate_backward(grad, cos, sin, into[:, :heads * dim])
    _bf16_agree(into, ref_into)
    assert not into[:, heads * dim:].any()  # the value columns are left alone
    with pytest.raises(ValueError, match="contiguous"):
        native.rotate(qkv.T, cos, sin, heads, dim)


def test_swiglu_product_and_gradient(kernels):
    g = torch.Generator().manual_seed(4)
    gu = (torch.randn(50, 2 * 1536, generator=g) * 3).to(BF16)
    grad_act = torch.randn(50, 1536, generator=g).to(BF16)
    gate, up = gu[:, :1536], gu[:, 1536:]
    silu = torch.nn.functional.silu(gate)
    expected_act = silu * up
    _bf16_agree(native.swiglu(gu), expected_act)
    expected = torch.empty_like(gu)
    torch.ops.aten.silu_backward.grad_input(torch.mul(grad_act, up, out=expected[:, :1536]), gate,
                                            grad_input=expected[:, :1536])
    torch.mul(grad_act, silu, out=expected[:, 1536:])
    act, grad = native.swiglu_backward(gu, grad_act)
    _bf16_agree(act, expected_act)
    _bf16_agree(grad, expected)


def test_causal_attention_probabilities_and_their_gradient_keep_the_scores_in_float32(kernels):
    g = torch.Generator().manual_seed(8)
    kv, groups, n, dim, scale = 2, 3, 48, 64, 0.125  # 2 key/value heads, 3 query heads each
    q = (torch.randn(kv, groups * n, dim, generator=g) * 2).to(BF16)
    k = (torch.randn(kv, n, dim, generator=g) * 2).to(BF16)
    v, grad = torch.randn(kv, n, dim, generator=g).to(BF16), torch.randn(kv, groups * n, dim, generator=g).to(BF16)
    upper = torch.ones(n, n, dtype=torch.bool).triu_(1).repeat(groups, 1)
    scores = (q.double() @ k.double().transpose(1, 2)) * scale
    exact = torch.softmax(scores.masked_fill(upper, float("-inf")), -1)
    got = native.causal_probabilities(q, k, scale)
    _bf16_agree(got, exact.to(BF16), share=0.02)  # float32 scores: the exact probabilities, rounded once
    assert not got[:, upper].any()  # no weight on a later key
    bf16_scores = torch.bmm(q, k.transpose(1, 2))  # what a bf16 product hands a softmax
    rounded = torch.softmax((bf16_scores.float() * scale).masked_fill(upper, float("-inf")), -1)
    assert (got.double() - exact).norm() < 0.5 * (rounded.double() - exact).norm()
    p = got.double()
    dp = grad.double() @ v.double().transpose(1, 2)
    exact_grad = p * (dp - (dp * p).sum(-1, keepdim=True))
    got_grad = native.causal_probabilities_backward(grad, v, got)
    _bf16_agree(got_grad, exact_grad.to(BF16), share=0.02)
    assert not got_grad[:, upper].any()
    with pytest.raises(ValueError, match="multiples of 16"):
        native.causal_probabilities(q[:, :groups * 40], k[:, :40], scale)


def test_softmax_cross_entropy_value_and_gradient(kernels):
    g = torch.Generator().manual_seed(5)
    logits = (torch.randn(37, 5000, generator=g) * 4).to(BF16)
    targets = torch.randint(0, 5000, (37,), generator=g)
    expected_rows = logits.clone()
    expected = float(loss_mod._log_softmax_rows(expected_rows, targets, grad=True))
    got_rows = logits.clone()
    got = native.softmax_xent(got_rows, targets, grad=True)
    assert got == pytest.approx(expected, rel=1e-5)
    _bf16_agree(got_rows, expected_rows)
    untouched = logits.clone()
    assert native.softmax_xent(untouched, targets, grad=False) == pytest.approx(expected, rel=1e-5)
    assert torch.equal(untouched, logits)


def test_the_answer_loss_is_the_torch_paths_and_bad_targets_get_torchs_error(kernels, monkeypatch):
    g = torch.Generator().manual_seed(6)
    weight = torch.randn(3000, 64, generator=g) * 0.1
    targets = torch.randint(0, 3000, (300,), generator=g)  # more than one chunk of the LM head

    def loss_and_grad(target):
        hidden = torch.randn(300, 64, generator=torch.Generator().manual_seed(7), requires_grad=True)
        with torch.autocast("cpu", dtype=BF16):
            total = loss_mod._linear_cross_entropy().apply(hidden, weight, target)
        total.backward()
        return total.item(), hidden.grad

    value, grad = loss_and_grad(targets)
    with _torch_path(monkeypatch):
        expected, expected_grad = loss_and_grad(targets)
    assert value == pytest.approx(expected, rel=1e-5)
    assert ((grad - expected_grad).norm() / expected_grad.norm()).item() < 1e-2
    native.library()
    with pytest.raises((IndexError, RuntimeError)):
        loss_and_grad(torch.full((300,), 3000))


def test_without_a_compiler_training_falls_back_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("ANCHORTUNE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler-here")
    native.reset()
    try:
        assert native.library() is None and "no C compiler" in native.describe()
        monkeypatch.setenv("CC", "false")  # a compiler that fails: no library, no half-written file
        native.reset()
        assert native.library() is None and "failed" in native.describe()
        assert not list((tmp_path / "native").glob("*"))
        monkeypatch.setenv("ANCHORTUNE_NATIVE", "off")
        native.reset()
        assert native.library() is None and native.describe() == "torch (off (ANCHORTUNE_NATIVE))"
    finally:
        native.reset()
