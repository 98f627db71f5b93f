"""A run session: built once per run by its recipe (recipes/), used by it for every step that touches a model.

It resolves what the run computes with: the config (the one a resumed run's folder stores; the task preset's
defaults filled in, `resolve`), the base model's source, its tokenizer, the compute precision, and the engine plan
of each model it trains or scores. It owns the run folder's life: a new run needs a fresh target, a resumed one
loses the checkpoints whose save was cut off; a run that fails for a reason, or is stopped before its first complete
checkpoint, leaves nothing behind (a folder it created goes, one that existed empty is emptied), a later stop keeps
the complete checkpoints for --resume; the summary and the model card are its last writes. And it is the only place
that enters and leaves the engine (engine/engaged.py), for all of its parts: `fine_tune` for a training, `scoring`
for every measurement of a model. The engine's caches are the session's (`context`) and are dropped when it closes.

Only the process that writes (`writer`: rank 0 of a distributed run) touches the folder; a distributed worker
(`checked=False`) takes the folder as its parent checked it. Knows no workflow: what is trained on what and what
the summary says are the recipes'.
"""

from __future__ import annotations

import contextlib
import shutil
from functools import cached_property
from pathlib import Path

from anchortune import scratch
from anchortune.config import RunConfig
from anchortune.engine.context import EngineContext
from anchortune.errors import AnchortuneError, RunError
from anchortune.outputs import output_folder
from anchortune.run_folder import RunFolder
from anchortune.train.events import Event, EventSink, ignore


class RunSession:
    """One run's resolved inputs, its folder's life and its door into the engine (see the module docstring)."""

    def __init__(self, cfg: RunConfig, folder: str | Path | RunFolder | None = None, on_event: EventSink = ignore,
                 resume: bool = False, writer: bool = True, checked: bool = True, resumable: bool = True):
        self.cfg = cfg
        self.folder = folder if isinstance(folder, RunFolder) or folder is None else RunFolder(folder)
        self.on_event = on_event
        self.resume = resume
        self.writer = writer and self.folder is not None
        self.checked = checked
        self.resumable = resumable
        self.context = EngineContext()
        self._life = contextlib.ExitStack()
        self._new = self._existed = False

    # the run folder's life --------------------------------------------------------------------------------------
    def __enter__(self) -> RunSession:
        """Claim the folder: checked as an output, the stored config taken (resume), or refused unless fresh."""
        folder = self.folder
        if folder is not None and self.resume:
            if self.writer and self.checked:
                output_folder(folder.root, "--out")
            self.cfg = folder.load_config()
            if self.writer and self.checked:
                for name in folder.drop_incomplete_checkpoints():
                    self.on_event(Event("warning", 0, {"message": f"removed {name}: its save was cut off"}))
        elif self.writer and self.checked:
            output_folder(folder.root, "--out")
            if not folder.is_fresh_target():
                more = " or pass --resume" if self.resumable else ""
                raise RunError(f"'{folder.root}' already exists and is not empty; choose another --out{more}")
        if self.writer:
            self._new, self._existed = not self.resume and folder.is_fresh_target(), folder.root.exists()
            self._life.enter_context(scratch.pending(lambda: self._leave(failed=False)))
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if error is not None and self.writer:
                self._leave(failed=isinstance(error, AnchortuneError))
        finally:
            self._life.close()
            self.close()

    def _leave(self, failed: bool) -> None:
        """Clean up after a run that did not finish: a new run's folder goes (an --out that existed empty is
        emptied) when the run failed for a reason (nothing in it can be resumed) or was stopped before its first
        complete checkpoint; otherwise only checkpoints whose save was cut off go, and --resume continues from the
        rest."""
        folder = self.folder
        if self._new and (failed or folder.last_checkpoint_step() is None):
            if not self._existed:
                shutil.rmtree(folder.root, ignore_errors=True)
            elif folder.root.is_dir():
                for child in folder.root.iterdir():
                    scratch.remove(child)
        elif folder.root.is_dir():
            folder.drop_incomplete_checkpoints()

    def close(self) -> None:
        """Drop what the engine keeps for this run (its caches die with the session)."""
        self.context.clear()

    def recorder(self) -> EventSink:
        """The training's events passed on, and its train and eval rows appended to metrics.jsonl (the writer's; a
        distributed run's other processes report nothing; a session without a folder passes them on only)."""
        if self.folder is None:
            return self.on_event
        if not self.writer:
            return ignore

        def record(event: Event) -> None:
            if event.kind in ("train", "eval"):
                self.folder.append_metric({"step": event.step, **event.data})
            self.on_event(event)

        return record

    def finish(self, summary: dict, card: str) -> None:
        """The run's last writes: summary.json and the model card (README.md)."""
        if self.writer:
            self.folder.write_json(self.folder.summary, summary)
            self.folder.write_text(self.folder.card, card)

    # what the run computes with ---------------------------------------------------------------------------------
    def resolve(self, preset) -> RunConfig:
        """The config with every open hyperparameter taken from the task preset (kept as the session's)."""
        self.cfg = self.cfg.resolve(preset)
        return self.cfg

    @cached_property
    def source(self) -> Path | str:
        """Where the base model's weights lie (models/loading.py: catalog, folder, .gguf or hub id)."""
        from anchortune.models.loading import resolve_model

        return resolve_model(self.cfg.model)

    @cached_property
    def tokenizer(self):
        """The base model's tokenizer with the chat template the config names (data/chat_templates.py)."""
        from anchortune.data import chat_templates
        from anchortune.models.loading import load_tokenizer

        return chat_templates.use(load_tokenizer(self.source), self.cfg.chat_template)

    @cached_property
    def precision(self) -> str:
        """'bf16' or 'fp32', as the config asks and the hardware allows (engine/precision.py)."""
        from anchortune.engine import precision

        return precision.choose(self.cfg.precision)

    def load_model(self, source: str | Path | None = None):
        """The base model (or the one at `source`) in full precision."""
        from anchortune.models.loading import load_model

        return load_model(source or self.source)

    def encode_parts(self, encode, preset, train: list, valid: list, kind: str = "examples") -> tuple:
        """The training and the validation part encoded by `encode(items, preset, tokenizer, max_length)` with this
        run's tokenizer and context (data/tokenize.py's encode, or the preference pairs' render): (train rows, its
        report, validation rows, its report); a RunError where a part keeps no answer token within the context."""
        length = self.cfg.max_length
        encoded = [encode(items, preset, self.tokenizer, length) for items in (train, valid)]
        for (rows, _), name, given in zip(encoded, ("training", "validation"), (train, valid)):
            if not rows:
                raise RunError(f"none of the {len(given)} {name} {kind} keeps an answer token within {length} "
                               "tokens; raise --max-length or shorten the prompts")
        return (*encoded[0], *encoded[1])

    # the door into the engine -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def scoring(self, model):
        """Within this block `model` is scored on the evaluation parts of the engine its plan chose (engine/paths.py,
        evaluation_plan); yields the plan."""
        from anchortune.engine import paths
        from anchortune.engine.engaged import engaged

        plan = paths.evaluation_plan(model, self.precision, self.cfg.engine)
        with engaged(model, plan, self.context, training=False):
            yield plan

    def answer_loss(self, model, examples: list[dict], pad_id: int | None = None) -> float:
        """Mean answer loss per answer token of `model` on `examples` (engine/loss.py)."""
        from anchortune.engine.loss import answer_loss

        with self.scoring(model):
            return answer_loss(model, examples, self._pad(pad_id), self.cfg.batch_size, self.precision)

    def row_losses(self, model, examples: list[dict]) -> list[float]:
        """Every example's answer loss (nats per answer token), one at a time."""
        from anchortune.engine.loss import answer_loss

        with self.scoring(model):
            return [answer_loss(model, [e], self._pad(None), 1, self.precision) for e in examples]

    def general(self, model, material, pad_id: int | None = None) -> dict:
        """General ability of `model` on the general set `material` (evaluate/general.py)."""
        from anchortune.evaluate import general

        with self.scoring(model):
            return general.measure(model, material, self._pad(pad_id), self.cfg.batch_size, self.precision)

    def baseline(self, model, valid_set: list[dict]):
        """What the base model scores before training (train/engine.py, Baseline): the validation loss, its general
        ability (general text, cloze items; evaluate/general.py) and its loss on the general probe (its own
        answers: the answer style)."""
        from anchortune.data.presets import load_preset
        from anchortune.data.tokenize import encode
        from anchortune.evaluate import balance, general
        from anchortune.evaluate.probe import base_answers
        from anchortune.train.engine import Baseline

        tokenizer = self.tokenizer
        probe, _ = encode(base_answers(model, tokenizer, "probe", self.source, self.precision),
                          load_preset("custom"), tokenizer, 256)
        probe_loss = self.answer_loss(model, probe) if probe else None
        material = general.general_set(tokenizer)
        scores = self.general(model, material)
        text, cloze = balance.informative(scores.get("text_loss"), scores.get("cloze_accuracy"), len(tokenizer))
        return Baseline(valid_loss=self.answer_loss(model, valid_set), probe=probe, probe_loss=probe_loss,
                        general=material, text_loss=text, cloze_accuracy=cloze, measured=scores)

    def candidate(self, model, step: int, baseline, valid_set: list[dict], scale: float = 1.0,
                  averaged: list[int] | None = None):
        """A balance candidate of the model as it stands: validation loss, answer style and general measures."""
        from anchortune.evaluate.balance import Candidate

        valid = self.answer_loss(model, valid_set)
        probe = self.answer_loss(model, baseline.probe) if baseline.probe else None
        scores = self.general(model, baseline.general) if baseline.general else {}
        return Candidate(step, valid, probe, scale=scale, text_loss=scores.get("text_loss"),
                         cloze_accuracy=scores.get("cloze_accuracy"), averaged=averaged)

    def fine_tune(self, model, train: list[dict], valid: list[dict], baseline=None, history: list[dict] | None = None,
                  resume: bool = False, checkpoints: Path | None = None, hold_frozen: bool = True,
                  after_training=None):
        """Train `model` (LoRA-wrapped here when the config says lora) inside every part of the engine its plan
        chose, and restore its best-balanced checkpoint (train/engine.py); the TrainResult. `history` holds the
        evaluation rows of an interrupted run being resumed. With `hold_frozen`, a bf16 LoRA run holds the frozen
        linear weights in bf16 while it trains and reloads them in full precision afterwards. Several processes
        take the standard engine (no fast part has a parity test under DDP or FSDP). `after_training(mean evaluation
        seconds)` estimates the seconds the run needs after its last step (the ETA of the whole run adds them)."""
        from anchortune.engine import paths
        from anchortune.engine.engaged import engaged
        from anchortune.train import distributed
        from anchortune.train.adapter import wrap_lora
        from anchortune.train.engine import Training, uses_cuda

        cfg = self.cfg
        lora, single = cfg.method == "lora", distributed.world() == 1
        if lora:
            model = wrap_lora(model, cfg)
        plan = paths.plan(model, cfg.engine if single else "standard", self.precision, lora,
                          cfg.gradient_checkpointing, hold_frozen=hold_frozen and single,
                          device="cuda" if uses_cuda() else "cpu")
        checkpoints = checkpoints or self.folder.checkpoints
        training = Training(model, self.tokenizer, train, valid, cfg, checkpoints, self.recorder(), plan,
                            self.context, baseline, history, after_training)
        with engaged(model, plan, self.context, pages=training.pages, base_source=self.source):
            training.run(resume)
        return training.result()

    def _pad(self, pad_id: int | None) -> int:
        return self.tokenizer.pad_token_id if pad_id is None else pad_id
