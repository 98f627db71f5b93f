"""Training throughput: TRL's SFTTrainer + PEFT LoRA as its documentation has it, against anchortune's engine.

    python bench/train_throughput.py [--rows 300] [--heldout 100] [--epochs 1] [--lr 2e-4] [--rank 16]
                                     [--batch 8] [--seeds 0,1,2]
                                     [--sides trl,anchortune,anchortune_torch_ops,generation,fidelity]
                                     [--out bench/results]

One script, one machine, side by side, each trainer in a child process of its own (so its peak RSS is
its own): (a) TRL `SFTTrainer` with its defaults (bf16, gradient checkpointing, no packing, batches in
random order), a prompt-completion dataset (so it trains on answers only, as anchortune does), PEFT
LoRA on all linear layers; (b) anchortune's `train_run` with the same model, rows, epochs, learning
rate, rank and batch size (validation from a separate file, so both train on the same rows).
Per side: trained tokens/s (non-padding tokens, training time only), wall time from process start to
the finished model on disk, peak RSS up to that point, MFU against the bf16 (or fp32) matmul peak measured in this
script just before the run (and against the one measured at its start), and held-out answer loss measured the same way for both tuned models (the trained adapter over the
base model, in the training precision; anchortune's merged export is measured too, apart). Then batched KV-cache
generation against one-prompt-at-a-time generation of the same prompts. Then gradient accuracy (`side_fidelity`):
a few batches' LoRA gradients as each side computes them, against float64.
What "equal held-out loss" can mean here: both sides train on the same batches with the same schedule and
LoRA start, so they differ only in the last bits of their arithmetic, and a 38-step bf16 run amplifies those
into held-out differences of a few 1e-4. `anchortune_torch_ops` measures that noise in the same script: the
anchortune run again with torch's operations in place of the compiled kernels (ANCHORTUNE_NATIVE=off: the
same arithmetic up to the last bits of exp and sums, and bf16-rounded attention scores), seed by seed.

Model FLOPs (for MFU), as PaLM's accounting counts them (Chowdhery et al. 2022, appendix B: the
weights' products and the attention products, forward and backward, no recompute) for a LoRA run:
4 x the frozen weights of the transformer blocks' linear layers per trained token (forward and the
gradient to the activations: frozen weights get no gradient), 6 x the LoRA weights per trained token
(forward, activations and weight gradients), 4 x hidden x vocabulary for the LM head per answer token
(the loss needs it nowhere else), and 12 x heads x head size per layer for every causal query-key pair
of an example (scores and weighted values, forward and the three backward products; a causal model
needs n(n+1)/2 pairs for n tokens, half of PaLM's 12LHQT). The gradient-checkpointing recompute, padding
and the masked-out half of the score matrices are not counted. `mfu_linear` counts the frozen linears
and the head only (the stricter figure earlier versions of this bench reported as MFU).

Data: SmolLM2-135M and Bitext support rows from ../shared/datasets (the project's demo set when absent).
With `--seeds 0,1,2` each seed draws its own split of the rows and seeds both trainers; the two sides
alternate seed by seed (so the machine's drift falls on both) and each side is reported over all its runs,
with a row per seed.

On a machine with a CUDA GPU both sides train on it (TRL's `use_cpu` is set only without one), the matmul
peak is the GPU's, and results go to train_throughput_cuda.{json,md}, apart from the CPU rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

T0 = time.perf_counter()


def matmul_peak(dtype_name: str, n: int = 2048, seconds: float = 3.0) -> float:
    """Sustained GFLOP/s of an n x n matmul on the device training uses (a GPU where there is one, else
    all the threads torch uses on the CPU)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    n = 8192 if device == "cuda" else n
    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    sync()
    return 2 * n ** 3 * count / (time.perf_counter() - start) / 1e9


def machine() -> dict:
    import torch

    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    flags = next((l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith(("flags", "Features"))),
                 "").split(":", 1)[-1].split()
    from anchortune.engine import precision

    return {"cpu": cpu, "arch": platform.machine(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "isa_flags": sorted(f for f in flags if f.startswith(ISA_FLAGS)),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "emulated_isa": os.environ.get("ATEN_CPU_CAPABILITY"), "native_bf16": precision.cpu_has_bf16(),
            "avx512_bf16": "avx512_bf16" in flags, "amx": "amx_bf16" in flags, "torch": torch.__version__,
            "python": platform.python_version()}


ISA_FLAGS = ("avx", "fma", "f16c", "amx", "asimd", "sve", "bf16", "i8mm", "neon")  # flags that decide the kernels
# --isa avx2: every child runs as on an AVX2-only CPU (torch's kernels, oneDNN and MKL capped; anchortune then
# sees no native bf16, engine/precision.py)
EMULATE = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}


def load_rows(rows: int, heldout: int, valid: int, seed: int):
    """Disjoint training, validation and held-out anchor points (Bitext, or the demo set)."""
    from anchortune import settings
    from anchortune.app import datasets as app_datasets
    from anchortune.app import models as app_models
    from anchortune.app import runs as app_runs
    from anchortune.data.demo_support import support_demo

    path = settings.shared_data() / "support" / "bitext_customer_support.jsonl"
    points = app_datasets.read_anchor_points(path) if path.is_file() else support_demo()
    random.Random(seed).shuffle(points)
    need = rows + heldout + valid
    if len(points) < need:
        raise SystemExit(f"{len(points)} rows available, {need} needed")
    return points[:rows], points[rows:rows + valid], points[rows + valid:need], \
        (path.name if path.is_file() else "anchortune support demo")


def model_flops(model, tokens: int, answer_tokens: int, causal_pairs: int) -> dict:
    """Model FLOPs for `tokens` trained tokens (see the module docstring): {"all": ..., "linear": ...}."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    block = sum(m.weight.numel() for name, m in base.get_decoder().named_modules()
                if isinstance(m, torch.nn.Linear) and "lora_" not in name)
    lora = sum(p.numel() for name, p in model.named_parameters() if "lora_" in name)
    head = base.get_output_embeddings().weight.numel()
    config = base.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    attention = 12.0 * config.num_hidden_layers * config.num_attention_heads * head_dim * causal_pairs
    linear = 4.0 * block * tokens + 4.0 * head * answer_tokens
    return {"all": linear + 6.0 * lora * tokens + attention, "linear": linear}


def causal_pairs(lengths: list[int], epochs: float) -> int:
    """Query-key pairs causal attention computes over examples of these lengths, for `epochs` passes."""
    return int(sum(n * (n + 1) // 2 for n in lengths) * epochs)


def flops_fields(flops: dict) -> dict:
    return {"model_flops": flops["all"], "model_flops_linear": flops["linear"]}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (taken when the model is on disk, before the bench's own
    held-out measurement, which is not part of either side's run)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def held_out_loss(model, tokenizer, points, precision: str) -> float:
    from anchortune.data.presets import load_preset
    from anchortune.data.tokenize import encode
    from anchortune.engine.loss import answer_loss

    preset = load_preset("support").resolved_for(points)
    examples, _ = encode(points, preset, tokenizer, 1024)
    return answer_loss(model, examples, tokenizer.pad_token_id, 8, precision)


# ---- the two sides, each run in a child process -------------------------------------------------------

def side_trl(spec: dict) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from anchortune.data.presets import load_preset
    from anchortune.models.loading import load_tokenizer

    train, _, heldout, _ = load_rows(spec["rows"], spec["heldout"], spec["valid"], spec["seed"])
    preset = load_preset("support").resolved_for(train)
    framed = [preset.to_messages(p) for p in train]
    dataset = Dataset.from_list([{"prompt": m[:-1], "completion": [m[-1]]} for m in framed])
    tokenizer = load_tokenizer(spec["model"])
    args = SFTConfig(output_dir=spec["work"] + "/trl", num_train_epochs=spec["epochs"], learning_rate=spec["lr"],
                     per_device_train_batch_size=spec["batch"], seed=spec["seed"], report_to=[],
                     save_strategy="no", disable_tqdm=True,
                     use_cpu=not torch.cuda.is_available(),  # use_cpu: TRL refuses bf16 on CPU without it
                     **TRL_FLAGS[spec["side"]])  # its defaults, or one flag changed
    trainer = SFTTrainer(model=spec["model"], args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=LoraConfig(r=spec["rank"], lora_alpha=2 * spec["rank"],
                                                target_modules="all-linear", task_type="CAUSAL_LM"))
    lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    columns = trainer.train_dataset.column_names
    answers = [sum(1 for t in row if t != -100) for row in trainer.train_dataset["labels"]] if "labels" in columns \
        else [sum(m) for m in trainer.train_dataset["completion_mask"]]
    started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - started
    trainer.save_model(spec["work"] + "/trl-model")
    wall, peak = time.perf_counter() - T0, peak_rss_mb()
    tokens, answer_tokens = int(sum(lengths) * spec["epochs"]), int(sum(answers) * spec["epochs"])
    precision = "bf16" if args.bf16 else "fp32"
    return {"side": spec["side"], "precision": precision, "gradient_checkpointing": bool(args.gradient_checkpointing),
            "steps": trainer.state.global_step, "tokens_trained": tokens, "train_seconds": train_seconds,
            "tokens_per_s": tokens / train_seconds, "wall_seconds": wall,
            **flops_fields(model_flops(trainer.model, tokens, answer_tokens, causal_pairs(lengths, spec["epochs"]))),
            "heldout_loss": held_out_loss(trainer.model, tokenizer, heldout, precision), "peak_rss_mb": peak}


TRL_FLAGS = {"trl": {}, "trl_fp32": {"bf16": False}, "trl_no_checkpointing": {"gradient_checkpointing": False},
             # as a careful user configures it (issue 44): no checkpointing, max_length to the data (longest row 512
             # tokens or less), bf16 weights loaded as such, rows in length groups (less padding per batch)
             "trl_careful": {"gradient_checkpointing": False, "max_length": 512,
                             "model_init_kwargs": {"dtype": "bfloat16"},
                             "train_sampling_strategy": "group_by_length"},
             # each of trl_careful's flags alone beside no checkpointing: which one gives TRL its speed
             "trl_len512": {"gradient_checkpointing": False, "max_length": 512},
             "trl_bf16_weights": {"gradient_checkpointing": False, "model_init_kwargs": {"dtype": "bfloat16"}},
             "trl_grouped": {"gradient_checkpointing": False, "train_sampling_strategy": "group_by_length"}}
ANCHORTUNE_OPTIONS = {"anchortune": {}, "anchortune_torch_ops": {}, "anchortune_standard": {"engine": "standard"}}


def side_anchortune(spec: dict) -> dict:
    from anchortune.app import datasets as app_datasets
    from anchortune.app import models as app_models
    from anchortune.app import runs as app_runs
    from anchortune.config import RunConfig
    from anchortune.data.loading import save_anchor_points
    from anchortune.models.loading import load_model, load_tokenizer

    train, valid, heldout, _ = load_rows(spec["rows"], spec["heldout"], spec["valid"], spec["seed"])
    work = Path(spec["work"])
    train_file = save_anchor_points(train, work / "train.jsonl")
    valid_file = save_anchor_points(valid, work / "valid.jsonl")
    cfg = RunConfig.build(data=str(train_file), valid_data=str(valid_file), task="support", model=spec["model"],
                          epochs=spec["epochs"], learning_rate=spec["lr"], lora_r=spec["rank"],
                          lora_alpha=2 * spec["rank"], batch_size=spec["batch"], seed=spec["seed"],
                          **{**ANCHORTUNE_OPTIONS[spec["side"]], **spec.get("options", {})})
    outcome = app_runs.train_run(cfg, work / "run", force=True)
    wall, peak = time.perf_counter() - T0, peak_rss_mb()
    training = outcome.summary["training"]
    from peft import PeftModel

    tokenizer = load_tokenizer(outcome.folder / "model")
    merged = load_model(outcome.folder / "model")
    # held-out loss as TRL's side measures it: the trained adapter over the base model (the merged export,
    # rounded to bf16 by autocast as one matrix, loses part of the small adapter delta: reported apart)
    model = PeftModel.from_pretrained(load_model(spec["model"]), str(outcome.folder / "adapter"))
    encoding = outcome.summary["data"]["encoding"]["train"]
    answer_share = encoding["answer_tokens"] / max(1, encoding["total_tokens"])
    tokens = int(training["tokens_trained"])
    from anchortune.data.presets import load_preset
    from anchortune.data.tokenize import encode

    preset = load_preset("support")
    lengths = [len(e["input_ids"]) for e in encode(train, preset.resolved_for(train), tokenizer,
                                                    cfg.resolve(preset).max_length)[0]]
    pairs = causal_pairs(lengths, tokens / max(1, sum(lengths)))  # the passes the run made over them
    return {"side": "anchortune", "precision": training["precision"], "gradient_checkpointing": False,
            "steps": training["steps"], "tokens_trained": tokens, "train_seconds": training["train_seconds"],
            "tokens_per_s": training["tokens_per_s"], "wall_seconds": wall,
            **flops_fields(model_flops(model, tokens, int(tokens * answer_share), pairs)),
            "heldout_loss": held_out_loss(model, tokenizer, heldout, training["precision"]),
            "heldout_loss_merged": held_out_loss(merged, tokenizer, heldout, training["precision"]),
            "chosen": outcome.summary["balance"]["chosen"], "peak_rss_mb": peak,
            "kernels": training.get("kernels", "torch"), "engine": training.get("engine")}


def side_generation(spec: dict) -> dict:
    from anchortune.data.presets import load_preset
    from anchortune.evaluate.generation import generate
    from anchortune.models.loading import load_model, load_tokenizer
    from anchortune.engine import precision as precision_mod

    _, _, heldout, _ = load_rows(spec["rows"], spec["heldout"], spec["valid"], spec["seed"])
    tokenizer, model = load_tokenizer(spec["model"]), load_model(spec["model"])
    preset = load_preset("support").resolved_for(heldout)
    conversations = [preset.to_messages(p)[:-1] for p in heldout[:16]]
    chosen = precision_mod.choose("auto")
    out = {"side": "generation", "prompts": len(conversations), "max_new_tokens": 64, "precision": chosen}
    for name, batch in (("one_at_a_time", 1), ("batched_kv_cache", 8)):
        started = time.perf_counter()
        answers = generate(model, tokenizer, conversations, 64, batch_size=batch, precision=chosen)
        seconds = time.perf_counter() - started
        produced = sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
        out[name] = {"seconds": seconds, "tokens": produced, "tokens_per_s": produced / seconds}
    return out


FIDELITY_B_STD = 0.002  # LoRA B drawn at a trained adapter's scale (the bench's seed-0 adapter: std ~0.0019)


def side_fidelity(spec: dict) -> dict:
    """LoRA gradients of a few of the run's batches (the first, the middle and the last step's examples, at one
    adapter whose B is drawn at a trained adapter's scale: at PEFT's start, B = 0, the A gradients vanish)
    as each side computes them, against the same gradients in float64 (eager attention, one example at a
    time): TRL's path (the fp32 model under bf16 autocast, a right-padded batch with SDPA attention,
    transformers' loss over the answer tokens; TRL's gradient checkpointing recomputes the same numbers, so
    it is left out) and anchortune's (bf16-held frozen linears, fused layers, packed micro-batches, the
    engine's answer loss). A seed-free measure of what each side's arithmetic costs in accuracy, where the
    held-out loss moves with every last-bit difference. On the CPU, whatever device trains."""
    import copy

    import torch

    from anchortune.config import RunConfig
    from anchortune.data.presets import load_preset
    from anchortune.data.tokenize import encode
    from anchortune.engine.loss import autocast
    from anchortune.models.loading import load_model, load_tokenizer
    from anchortune.engine import paths, precision as precision_mod
    from anchortune.engine.engaged import engaged
    from anchortune.train import adapter, engine
    from anchortune.engine.collate import PAD_MULTIPLE, PackCollator, StepSampler

    train, _, _, _ = load_rows(spec["rows"], spec["heldout"], spec["valid"], spec["seed"])
    tokenizer = load_tokenizer(spec["model"])
    examples, _ = encode(train, load_preset("support").resolved_for(train), tokenizer, 1024)
    cfg = RunConfig.build(data="fidelity.jsonl", task="support", model=spec["model"], lora_r=spec["rank"],
                          lora_alpha=2 * spec["rank"], batch_size=spec["batch"], seed=spec["seed"])
    per_step = spec["batch"] // engine.micro_batch(cfg, cuda=False)
    micro = list(StepSampler([len(e["input_ids"]) for e in examples], spec["batch"], per_step, spec["seed"]))
    total_steps = len(micro) // per_step
    chosen = precision_mod.choose("auto")
    torch.manual_seed(spec["seed"])
    model = adapter.wrap_lora(load_model(spec["model"]), cfg)
    draw = torch.Generator().manual_seed(spec["seed"])
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data = torch.randn(param.shape, generator=draw) * FIDELITY_B_STD
    reference, trl = copy.deepcopy(model).double(), copy.deepcopy(model)
    reference.get_base_model().config._attn_implementation = "eager"
    precision_mod.hold_frozen_linears(model, chosen)
    collate = PackCollator(tokenizer.pad_token_id, PAD_MULTIPLE)

    def gradient(net) -> torch.Tensor:
        grads = torch.cat([p.grad.double().flatten() for _, p in sorted(net.named_parameters()) if p.requires_grad])
        net.zero_grad(set_to_none=True)
        return grads

    steps = []
    for step in sorted({0, total_steps // 2, total_steps - 1}):
        groups = micro[step * per_step:(step + 1) * per_step]
        batch = [examples[i] for group in groups for i in group]
        answers = sum(sum(label != -100 for label in e["labels"][1:]) for e in batch)
        for e in batch:  # float64, one example at a time
            logits = reference(input_ids=torch.tensor([e["input_ids"]])).logits[0, :-1]
            torch.nn.functional.cross_entropy(logits, torch.tensor(e["labels"][1:]), ignore_index=-100,
                                              reduction="sum").div(answers).backward()
        exact = gradient(reference)
        width = max(len(e["input_ids"]) for e in batch)
        padded = {"input_ids": [e["input_ids"] + [tokenizer.pad_token_id] * (width - len(e["input_ids"])) for e in batch],
                  "attention_mask": [[1] * len(e["input_ids"]) + [0] * (width - len(e["input_ids"])) for e in batch],
                  "labels": [e["labels"] + [-100] * (width - len(e["labels"])) for e in batch]}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=chosen == "bf16"):
            loss = trl(**{k: torch.tensor(v) for k, v in padded.items()}).loss
        loss.backward()
        trl_grad = gradient(trl)
        model.train()
        plan = paths.plan(model, "auto", chosen, lora=True, hold_frozen=True)
        with engaged(model, plan):
            for group in groups:
                row = collate([examples[i] for i in group])
                with autocast(chosen):
                    nll, _ = engine.batch_nll(model, row, plan)
                nll.div(answers).backward()
        ours = gradient(model)
        norm = exact.norm().item()
        steps.append({"step": step, "trl": (trl_grad - exact).norm().item() / norm,
                      "anchortune": (ours - exact).norm().item() / norm,
                      "between": (ours - trl_grad).norm().item() / norm})
    mean = {k: sum(s[k] for s in steps) / len(steps) for k in ("trl", "anchortune", "between")}
    return {"side": "fidelity", "precision": chosen, "seed": spec["seed"], "b_std": FIDELITY_B_STD,
            "steps": steps, "relative_error": mean}


SIDES = {**{name: side_trl for name in TRL_FLAGS}, **{name: side_anchortune for name in ANCHORTUNE_OPTIONS},
         "generation": side_generation, "fidelity": side_fidelity}


# ---- the orchestrating process -----------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--valid", type=int, default=30)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seeds", default="0",
                        help="Comma-separated seeds: each draws its own split of the rows and seeds both trainers; "
                             "TRL and anchortune alternate seed by seed and are summed over all of them.")
    parser.add_argument("--sides", default="trl,trl_no_checkpointing,trl_grouped,trl_careful,anchortune,"
                                           "anchortune_standard,anchortune_torch_ops,generation,fidelity",
                        help=f"Any of {', '.join(SIDES)}: TRL with its defaults or flags changed (trl_fp32: "
                             "bf16=False; trl_no_checkpointing; trl_len512, trl_bf16_weights, trl_grouped: one of a "
                             "careful user's flags beside it; trl_careful: all of them; the fastest is TRL's figure), "
                             "anchortune's auto engine, its standard engine, and with torch's operations for its "
                             "compiled kernels.")
    parser.add_argument("--isa", choices=sorted(EMULATE), help="Run every side as on a CPU with this ISA only "
                        "(torch, oneDNN and MKL capped by their environment variables).")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="Extra anchortune run option (YAML value), e.g. warmup_ratio=0; repeatable.")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--resume", action="store_true", help="Keep the runs an interrupted bench with the same "
                        "settings finished (stored after each run in <stem>.partial.json) and run only the rest.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.isa:
        os.environ.update(EMULATE[args.isa])  # this process too: its matmul peaks and machine facts
    if args.worker:
        spec = json.loads(Path(args.spec).read_text())
        from anchortune import allocator as chosen

        row = SIDES[args.worker](spec)
        row["allocator"] = Path(chosen.active()).name if chosen.active() else "glibc malloc"
        Path(spec["result"]).write_text(json.dumps(row))
        return

    from anchortune import allocator
    from anchortune.app import datasets as app_datasets
    from anchortune.app import models as app_models
    from anchortune.app import runs as app_runs

    model_dir = str(app_models.prepare_model(None))
    seeds = [int(s) for s in args.seeds.split(",")]
    source = load_rows(args.rows, args.heldout, args.valid, seeds[0])[3]
    import torch

    from anchortune.engine import precision

    # the precision auto trains in is measured as best of three before each run; the other once at the start (a
    # bf16 product without native bf16 runs a reference path at ~1 GFLOP/s: 256 x 256 is enough to show it)
    trained = "bf16" if precision.cpu_has_bf16() or torch.cuda.is_available() else "fp32"
    peaks = {"bf16": max(matmul_peak("bfloat16") for _ in range(3)) if trained == "bf16" else
             matmul_peak("bfloat16", n=256, seconds=1.0),
             "fp32": max(matmul_peak("float32") for _ in range(3))}
    result = {"machine": machine(), "matmul_peak_gflops": peaks, "data": source, "model": "smollm2-135m-instruct",
              "rows": args.rows, "heldout": args.heldout, "valid": args.valid, "epochs": args.epochs,
              "learning_rate": args.lr, "rank": args.rank, "batch": args.batch, "seeds": seeds, "sides": {},
              "runs": {}, "anchortune_options": args.option}
    stem = "train_throughput_cuda" if result["machine"]["gpu"] else "train_throughput"  # GPU rows kept apart
    stem += f"_{args.isa}" if args.isa else ""
    stored, partial = args.out / f"{stem}.json", args.out / f"{stem}.partial.json"
    settings = ("rows", "heldout", "valid", "epochs", "learning_rate", "rank", "batch", "data", "seeds",
                "anchortune_options")
    same_machine = ("cpu", "cores", "isa_flags", "emulated_isa", "gpu", "torch")
    if stored.is_file():  # sides not run now keep their stored rows when the settings and the machine are the same
        before = json.loads(stored.read_text())
        if all(before.get(k) == result[k] for k in settings) and \
                all(before["machine"].get(k) == result["machine"][k] for k in same_machine):
            result["sides"], result["runs"] = before["sides"], before.get("runs", {})
    done = set()
    if args.resume and partial.is_file():  # the runs an interrupted bench finished are kept, not run again
        before = json.loads(partial.read_text())
        if all(before.get(k) == result[k] for k in settings):
            for side, runs in before["runs"].items():
                result["runs"].setdefault(side, {}).update(runs)
                done.update((side, seed) for seed in runs)
            print(f"resuming: {len(done)} runs kept from {partial}", flush=True)
    sides = args.sides.split(",")
    trainers = [s for s in sides if s not in ("generation", "fidelity")]
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:  # the trainers alternate seed by seed, so the machine's drift falls on both
        for side in trainers:
            if (side, str(seed)) in done:
                continue
            # the peak again just before each run: a shared machine's speed drifts by several % within minutes
            # (best-of-three bf16 peaks 845, 898 and 918 GFLOP/s one after another), and each run's MFU is
            # against the peak of its own minutes; the MFU against the peak at the start is reported too
            now = {**peaks, trained: max(matmul_peak({"bf16": "bfloat16", "fp32": "float32"}[trained]) for _ in range(3))}
            result["runs"].setdefault(side, {})[str(seed)] = run_side(side, seed, model_dir, args, now)
            partial.write_text(json.dumps(result, indent=2) + "\n")  # each finished run survives an interruption
    for side in trainers:
        result["sides"][side] = summarise([result["runs"][side][str(seed)] for seed in seeds], peaks)
    if "generation" in sides:
        result["sides"]["generation"] = run_side("generation", seeds[0], model_dir, args, peaks)
    if "fidelity" in sides:
        result["sides"]["fidelity"] = run_side("fidelity", seeds[0], model_dir, args, peaks)
    stored.write_text(json.dumps(result, indent=2) + "\n")
    partial.unlink(missing_ok=True)
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


def run_side(side: str, seed: int, model_dir: str, args, peaks: dict) -> dict:
    """One side for one seed, in a child process of its own; its result row."""
    from anchortune import allocator

    with tempfile.TemporaryDirectory(prefix=f"throughput-{side}-") as work:
        spec = {"side": side, "model": model_dir, "rows": args.rows, "heldout": args.heldout, "valid": args.valid,
                "epochs": args.epochs, "lr": args.lr, "rank": args.rank, "batch": args.batch, "seed": seed,
                "work": work, "result": work + "/result.json",
                "options": {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.option)}}
        Path(work, "spec.json").write_text(json.dumps(spec))
        print(f"running {side} (seed {seed}) ...", flush=True)
        # anchortune's sides start as its command line does (jemalloc preloaded where present); TRL as a script would
        env = allocator.preload_env() if not side.startswith("trl") else dict(os.environ)
        if side == "anchortune_torch_ops":  # the same run with torch's operations for the compiled kernels
            env["ANCHORTUNE_NATIVE"] = "off"
        done = subprocess.run([sys.executable, __file__, "--worker", side, "--spec", work + "/spec.json"],
                              capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{side} failed:\n{done.stderr[-4000:]}")
        row = {**json.loads(Path(spec["result"]).read_text()), "side": side}
    if "model_flops" in row:
        row["matmul_peak_gflops"] = peaks[row["precision"]]  # measured just before this run
        row["mfu"] = row["model_flops"] / row["train_seconds"] / 1e9 / peaks[row["precision"]]
        row["mfu_linear"] = row["model_flops_linear"] / row["train_seconds"] / 1e9 / peaks[row["precision"]]
    print(json.dumps(row, indent=1), flush=True)
    return row


def summarise(rows: list[dict], peaks: dict) -> dict:
    """One side over its seeds: tokens/s and MFU over the summed tokens and time (each run's seconds against
    the peak measured before it; `mfu_start_peak` against the peak at the script's start), means of times
    and held-out loss, the highest peak RSS."""
    first = rows[0]
    tokens, seconds = sum(r["tokens_trained"] for r in rows), sum(r["train_seconds"] for r in rows)
    flops, linear = sum(r["model_flops"] for r in rows), sum(r["model_flops_linear"] for r in rows)
    capacity = sum(r["train_seconds"] * r.get("matmul_peak_gflops", peaks[first["precision"]]) for r in rows) * 1e9
    return {**{k: first[k] for k in ("side", "precision", "gradient_checkpointing", "allocator", "kernels")
               if k in first},
            "runs": len(rows), "tokens_trained": tokens, "train_seconds": seconds / len(rows),
            "tokens_per_s": tokens / seconds, "wall_seconds": sum(r["wall_seconds"] for r in rows) / len(rows),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rows), "model_flops": flops, "model_flops_linear": linear,
            "mfu": flops / capacity, "mfu_linear": linear / capacity,
            "mfu_start_peak": flops / seconds / 1e9 / peaks[first["precision"]],
            "matmul_peaks_gflops": [r.get("matmul_peak_gflops") for r in rows],
            "heldout_loss": sum(r["heldout_loss"] for r in rows) / len(rows),
            "heldout_losses": [r["heldout_loss"] for r in rows],
            **({"heldout_loss_merged": sum(r["heldout_loss_merged"] for r in rows) / len(rows)}
               if all("heldout_loss_merged" in r for r in rows) else {})}


def _run_peaks(r: dict) -> str:
    """', before each run: bf16 A-B GFLOP/s' where the runs carry their own peaks."""
    rows = [row for side in r.get("runs", {}).values() for row in side.values() if row.get("matmul_peak_gflops")]
    parts = []
    for precision in sorted({row["precision"] for row in rows}):
        peaks = [row["matmul_peak_gflops"] for row in rows if row["precision"] == precision]
        parts.append(f"{precision} {min(peaks):.0f}-{max(peaks):.0f} GFLOP/s")
    return f"; before each run: {', '.join(parts)}" if parts else ""


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"# Training throughput: TRL SFTTrainer against anchortune ({r['model']}, LoRA r{r['rank']})", "",
             f"Machine: {m['cpu']}, {m['cores']} cores{', GPU ' + m['gpu'] if m.get('gpu') else ''} "
             f"(torch {m['torch']}, {m['torch_threads']} threads, "
             f"AVX512-BF16 {'yes' if m['avx512_bf16'] else 'no'}; ISA flags: {' '.join(m.get('isa_flags', [])) or '-'}; "
             f"torch kernels {m.get('torch_cpu_capability', '?')}"
             f"{'; emulating ' + m['emulated_isa'] + ' only (torch, oneDNN, MKL capped)' if m.get('emulated_isa') else ''}"
             f"; native bf16 for anchortune: {'yes' if m.get('native_bf16', m['avx512_bf16']) else 'no'}). "
             "Matmul peak measured here at the start: "
             f"bf16 {r['matmul_peak_gflops']['bf16']:.0f} GFLOP/s, fp32 {r['matmul_peak_gflops']['fp32']:.0f} GFLOP/s"
             f"{_run_peaks(r)}.",
             f"Data: {r['rows']} training rows of {r['data']}, {r['heldout']} held-out rows; {r['epochs']:g} epoch(s), "
             f"learning rate {r['learning_rate']:g}, batch {r['batch']}; seeds {', '.join(map(str, r.get('seeds', [0])))} "
             "(each its own split of the rows; per side, tokens/s and MFU over all runs' tokens and time, times and "
             "held-out loss their mean, peak RSS the highest). MFU: model FLOPs as PaLM counts them (linears, LoRA, "
             "causal attention; see bench/train_throughput.py) per second over the peak measured just before the "
             "run; linears only: the frozen linears and LM head alone.", "",
             "| side | precision | allocator | elementwise ops | trained tokens/s | train s | wall s to finished model | peak RSS MiB | MFU | "
             "MFU, linears only | held-out answer loss |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in [n for n in SIDES if n not in ("generation", "fidelity")]:
        s = r["sides"].get(name)
        if s:
            lines.append(f"| {name} | {s['precision']}{' + grad. checkpointing' if s['gradient_checkpointing'] else ''}"
                         f" | {s.get('allocator', 'glibc malloc')} | {s.get('kernels', 'torch')} | {s['tokens_per_s']:.0f} | {s['train_seconds']:.0f} | {s['wall_seconds']:.0f} | "
                         f"{s['peak_rss_mb']:.0f} | {100 * s['mfu']:.1f} % | {100 * s['mfu_linear']:.1f} % | "
                         f"{s['heldout_loss']:.4f} |")
    start = [f"{name} {100 * s['mfu_start_peak']:.1f} %" for name, s in r["sides"].items() if "mfu_start_peak" in s]
    if start:
        lines += ["", f"MFU against the peak measured once at the start instead: {', '.join(start)}."]
    trls = {n: s for n, s in r["sides"].items() if n in TRL_FLAGS}
    if trls and "anchortune" in r["sides"]:
        best = max(trls, key=lambda n: trls[n]["tokens_per_s"])
        ratio = r["sides"]["anchortune"]["tokens_per_s"] / trls[best]["tokens_per_s"]
        engine = (r["runs"].get("anchortune", {}).get(str(r["seeds"][0]), {}).get("engine") or {})
        lines += ["", f"TRL's best configuration here: {best} ({', '.join(f'{k}={v}' for k, v in TRL_FLAGS[best].items()) or 'its defaults'}"
                      f"; of {', '.join(sorted(trls))}). anchortune (engine {engine.get('requested', 'auto')}, "
                      f"{engine.get('path', '?')} path) trains {ratio:.2f}x its tokens/s, held-out loss "
                      f"{r['sides']['anchortune']['heldout_loss']:.4f} against {trls[best]['heldout_loss']:.4f}."]
        if "anchortune_standard" in r["sides"]:
            std = r["sides"]["anchortune_standard"]
            lines += ["", f"The standard engine (plain transformers + PEFT, packed rows, the same run otherwise): "
                          f"{std['tokens_per_s']:.0f} tokens/s, held-out loss {std['heldout_loss']:.4f}; the auto engine "
                          f"{r['sides']['anchortune']['tokens_per_s'] / std['tokens_per_s']:.2f}x its speed."]
        runs = {**r.get("runs", {}), "trl": r.get("runs", {}).get(best, {})}  # the per-seed table: TRL at its best
        if len(r.get("seeds", [])) > 1 and all(str(x) in runs.get(n, {}) for n in ("trl", "anchortune") for x in r["seeds"]):
            lines += ["", "| seed | TRL tokens/s | anchortune tokens/s | TRL MFU | anchortune MFU | TRL held-out loss | "
                          "anchortune held-out loss | anchortune merged export, held-out loss | anchortune peak RSS MiB |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for seed in r["seeds"]:
                t, a = runs["trl"][str(seed)], runs["anchortune"][str(seed)]
                merged = f"{a['heldout_loss_merged']:.4f}" if "heldout_loss_merged" in a else "-"
                lines.append(f"| {seed} | {t['tokens_per_s']:.0f} | {a['tokens_per_s']:.0f} | {100 * t['mfu']:.1f} % | "
                             f"{100 * a['mfu']:.1f} % | {t['heldout_loss']:.4f} | "
                             f"{a['heldout_loss']:.4f} | {merged} | {a['peak_rss_mb']:.0f} |")
            diffs = [runs["anchortune"][str(x)]["heldout_loss"] - runs["trl"][str(x)]["heldout_loss"] for x in r["seeds"]]
            mean = sum(diffs) / len(diffs)
            error = (sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)) ** 0.5
            lines += ["", f"Held-out loss, anchortune minus TRL, seed by seed: {', '.join(f'{d:+.4f}' for d in diffs)}; "
                          f"mean {mean:+.4f} (standard error {error:.4f})."]
            other = runs.get("anchortune_torch_ops", {})
            if all(str(x) in other for x in r["seeds"]):
                noise = [other[str(x)]["heldout_loss"] - runs["anchortune"][str(x)]["heldout_loss"] for x in r["seeds"]]
                lines += ["", "Rounding noise: the same anchortune runs with torch's operations in place of the compiled "
                              "kernels (the same arithmetic but for the last bits of exp, sums and the attention "
                              f"scores' rounding) moved the held-out loss by {', '.join(f'{d:+.4f}' for d in noise)} "
                              f"(mean {sum(noise) / len(noise):+.4f})."]
    f = r["sides"].get("fidelity")
    if f:
        e = f["relative_error"]
        lines += ["", f"Gradient accuracy ({f['precision']}): the LoRA gradients of steps "
                      f"{', '.join(str(s['step']) for s in f['steps'])} of seed {f['seed']}'s run, as each side computes "
                      f"them, against float64: relative error TRL {100 * e['trl']:.2f} %, anchortune "
                      f"{100 * e['anchortune']:.2f} % (the two sides apart: {100 * e['between']:.2f} %)."]
    g = r["sides"].get("generation")
    if g:
        one, many = g["one_at_a_time"], g["batched_kv_cache"]
        lines += ["", f"Generation, {g['prompts']} held-out prompts, up to {g['max_new_tokens']} new tokens "
                      f"({g['precision']}): one at a time {one['tokens_per_s']:.0f} tokens/s ({one['seconds']:.0f} s), "
                      f"batched with KV cache {many['tokens_per_s']:.0f} tokens/s ({many['seconds']:.0f} s)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
