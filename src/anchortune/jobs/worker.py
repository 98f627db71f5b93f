"""The worker: claims jobs from the store, validates and runs them, keeps their lease alive.

The work itself is injected (`validate` and `train` callables from app/jobs.py),
so this module knows the store and the life cycle, not how a model is trained. A heartbeat thread
renews the lease every quarter of it (2 s at most) and notices cancellation; a job whose worker died (kill -9, power loss) is claimed by
the next worker once its lease has run out and is trained on from its last checkpoint.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from anchortune.errors import AnchortuneError
from anchortune.jobs import states
from anchortune.jobs.store import Store
from anchortune.messages import say

log = logging.getLogger("anchortune.worker")


class JobCancelled(Exception):
    """Raised inside a job's event sink when the user cancelled it."""


class LeaseLost(Exception):
    """Raised when another worker took the job over (this one was presumed dead)."""


@dataclass
class JobContext:
    """What a running job may ask of its worker: report, and learn whether it should stop."""

    store: Store
    job: dict
    worker: str
    cancelled: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)

    def report(self, level: str, message: str, type: str = "message", step: int = 0, data: dict | None = None) -> None:
        self.check()
        self.store.add_event(self.job["id"], level, message, type=type, step=step, data=data)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.job["id"])
        if self.cancelled.is_set():
            raise JobCancelled(self.job["id"])


Validate = Callable[[JobContext], None]
Train = Callable[[JobContext], dict]


class Worker:
    """One worker loop over a store; `run` until `stop` is set (or once, for tests and scripts)."""

    def __init__(self, store: Store, validate: Validate, train: Train, lease_s: float, name: str | None = None,
                 poll_s: float = 1.0, nice: int = 0):
        self.nice = nice  # run at this much lower CPU priority (an embedded worker yields to the server's requests)
        self.store = store
        self.validate = validate
        self.train = train
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        if self.nice:
            lower_priority(self.nice)
        while not stop.is_set():
            if not self.run_once():
                stop.wait(self.poll_s)

    def run_once(self) -> bool:
        """Claim and work one job; False when none was waiting."""
        job = self.store.claim(self.name, self.lease_s)
        if job is None:
            return False
        context = JobContext(self.store, job, self.name)
        beating = threading.Event()
        beat = threading.Thread(target=self._beat, args=(context, beating), daemon=True)
        beat.start()
        try:
            self._work(context)
        finally:
            beating.set()
            beat.join()
        return True

    def _work(self, ctx: JobContext) -> None:
        job_id = ctx.job["id"]
        try:
            if ctx.job["status"] == states.VALIDATING:
                ctx.report("info", say("log_validating"))
                self.validate(ctx)
                self.store.move(job_id, states.QUEUED, worker=None)
                self.store.add_event(job_id, "info", say("log_queued"))
                return  # the next claim (by any worker) starts it
            self._run(ctx)
        except JobCancelled:
            if self.store.move(job_id, states.CANCELLED):
                self.store.add_event(job_id, "info", say("log_cancelled"))
        except LeaseLost:
            log.warning("job %s was taken over by another worker", job_id)
        except AnchortuneError as exc:
            self._fail(job_id, exc.code, str(exc))
        except Exception as exc:  # a bug or an environment failure: the job fails, the worker lives on
            log.exception("job %s failed", job_id)
            self._fail(job_id, "internal_error", say("e_internal", detail=f"{exc.__class__.__name__}: {exc}"))

    def _run(self, ctx: JobContext) -> None:
        job_id = ctx.job["id"]
        first = ctx.job["status"] == states.QUEUED
        if first:
            self.store.move(job_id, states.RUNNING, started_at=int(time.time()))
        result = self.train(ctx)
        if self.store.move(job_id, states.SUCCEEDED, **result):
            self.store.add_event(job_id, "info", say("log_succeeded"))

    def _fail(self, job_id: str, code: str, message: str) -> None:
        self.store.move(job_id, states.FAILED, error={"code": code, "message": message, "param": None})
        self.store.add_event(job_id, "error", message)

    def _beat(self, ctx: JobContext, done: threading.Event) -> None:
        while not done.wait(min(2.0, max(0.2, self.lease_s / 4))):
            job = self.store.heartbeat(ctx.job["id"], self.name)
            if job is None or job["worker"] not in (self.name, None):
                ctx.lost.set()
            elif job["cancel_requested"]:
                ctx.cancelled.set()


def lower_priority(steps: int) -> None:
    """Lower this thread's CPU priority by `steps` nice levels (Linux keeps one per thread, and the threads it starts,
    torch's compute threads among them, inherit it), so that a studio's requests are served first while it trains.
    Where the platform has no per-thread priority, nothing changes."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except (AttributeError, OSError):
        pass
