"""A training run's events as stored job events: stages, messages, metrics, checkpoints, throttled progress
(app/jobs.py hands it to `runs.train_run` as its event sink).

Progress events carry the stage they belong to (recipes/task_run.py's STAGES), the stage's own time left and, during
training, the whole run's (`eta_total_s`: evaluations to come and the final evaluation included); the job's
estimated finish follows the whole run's time left, never the training steps' alone."""

from __future__ import annotations

import time

from anchortune.jobs.store import Store
from anchortune.jobs.worker import JobContext
from anchortune.messages import say
from anchortune.train.events import Event


class JobRecorder:
    """Turns a run's events into stored job events: stages, messages, metrics, checkpoints, throttled progress."""

    def __init__(self, ctx: JobContext, store: Store):
        self.ctx, self.store = ctx, store
        self.last_progress = 0.0
        self.stage: dict = {}

    def __call__(self, event: Event) -> None:
        self.ctx.check()
        job_id, data, step = self.ctx.job["id"], event.data, event.step
        if event.kind == "progress":
            self._progress(job_id, step, data)
        elif event.kind == "stage":
            self.stage = {k: data.get(k) for k in ("stage", "index", "of")}
            self.store.add_event(job_id, "info", data["message"], type="progress", step=step,
                                 data={"step": step, **self.stage, "eta_s": data.get("eta_s"), "fraction": 0.0})
            self._finish_by(data.get("eta_s"))
        elif event.kind == "train":
            self.store.add_event(job_id, "info", say("log_train_loss", step=step, loss=f"{data['train_loss']:.4f}"),
                                 type="metrics", step=step, data={"step": step, **data})
        elif event.kind == "eval":
            from anchortune.evaluate.balance import general_summary

            general = general_summary(data).removeprefix(", ")
            message = say("log_valid_loss_general", step=step, loss=f"{data['valid_loss']:.4f}", general=general) \
                if general else say("log_valid_loss", step=step, loss=f"{data['valid_loss']:.4f}")
            self.store.add_event(job_id, "info", message, type="metrics", step=step, data={"step": step, **data})
            self.store.add_checkpoint(job_id, step, {"step": step, **data})
        elif event.kind == "start":
            key = "log_resumed" if data.get("resumed_from") else "log_started"
            self.store.add_event(job_id, "info", say(key, step=step, max=data["max_steps"],
                                                     precision=data.get("precision")), step=step, data=data)
        elif event.kind in ("info", "warning"):
            self.store.add_event(job_id, event.kind, data.get("message", ""), step=step)
        elif event.kind == "done":
            self.store.add_event(job_id, "info", say("log_done"), step=step, data=data)

    def _progress(self, job_id: str, step: int, data: dict) -> None:
        now = time.time()
        last = data.get("fraction", 0) >= 1 or (data.get("max_steps") and step == data.get("max_steps"))
        if now - self.last_progress < 1.0 and not last:
            return
        self.last_progress = now
        row = {"step": step, **self.stage, **data}
        if "max_steps" in data:
            message = say("log_progress", step=step, max=data["max_steps"])
        else:
            message = say("log_stage", stage=say(f"stage_{data.get('stage', self.stage.get('stage'))}"))
        self.store.add_event(job_id, "info", message, type="progress", step=step, data=row)
        self._finish_by(data.get("eta_total_s") if data.get("eta_total_s") is not None else data.get("eta_s"))

    def _finish_by(self, eta_s: float | None) -> None:
        if eta_s is not None:
            self.store.change(self.ctx.job["id"], estimated_finish=int(time.time() + eta_s))
