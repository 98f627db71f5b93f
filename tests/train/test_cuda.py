"""The engine on a CUDA GPU: the standard path, and the fast parts that claim any device, train the tiny models
there to the CPU's loss and LoRA gradients. Skipped where there is no GPU (CI never has one)."""

from __future__ import annotations

import pytest
import torch

from anchortune.engine.engaged import engaged
from anchortune.engine.loss import autocast
from anchortune.engine import paths
from anchortune.train.engine import batch_nll

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")]


def _run(parity, model, engine: str, precision: str, device: str, packed: bool):
    model.to(device)
    plan = paths.plan(model, engine, precision, lora=True, device=device)
    model.zero_grad()
    row = {k: v.to(device) for k, v in parity.row(packed).items()}
    with engaged(model, plan), autocast(precision, device):
        nll, count = batch_nll(model, row, plan)
        loss = nll / count
    loss.backward()
    grads = {n: p.grad.detach().float().cpu() for n, p in model.named_parameters() if p.requires_grad}
    return loss.item(), grads, plan


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma3_text", "mistral"])
@pytest.mark.parametrize("engine", ["standard", "fast", "auto"])
def test_the_gpu_trains_the_tiny_models_as_the_cpu_does(parity, family, engine, packed):
    model = parity.lora(parity.families[family])
    cpu_loss, cpu_grads, _ = _run(parity, model, "standard", "fp32", "cpu", packed)
    loss, grads, plan = _run(parity, model, engine, "fp32", "cuda", packed)
    if engine == "auto":
        assert plan.path == "standard"  # nothing fast is proven faster on a GPU
    assert loss == pytest.approx(cpu_loss, rel=1e-4), plan.describe()
    assert parity.error(grads, cpu_grads) < 1e-3, plan.describe()  # TF32 products may run on the GPU
    bf16_loss, bf16_grads, _ = _run(parity, model, engine, "bf16", "cuda", packed)
    assert bf16_loss == pytest.approx(cpu_loss, rel=2e-2) and parity.error(bf16_grads, cpu_grads) < 0.05


def test_a_run_trains_end_to_end_on_the_gpu(tmp_path, support_file, tiny_model_dir):
    from anchortune.app import runs as app_runs
    from anchortune.config import RunConfig

    cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), batch_size=4,
                          max_length=256, learning_rate=3e-3, max_steps=6, eval_every=3, val_fraction=0.25)
    outcome = app_runs.train_run(cfg, tmp_path / "run")
    engine = outcome.summary["training"]["engine"]
    assert engine["device"] == "cuda" and engine["path"] == "standard"
    assert outcome.summary["losses"]["tuned_valid"] < outcome.summary["losses"]["base_valid"]
