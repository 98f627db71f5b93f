"""How anchortune sets up the third-party libraries it drives: once per process, before any of its work, and never
around a run (the studio trains in threads of the process that serves: a setting swapped for the time of one
load or one training would be swapped for every thread).

- transformers logs errors only and draws no progress bars of its own; the FutureWarning PEFT causes by reading a
  deprecated transformers attribute (`is_gradient_checkpointing`) is not shown, nor TRL's notices (an
  experimental trainer, a tokenizer's padding side: train/preference.py); the datasets library (TRL's input) logs
  errors only and draws no progress bars. Progress bars that libraries draw
  with tqdm directly are kept off the process's output otherwise: model2vec's distillation and transformers' GGUF
  reader run once in a child process (quality/embeddings.py, models/loading.py); gguf-py's metadata rewrite is done
  without its bar (export/gguf.py).
- accelerate's process state (PartialState, AcceleratorState, GradientState: each a dict that all their instances
  share) is kept per thread, as accelerate itself keeps it for PyTorch/XLA's threads (its ThreadLocalSharedDict).
  transformers' Trainer resets that state whenever training arguments are set up and sets
  GradientState.sync_gradients at every micro-batch, which the optimizer's step reads: two Trainers in two threads
  of one process would clear each other's state and skip each other's optimizer steps. A process that trains in
  one thread sees no difference.
- transformers swaps process-wide torch state while it builds a model from a checkpoint or a config: torch.nn.init's
  functions made no-ops (initialization.no_init_weights) and the default dtype set to the one loaded. A model built in
  one thread while another draws or builds weights would miss its initialisation or take the other's dtype (two studio
  jobs: "Cannot copy out of meta tensor", or an adapter unlike the one the job gives alone). Every model anchortune
  builds, loads or wraps with an adapter does so holding `BUILDING` (models/loading.py, export/, train/engine.py,
  train/preflight.py); LoRA's first weights are drawn without torch.nn.init (train/adapter.seed_lora).

- TRL's fused LM head (`trl.trainer.utils.add_fused_lm_head`: DPO, ORPO, GRPO) projects only the positions with a
  label where Triton runs, but every position of the batch elsewhere (on a CPU), prompts and padding included: a
  chat pair's answers are about a quarter of its tokens (hh-rlhf with SmolLM2's template), so three quarters of the
  head's work was thrown away. Its choice is made by TRL's own device test, read at each call; on a CPU it now takes
  the labelled positions too, as on CUDA (other devices keep TRL's choice: their kernels recompile per shape). The
  log-probabilities and gradients are those of the model's own logits (tests/train/test_answer_positions.py). Set by
  `trl_head_on_labelled_positions()` where a TRL trainer is built (train/preference.py, train/reinforce.py), once:
  importing TRL's trainer utilities takes a second or two that commands without a TRL run do not spend.
- TRL's trainers report each training to the Hugging Face Hub (huggingface_hub's send_telemetry, from a thread): a
  request to the network that anchortune, offline by default, does not make unless the user asks for it
  (`HF_HUB_DISABLE_TELEMETRY=0`, settings.hub_usage_reports).

The modules that load, train and save models call `configure()` when they are imported.
"""

from __future__ import annotations

import threading
import warnings

_DONE: list[bool] = []
BUILDING = threading.RLock()  # held while a model is built, loaded or wrapped (transformers' process-wide swaps)


def configure() -> None:
    """Set the libraries up for this process (once; later calls do nothing)."""
    if _DONE:
        return
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", module=r"trl(\..*)?$")
    _quiet_datasets()
    _accelerate_state_per_thread()
    no_usage_reports()
    _DONE.append(True)


def no_usage_reports() -> None:
    """The Hugging Face libraries send no usage reports from this process, unless the user asked for them."""
    from huggingface_hub import constants

    from anchortune import settings

    if not settings.hub_usage_reports():
        constants.HF_HUB_DISABLE_TELEMETRY = True  # read by send_telemetry at each call


def _quiet_datasets() -> None:
    try:
        from datasets.utils import logging as ds_logging
    except ImportError:  # the datasets library comes with TRL (preference runs) and the benches
        return
    ds_logging.set_verbosity_error()
    ds_logging.disable_progress_bar()


def _accelerate_state_per_thread() -> None:
    """accelerate's shared state dicts as thread-local ones (what this thread holds now stays this thread's)."""
    from accelerate import state

    local = getattr(state, "ThreadLocalSharedDict", None)
    if local is None:
        return
    for holder in (state.PartialState, state.AcceleratorState, state.GradientState):
        shared = holder.__dict__.get("_shared_state")
        if isinstance(shared, local):
            continue
        per_thread = local()
        per_thread._storage.update(shared or {})
        holder._shared_state = per_thread


def trl_head_on_labelled_positions() -> None:
    """TRL's fused LM head scores only the positions with a label on a CPU too (module docstring); once a process."""
    try:
        from trl.trainer import utils
    except ImportError:  # TRL: preference and reinforcement runs
        return
    decide = getattr(utils, "_use_triton", None)
    if decide is None or hasattr(decide, "trl_choice"):
        return

    def compact(device) -> bool:
        return device.type == "cpu" or decide(device)

    compact.trl_choice = decide  # TRL's own test (bench/preference_head.py compares the two)
    utils._use_triton = compact
