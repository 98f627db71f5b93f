"""A fine-tuning run on the tiny model: run folder contents, best checkpoint, resume, failure clean-up."""

from __future__ import annotations

import json

import pytest
import yaml

from anchortune.app import chat as app_chat
from anchortune.app import runs as app_runs
from anchortune.config import RunConfig
from anchortune.errors import DataError, RunError


def config(data, model, **overrides) -> RunConfig:
    values = dict(data=str(data), task="support", model=str(model), batch_size=4, max_length=256, precision="fp32",
                  learning_rate=3e-3, max_steps=12, eval_every=3, val_fraction=0.25)
    values.update(overrides)
    return RunConfig.build(**values)


class Interrupt(Exception):
    pass


def test_training_writes_a_complete_run_folder(tmp_path, support_file, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    events = []
    outcome = app_runs.train_run(config(support_file, tiny_model_dir), tmp_path / "run", on_event=events.append)
    run = outcome.folder
    assert (run / "adapter" / "adapter_config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(run / "model")
    assert merged.config.num_hidden_layers == 2 and not hasattr(merged, "peft_config")
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "train_loss" in r]
    eval_rows = [r for r in rows if "valid_loss" in r]
    assert train_rows and {"learning_rate", "tokens_per_s"} <= set(train_rows[0])
    assert [r["step"] for r in eval_rows] == [3, 6, 9, 12]
    best = min(eval_rows, key=lambda r: r["valid_loss"])
    assert outcome.summary["training"]["best_step"] == best["step"]
    assert outcome.summary["losses"]["tuned_valid"] == pytest.approx(best["valid_loss"], rel=0.05)
    assert outcome.summary["losses"]["tuned_valid"] < outcome.summary["losses"]["base_valid"]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["learning_rate"] == 3e-3 and saved["lora_r"] == 16 and saved["task"] == "support"
    card = (run / "README.md").read_text()
    assert "Base model" in card and "Held-out answer loss" in card and "Before and after" in card
    assert {e.kind for e in events} >= {"start", "stage", "progress", "train", "eval", "done"}
    stages = [e.data["stage"] for e in events if e.kind == "stage"]
    assert stages == ["base_eval", "training", "final_eval", "answers", "merging"]  # every phase named, in order
    after_first_eval = [e for e in events[next(i for i, e in enumerate(events) if e.kind == "eval"):]
                        if e.kind == "progress" and e.data.get("stage") == "training"]
    assert after_first_eval and all(e.data["eta_total_s"] >= e.data["eta_s"] for e in after_first_eval)
    last_step = [e for e in events if e.kind == "progress" and e.data.get("stage") == "training"][-1]
    assert last_step.data["eta_s"] == 0 and last_step.data["eta_total_s"] > 0  # the steps are done, the run is not
    assert len(outcome.summary["samples"]) == 3
    answers, verdict = outcome.summary["answers"], outcome.summary["verdict"]
    assert answers["answers"] == 9 and answers["metric"] == "ROUGE-L" and answers["baseline"]["words"]
    assert verdict["loss_verdict"] == outcome.summary["balance"]["diagnosis"]["verdict"]
    assert verdict["verdict"] != "well tuned"  # a 2-layer random model's answers beat no shortcut


def test_resume_continues_from_the_last_checkpoint_without_gaps(tmp_path, support_file, tiny_model_dir):
    run = tmp_path / "run"

    def crash_at_step_8(event):
        if event.kind == "progress" and event.step == 8:
            raise Interrupt

    with pytest.raises(Interrupt):
        app_runs.train_run(config(support_file, tiny_model_dir, eval_every=3), run, on_event=crash_at_step_8)
    assert (run / "checkpoints" / "checkpoint-6").is_dir()
    events = []
    outcome = app_runs.train_run(RunConfig.build(data="ignored-on-resume"), run, resume=True, on_event=events.append)
    start = next(e for e in events if e.kind == "start")
    assert start.data["resumed_from"] == 6
    steps = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 12
    eval_steps = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()
                  if "valid_loss" in l]
    assert eval_steps == [3, 6, 9, 12]
    assert outcome.summary["training"]["steps"] == 12
    seen = {step: json.loads((run / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").read_text())
            ["num_input_tokens_seen"] for step in (6, 12)}
    training = outcome.summary["training"]
    assert training["tokens_trained"] == seen[12]  # the steps before the resume count too
    assert training["tokens_this_start"] == seen[12] - seen[6] > 0


def test_a_run_cut_off_after_its_final_checkpoint_resumes_without_training_a_step_more(tmp_path, support_file,
                                                                                     tiny_model_dir):
    import shutil

    first = app_runs.train_run(config(support_file, tiny_model_dir, max_steps=6), tmp_path / "run")
    run = first.folder
    for path in run.iterdir():  # a crash while exporting: every checkpoint written, no outputs
        if path.name not in ("checkpoints", "config.yaml", "data", "sha256.json", "quality.json", "quality.html",
                             "metrics.jsonl"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    outcome = app_runs.train_run(RunConfig.build(data="ignored-on-resume"), run, resume=True)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 6 and outcome.summary["training"]["steps"] == 6
    assert outcome.summary["balance"]["chosen"] == first.summary["balance"]["chosen"]
    assert (run / "adapter").is_dir() and (run / "summary.json").is_file()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path, support_file, tiny_model_dir):
    def fail_on_start(event):
        if event.kind == "start":
            raise Interrupt

    with pytest.raises(Interrupt):
        app_runs.train_run(config(support_file, tiny_model_dir), tmp_path / "run", on_event=fail_on_start)
    assert not (tmp_path / "run").exists()


def test_bad_anchor_points_stop_the_run_before_anything_is_written(tmp_path, write_lines, tiny_model_dir):
    data = write_lines("bad.jsonl", [{"prompt": "a", "completion": 1}])
    with pytest.raises(DataError, match="line 1, field 'completion'"):
        app_runs.train_run(config(data, tiny_model_dir), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_an_existing_run_folder_is_not_overwritten(tmp_path, support_file, tiny_model_dir):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="--resume"):
        app_runs.train_run(config(support_file, tiny_model_dir), tmp_path / "run")
    assert (tmp_path / "run" / "keep.txt").read_text() == "mine"


def test_resume_without_a_checkpoint_is_refused(tmp_path, support_file, tiny_model_dir):
    with pytest.raises(RunError, match="missing' does not exist"):
        app_runs.train_run(config(support_file, tiny_model_dir), tmp_path / "missing", resume=True)


def test_full_fine_tuning_writes_a_model_and_no_adapter(tmp_path, support_file, tiny_model_dir):
    outcome = app_runs.train_run(config(support_file, tiny_model_dir, method="full", learning_rate=1e-3, max_steps=6),
                                tmp_path / "run")
    assert (outcome.folder / "model" / "model.safetensors").is_file()
    assert not (outcome.folder / "adapter").exists()
    assert outcome.summary["losses"]["tuned_valid"] < outcome.summary["losses"]["base_valid"]


def test_generate_batch_answers_every_prompt_in_order(tmp_path, support_file, tiny_model_dir, write_lines):
    outcome = app_runs.train_run(config(support_file, tiny_model_dir, max_steps=3), tmp_path / "run")
    prompts = write_lines("prompts.jsonl", [{"prompt": "Where is my order?"}, {"prompt": "hello"}])
    rows = app_chat.generate_batch(str(outcome.folder), prompts, max_new_tokens=5)
    assert [r["line"] for r in rows] == [1, 2] and all(isinstance(r["answer"], str) for r in rows)


def test_bf16_runs_train_the_decoder_under_autocast(tmp_path, support_file, tiny_model_dir, monkeypatch):
    """The answer-only loss calls the decoder directly, past accelerate's autocast on model.forward; its
    Llama layers then run as engine/fused_layer.py's one function each, whose products take bf16 inputs
    (normed by the compiled kernels where they load, else by torch's operations)."""
    import torch

    from anchortune.engine import fused_layer, native

    seen = []
    real_rms, real_native_rms = fused_layer._rms, native.rms_forward

    def rms_and_watch(x, weight, eps, dtype):
        out, inv = real_rms(x, weight, eps, dtype)
        seen.append((not torch.is_inference_mode_enabled(), out.dtype))  # evaluation runs in inference mode
        return out, inv

    def native_rms_and_watch(x, weight, eps, residual=None):
        h, out, inv = real_native_rms(x, weight, eps, residual)
        seen.append((not torch.is_inference_mode_enabled(), out.dtype))
        return h, out, inv

    monkeypatch.setattr(fused_layer, "_rms", rms_and_watch)
    monkeypatch.setattr(native, "rms_forward", native_rms_and_watch)
    app_runs.train_run(config(support_file, tiny_model_dir, precision="bf16", max_steps=2, eval_every=2),
                      tmp_path / "run")
    training = [dtype for in_training, dtype in seen if in_training]
    assert training and set(training) == {torch.bfloat16}


def test_fused_layers_rotate_queries_and_keys_with_the_float32_tables(tmp_path, support_file, tiny_model_dir,
                                                                      monkeypatch):
    """Autocast multiplies the bf16 queries and keys by float32 rotary tables and rounds once; the fused
    layers get those tables too, not copies rounded to bf16 first (as a bf16 model's tables are)."""
    import torch

    from anchortune.engine import fused_layer, native

    seen = []
    real_rotate, real_native_rotate = fused_layer._rotate, native.rotate

    def watch(x, cos):  # (training, x's dtype, the table's dtype, the table's values all bf16 numbers)
        seen.append((not torch.is_inference_mode_enabled(), x.dtype, cos.dtype,
                     torch.equal(cos, cos.to(torch.bfloat16).to(cos.dtype))))

    def rotate_and_watch(x, cos, sin):
        watch(x, cos)
        return real_rotate(x, cos, sin)

    def native_rotate_and_watch(rows, cos, sin, heads, dim):
        watch(rows, cos)
        return real_native_rotate(rows, cos, sin, heads, dim)

    monkeypatch.setattr(fused_layer, "_rotate", rotate_and_watch)
    monkeypatch.setattr(native, "rotate", native_rotate_and_watch)
    app_runs.train_run(config(support_file, tiny_model_dir, precision="bf16", max_steps=2, eval_every=2),
                      tmp_path / "run")
    training = [tuple(rest) for in_training, *rest in seen if in_training]
    assert training and set(training) == {(torch.bfloat16, torch.float32, False)}


def test_gradient_checkpointing_trains_to_the_same_losses(tmp_path, support_file, tiny_model_dir):
    """Recomputing activations changes memory, not the numbers (fp32, same seed)."""
    plain = app_runs.train_run(config(support_file, tiny_model_dir, max_steps=4, eval_every=2), tmp_path / "a")
    saved = app_runs.train_run(config(support_file, tiny_model_dir, max_steps=4, eval_every=2,
                                     gradient_checkpointing=True), tmp_path / "b")
    assert yaml.safe_load((saved.folder / "config.yaml").read_text())["gradient_checkpointing"] is True
    assert saved.summary["losses"]["tuned_valid"] == pytest.approx(plain.summary["losses"]["tuned_valid"], rel=1e-4)
    assert saved.summary["losses"]["tuned_valid"] < saved.summary["losses"]["base_valid"]


def test_micro_batches_train_to_the_same_losses_as_whole_batches(tmp_path, support_file, tiny_model_dir):
    """A batch of 4 in micro-batches of 1 adds up to the gradient of the batch in one pass (fp32, same seed)."""
    whole = app_runs.train_run(config(support_file, tiny_model_dir, max_steps=4, eval_every=2, micro_batch_size=4),
                              tmp_path / "a")
    micro = app_runs.train_run(config(support_file, tiny_model_dir, max_steps=4, eval_every=2, micro_batch_size=1),
                              tmp_path / "b")
    rows = [[json.loads(l) for l in (o.folder / "metrics.jsonl").read_text().splitlines()] for o in (whole, micro)]
    train_losses = [[r["train_loss"] for r in rs if "train_loss" in r] for rs in rows]
    assert train_losses[0] == pytest.approx(train_losses[1], rel=1e-4)
    assert micro.summary["losses"]["tuned_valid"] == pytest.approx(whole.summary["losses"]["tuned_valid"], rel=1e-4)
    assert micro.summary["losses"]["tuned_valid"] < micro.summary["losses"]["base_valid"]


def test_the_final_step_is_evaluated_when_the_interval_does_not_reach_it(tmp_path, support_file, tiny_model_dir):
    outcome = app_runs.train_run(config(support_file, tiny_model_dir, max_steps=5, eval_every=2), tmp_path / "run")
    rows = [json.loads(l) for l in (outcome.folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "valid_loss" in r] == [2, 4, 5]
    assert (outcome.folder / "checkpoints" / "checkpoint-5").is_dir()


def test_bf16_runs_hold_frozen_weights_in_bf16_and_export_full_precision(tmp_path, support_file, tiny_model_dir,
                                                                         monkeypatch):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from anchortune.train import adapter

    seen = []
    real_wrap = adapter.wrap_lora

    def wrap_and_watch(model, cfg):
        wrapped = real_wrap(model, cfg)
        layer = wrapped.get_base_model().get_decoder().layers[0]  # its projections run inside the fused layer
        layer.register_forward_hook(
            lambda m, i, o: seen.append((m.training, m.self_attn.q_proj.base_layer.weight.dtype)))
        return wrapped

    monkeypatch.setattr(adapter, "wrap_lora", wrap_and_watch)
    outcome = app_runs.train_run(config(support_file, tiny_model_dir, precision="bf16", max_steps=2, eval_every=2,
                                       patience=0), tmp_path / "run")
    assert {dtype for training, dtype in seen if training} == {torch.bfloat16}
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    merged = AutoModelForCausalLM.from_pretrained(outcome.folder / "model")
    adapter = load_file(str(outcome.folder / "adapter" / "adapter_model.safetensors"))
    a = next(v for k, v in adapter.items() if "layers.0.self_attn.q_proj.lora_A" in k)
    b = next(v for k, v in adapter.items() if "layers.0.self_attn.q_proj.lora_B" in k)
    scale = outcome.summary["training"]["adapter_scale"] * 32 / 16  # lora_alpha / r of the support preset
    expected = base.model.layers[0].self_attn.q_proj.weight + scale * (b @ a)
    got = merged.model.layers[0].self_attn.q_proj.weight
    assert got.dtype == torch.float32 and torch.allclose(got, expected, atol=1e-6)  # merged onto fp32, not bf16


def test_warmup_is_skipped_when_it_would_last_under_three_steps(support_file, tiny_model_dir):
    from anchortune.train.engine import warmup_steps

    cfg = config(support_file, tiny_model_dir, warmup_ratio=0.05)
    assert warmup_steps(cfg, 38) == 0 and warmup_steps(cfg, 60) == 3 and warmup_steps(cfg, 400) == 20


def test_a_training_hands_cached_pages_back_around_every_evaluation(tmp_path, support_file, tiny_model_dir,
                                                                     monkeypatch):
    from anchortune import allocator

    calls = []
    monkeypatch.setattr(allocator, "active", lambda: "libjemalloc.so.2")  # the page cache is jemalloc's part
    monkeypatch.setattr(allocator, "release", lambda: calls.append(1) or True)
    events = []
    app_runs.train_run(config(support_file, tiny_model_dir, max_steps=4, eval_every=2), tmp_path / "run",
                      on_event=events.append)
    evaluations = sum(1 for e in events if e.kind == "eval")
    assert evaluations >= 2 and len(calls) >= 2 * evaluations + 1  # before and after each, and at the end
