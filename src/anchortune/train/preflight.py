"""Before a run starts: memory per device and time for the model, data and processes, and the refusal of a run
that cannot fit, with the reason and what would make it fit.

Memory per device (an upper bound: every micro-batch at the context length):
  weights        parameters x 2 bytes (bf16) or 4 (fp32); FSDP shares them over the processes;
  training state trainable parameters x 16 bytes (fp32 weight copy, gradient, AdamW's two moments): LoRA's r x
                 (in + out) per linear layer, or every parameter for full fine-tuning; FSDP shares it too;
  activations    micro-batch tokens x layers x hidden x ACTIVATION_BYTES (what autograd keeps per token and layer
                 in bf16 without recomputation; Korthikanti et al. 2022 count ~34 bytes per hidden unit, the MLP's
                 wider intermediate included), / ~8 with gradient checkpointing, plus logits and their gradient in
                 fp32 (tokens x vocabulary x 8 bytes);
  overhead       OVERHEAD_BYTES for the runtime, the tokenizer and the evaluation's batches.
Against the device: a GPU's total memory (the smallest of those used), or on a CPU the memory available now,
shared by the processes on the machine. A run whose estimate passes the device's is refused; within
WARN_SHARE of it, warned.

Time: model FLOPs (6 x parameters per trained token, the convention of MFU) at CPU_FLOPS_PER_CORE per core
(SmolLM2-135M, standard engine, bf16, 2 cores: 210 trained tokens/s, bench/results/train_throughput.md) or
GPU_FLOPS per GPU (an assumed 30 % of a current data-centre GPU's bf16 peak), over the processes; rough, within
a factor of ~3, said as such. The whole run, not only its steps: the evaluations (the base model's, one every
eval_every steps and at the end: a forward pass, 2 x parameters per token, over the held-out rows and
GENERAL_TOKENS of general material), the final evaluation (the adapter scales and the average, one evaluation
each) and the held-out answers (base and tuned, ANSWER_TOKENS each, at GENERATION_SHARE of the training rate:
batched decoding uses the matrix units less well), plus LOAD_S for loading and saving the model. A reinforcement
run trains on num_generations sampled answers per prompt, each up to max_answer_tokens: generation dominates its
cost, counted at GENERATION_SHARE of the rate, with the KL reference's forward where beta is set, and the held-out
answers it grades at each evaluation.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from anchortune import libraries
from anchortune.errors import ModelError, RunError
from anchortune.train.events import Event, EventSink, ignore

ACTIVATION_BYTES = 34
CHECKPOINTED_SHARE = 1 / 8
OVERHEAD_BYTES = 1.0 * 2**30
WARN_SHARE = 0.8
CPU_FLOPS_PER_CORE = 6 * 134.5e6 * 210 / 2  # ~85 GFLOP/s: 210 tokens/s of a 135M model on 2 cores
GPU_FLOPS = 0.3 * 1e15  # 30 % of ~1 PFLOP/s bf16 dense
GIB = 2**30
GENERAL_TOKENS = 9000  # the general text, 100 two-way cloze items and the answer-style probe, per evaluation
FINAL_EVALUATIONS = 4  # three adapter scales and the average of the last checkpoints (train/choice.py)
ANSWER_ROWS, ANSWER_TOKENS = 64, 160  # the verdict's held-out answers (train/held_out.py), at most
GENERATION_SHARE = 0.3
LOAD_S = 20.0


@dataclass
class Estimate:
    """What one device needs and has, and the time the run would take."""

    parameters: int
    trainable: int
    weights: float
    state: float
    activations: float
    per_device: float
    available: float
    device: str
    seconds: float  # the whole run: training, evaluations, final evaluation, answers, loading
    tokens: int
    training_s: float = 0.0
    evaluations_s: float = 0.0
    final_s: float = 0.0

    def fits(self) -> bool:
        return self.per_device <= self.available

    def describe(self) -> str:
        from anchortune.messages import say

        return say("log_preflight", memory=f"{self.per_device / GIB:.1f}", weights=f"{self.weights / GIB:.1f}",
                   state=f"{self.state / GIB:.1f}", activations=f"{self.activations / GIB:.1f}",
                   available=f"{self.available / GIB:.1f}", device=self.device, time=_duration(self.seconds),
                   training=_duration(self.training_s), evaluations=_duration(self.evaluations_s),
                   final_eval=_duration(self.final_s), tokens=f"{self.tokens:,}")


def shape(source) -> dict:
    """Parameters, layers, hidden size, vocabulary and LoRA-trainable sizes of a model, from its config alone
    (built on the meta device: no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(source))
        with libraries.BUILDING, torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # what transformers raises for a bad config
        raise ModelError(f"could not read the model's config in '{source}': {exc}") from None
    linears = [m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "lm_head" not in name]
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return {"parameters": sum(p.numel() for p in model.parameters()), "layers": text.num_hidden_layers,
            "hidden": text.hidden_size, "vocabulary": text.vocab_size,
            "lora_per_rank": sum(m.in_features + m.out_features for m in linears)}


def estimate(cfg, processes: int, devices: int, n_train: int, mean_tokens: float, model_shape: dict,
             cuda: bool | None = None, n_valid: int = 0) -> Estimate:
    """The estimate for a resolved config on `processes` processes, `devices` of them on this machine."""
    import torch

    from anchortune.engine import precision
    from anchortune.train.engine import MICRO_BATCH_CPU, plan_steps

    cuda = torch.cuda.is_available() if cuda is None else cuda
    width = 2 if precision.choose(cfg.precision) == "bf16" else 4
    parameters = model_shape["parameters"]
    trainable = parameters if cfg.method == "full" else cfg.lora_r * model_shape["lora_per_rank"]
    shard = processes if cfg.strategy == "fsdp" and processes > 1 else 1
    weights = parameters * width / shard
    state = trainable * 16 / shard
    share = max(1, cfg.batch_size // max(1, processes))
    micro = min(share, cfg.micro_batch_size or (share if cuda else MICRO_BATCH_CPU))
    samples, answer = (cfg.num_generations, cfg.max_answer_tokens) if cfg.objective == "reinforcement" else (1, 0)
    tokens = micro * samples * cfg.max_length
    kept = ACTIVATION_BYTES * (CHECKPOINTED_SHARE if cfg.gradient_checkpointing else 1.0)
    activations = tokens * model_shape["layers"] * model_shape["hidden"] * kept + tokens * model_shape["vocabulary"] * 8
    per_device = weights + state + activations + OVERHEAD_BYTES
    available, device = _device_memory(cuda, devices)
    steps, every = plan_steps(n_train, cfg)
    trained = int(steps * cfg.batch_size * samples * (mean_tokens + answer))
    rate = (GPU_FLOPS if cuda else CPU_FLOPS_PER_CORE * (os.cpu_count() or 1) / max(1, devices)) * processes
    training = 6 * parameters * trained / rate
    if samples > 1:  # reinforcement: every answer sampled token by token first, and the KL's reference forward
        sampled = steps * cfg.batch_size * samples * answer
        training += 2 * parameters * sampled / (GENERATION_SHARE * rate) + (2 * parameters * trained / rate
                                                                             if cfg.beta else 0.0)
    one_eval = 2 * parameters * (n_valid * mean_tokens + GENERAL_TOKENS) / rate if n_valid else 0.0
    evaluations = (math.ceil(steps / every) + 1) * one_eval
    answers = 2 * min(n_valid, ANSWER_ROWS) * (answer or ANSWER_TOKENS) * 2 * parameters / (GENERATION_SHARE * rate)
    if samples > 1:  # the held-out answers are generated at every evaluation too (train/reinforce.py)
        evaluations += (math.ceil(steps / every) + 1) * answers / 2
    final = FINAL_EVALUATIONS * one_eval + answers
    return Estimate(parameters, trainable, weights, state, activations, per_device, available, device,
                    training + evaluations + final + LOAD_S, trained, training, evaluations, final)


def refuse_unfit(cfg, launch, on_event: EventSink = ignore, cuda: bool | None = None) -> Estimate:
    """The estimate for `cfg` on `launch` (train/distributed.py), said as an event; RunError where the
    processes cannot run here or the run cannot fit a device."""
    import torch

    from anchortune.data.loading import CsvColumns, load_anchor_points
    from anchortune.messages import say
    from anchortune.models.loading import load_tokenizer, resolve_model

    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda and launch.devices > torch.cuda.device_count():
        raise RunError(say("x_preflight_too_few_gpus", n=launch.devices, k=torch.cuda.device_count()))
    if not cuda and launch.devices > (os.cpu_count() or 1):
        raise RunError(f"--devices {launch.devices}: without a GPU each process needs a CPU core of its own, and "
                       f"this machine has {os.cpu_count()}")
    if cfg.batch_size % launch.processes:
        raise RunError(f"batch size {cfg.batch_size} does not split over {launch.processes} processes: choose a "
                       f"multiple of {launch.processes} (--batch-size)")
    if launch.processes > 1 and cfg.strategy == "fsdp" and not cuda:
        raise RunError("--strategy fsdp shards a model across GPUs (accelerate runs FSDP on accelerators only); "
                       "CPU processes train with --strategy ddp")
    if launch.processes > 1 and cfg.kl_general:
        raise RunError("--kl-general runs two extra forwards of the model outside the loss, which DDP cannot "
                       "synchronise: train on one process, or use --replay against forgetting")
    source = resolve_model(cfg.model)
    points = load_anchor_points(cfg.data, CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter))
    tokenizer = load_tokenizer(source)
    sample = points[:: max(1, len(points) // 64)]
    mean_tokens = min(cfg.max_length, sum(len(tokenizer(" ".join(m["content"] for m in p.messages)).input_ids)
                                          for p in sample) / max(1, len(sample)))
    n_train = max(1, round(len(points) * (1 - cfg.val_fraction))) if not cfg.valid_data else len(points)
    n_valid = len(points) - n_train if not cfg.valid_data else \
        len(load_anchor_points(cfg.valid_data, CsvColumns(cfg.input_col, cfg.output_col, cfg.label_col, cfg.delimiter)))
    found = estimate(cfg, launch.processes, launch.devices, n_train, mean_tokens, shape(source), cuda, n_valid)
    on_event(Event("info", 0, {"message": found.describe()}))
    if not found.fits():
        raise RunError(f"this run does not fit: {found.describe()[len('preflight: '):]}. "
                       f"{_advice(cfg, launch)}")
    if found.per_device > WARN_SHARE * found.available:
        from anchortune.messages import say

        on_event(Event("warning", 0, {"message": say("log_preflight_memory", share=f"{found.per_device / found.available:.0%}",
                                                     advice=_advice(cfg, launch))}))
    return found


def _advice(cfg, launch) -> str:
    steps = []
    if not cfg.gradient_checkpointing:
        steps.append("--gradient-checkpointing")
    steps.append("a smaller --micro-batch-size or --max-length")
    if cfg.method == "full":
        steps.append("--method lora")
    if cfg.strategy != "fsdp":
        steps.append("--strategy fsdp with more --devices")
    return "Try " + ", ".join(steps)


def _device_memory(cuda: bool, devices: int) -> tuple[float, str]:
    """(bytes one process may use, what the device is)."""
    import torch

    if cuda:
        sizes = [torch.cuda.get_device_properties(i).total_memory for i in range(max(1, devices))]
        return float(min(sizes)), torch.cuda.get_device_name(0)
    available = _mem_available()
    return available / max(1, devices), f"CPU ({devices} process{'es' if devices > 1 else ''} sharing "\
                                        f"{available / GIB:.0f} GiB available)"


def _mem_available() -> float:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{math.ceil(seconds)} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
