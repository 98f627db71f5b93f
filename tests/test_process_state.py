"""Nothing process-wide changes while a run runs (the studio trains in threads of the process that serves): the
environment is read in settings.py only, third-party libraries are set up once (libraries.py), the engine keeps its
caches in the run's context rather than in a module, registers no process-wide hook, and nothing of a run draws
from torch's process-wide random generator. Two jobs at once: tests/app/test_concurrent_jobs.py."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "anchortune"


def _calls_and_names(path: Path) -> tuple[set[str], set[str]]:
    """The dotted names `path` calls (a call handed its own `generator=` left out), and every dotted attribute chain
    it reads."""
    calls, names = set(), set()

    def dotted(node) -> str:
        if isinstance(node, ast.Attribute):
            return f"{dotted(node.value)}.{node.attr}"
        return node.id if isinstance(node, ast.Name) else "?"

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and not any(k.arg == "generator" for k in node.keywords):
            calls.add(dotted(node.func))
        if isinstance(node, ast.Attribute):
            names.add(dotted(node))
    return calls, names


def _where(predicate) -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if predicate(*_calls_and_names(p))}


def test_only_settings_reads_the_environment():
    assert _where(lambda calls, names: {"os.environ", "os.getenv"} & (names | calls)) == {"settings.py"}


def test_libraries_are_set_up_in_one_place_and_never_swapped_around_a_run():
    swapping = {"hf_logging.set_verbosity", "hf_logging.set_verbosity_error", "hf_logging.disable_progress_bar",
                "warnings.catch_warnings", "warnings.filterwarnings", "transformers.set_seed", "set_seed"}
    assert _where(lambda calls, names: swapping & calls) == {"libraries.py"}
    assert not _where(lambda calls, names: any(n.endswith(".tqdm") for n in names))


def test_the_engine_registers_no_process_wide_hook_and_draws_from_no_process_wide_generator():
    process_wide = {"register_optimizer_step_post_hook", "torch.manual_seed", "torch.seed", "torch.rand",
                    "torch.randn", "torch.randint", "torch.randperm"}
    assert _where(lambda calls, names: process_wide & (calls | {c.rsplit(".", 1)[-1] for c in calls})) == set()


def test_the_engine_keeps_no_cache_in_a_module():
    from anchortune.engine import loss, packed_attention

    assert not any(hasattr(module, name) for module in (loss, packed_attention)
                   for name in ("_CASTS", "_BUFFERS", "_MASKS", "release"))


def test_accelerates_state_is_each_threads_own():
    """transformers' Trainer resets accelerate's state when it is set up and flips GradientState.sync_gradients at
    every micro-batch (the optimizer's step reads it): a Trainer in another thread must not see either."""
    import threading

    from anchortune import libraries

    libraries.configure()
    from accelerate.state import AcceleratorState, GradientState

    GradientState()._set_sync_gradients(True)
    seen = {}

    def other_trainer() -> None:
        AcceleratorState._reset_state(reset_partial_state=True)  # what TrainingArguments does
        state = GradientState()
        state._set_sync_gradients(False)
        seen["sync"] = state.sync_gradients

    worker = threading.Thread(target=other_trainer)
    worker.start()
    worker.join()
    assert seen == {"sync": False} and GradientState().sync_gradients is True


def test_no_usage_report_leaves_the_process_unless_the_user_asks_for_one(monkeypatch):
    """TRL's trainers call huggingface_hub's send_telemetry as they are built: offline by default, nothing is sent."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _telemetry, send_telemetry

    from anchortune import libraries

    sent = []
    monkeypatch.setattr(constants, "is_offline_mode", lambda: False)  # as on a machine with HF_HUB_OFFLINE unset
    monkeypatch.setattr(_telemetry, "_start_telemetry_thread", lambda: sent.append("thread"))
    monkeypatch.setattr(_telemetry._TELEMETRY_QUEUE, "put", lambda item: sent.append(item["topic"]))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.delenv("HF_HUB_DISABLE_TELEMETRY", raising=False)
    libraries.no_usage_reports()
    send_telemetry("trl/DPOTrainer")
    assert sent == []
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "0")  # the user asked for them
    libraries.no_usage_reports()
    send_telemetry("trl/DPOTrainer")
    assert sent == ["thread", "trl/DPOTrainer"]
