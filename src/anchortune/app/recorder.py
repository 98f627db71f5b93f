"""A training run's events as stored job events: messages, metrics, checkpoints, throttled progress (app/jobs.py
hands it to `runs.train_run` as its event sink)."""

from __future__ import annotations

import time

from anchortune.jobs.store import Store
from anchortune.jobs.worker import JobContext
from anchortune.train.events import Event


class JobRecorder:
    """Turns a run's events into stored job events: messages, metrics, checkpoints, throttled progress."""

    def __init__(self, ctx: JobContext, store: Store):
        self.ctx, self.store = ctx, store
        self.last_progress = 0.0

    def __call__(self, event: Event) -> None:
        self.ctx.check()
        job_id, data, step = self.ctx.job["id"], event.data, event.step
        if event.kind == "progress":
            now = time.time()
            if now - self.last_progress >= 1.0 or step == data.get("max_steps"):
                self.last_progress = now
                self.store.add_event(job_id, "info", f"step {step} of {data['max_steps']}", type="progress",
                                     step=step, data={"step": step, **data})
                self.store.change(job_id, estimated_finish=int(now + data.get("eta_s", 0)))
        elif event.kind == "train":
            self.store.add_event(job_id, "info", f"step {step}: training loss {data['train_loss']:.4f}",
                                 type="metrics", step=step, data={"step": step, **data})
        elif event.kind == "eval":
            from anchortune.evaluate.balance import general_summary

            self.store.add_event(job_id, "info", f"step {step}: validation loss {data['valid_loss']:.4f}"
                                 f"{general_summary(data)}",
                                 type="metrics", step=step, data={"step": step, **data})
            self.store.add_checkpoint(job_id, step, {"step": step, **data})
        elif event.kind == "start":
            verb = "resumed at" if data.get("resumed_from") else "started at"
            self.store.add_event(job_id, "info", f"training {verb} step {step} of {data['max_steps']} "
                                                 f"({data.get('precision')})", step=step, data=data)
        elif event.kind in ("info", "warning"):
            self.store.add_event(job_id, event.kind, data.get("message", ""),
                                 step=step)
        elif event.kind == "done":
            self.store.add_event(job_id, "info", "training finished; model exported", step=step, data=data)
