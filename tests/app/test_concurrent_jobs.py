"""Two studio jobs training at once in one process (two workers, each a thread) give the adapters each gives alone:
nothing a run keeps or changes is the process's (the run session's engine context, LoRA's first weights from the
run's own generator, accelerate's state per thread: train/session.py, engine/context.py, libraries.py)."""

from __future__ import annotations

import threading
import time

import torch
from safetensors.torch import load_file

from anchortune.app import datasets, jobs
from anchortune.app.workspace import StudioConfig, Workspace
from anchortune.data.demo_support import support_demo
from anchortune.data.loading import save_anchor_points
from anchortune.jobs import states
from anchortune.train.session import RunSession

OPTIONS = {"task": "support", "max_steps": 2, "eval_every": 2, "batch_size": 4, "precision": "fp32",
           "learning_rate": 3e-3, "patience": 0, "max_length": 128, "val_fraction": 0.25, "force": True}


def _adapter(ws, job_id: str) -> dict:
    return load_file(str(jobs.run_folder(ws, job_id) / "adapter" / "adapter_model.safetensors"))


def _lighter_runs(monkeypatch) -> None:
    """Less of what a run measures besides training (two general windows, eight cloze items, probe answers of eight
    tokens, no held-out answers, no adapter-scale sweep): the same work for the runs alone and at once, in a fraction
    of the time."""
    from anchortune.evaluate import general, probe
    from anchortune.train import choice, held_out

    full = general.general_set
    monkeypatch.setattr(general, "general_set", lambda tokenizer, max_chunks=2: general.GeneralSet(
        full(tokenizer, max_chunks).text, full(tokenizer).cloze[:8]))
    monkeypatch.setattr(probe, "ANSWER_TOKENS", 8)
    monkeypatch.setattr(held_out, "ANSWER_ROWS", 0)
    monkeypatch.setattr(choice, "SCALES", ())


def _finish(ws, job_ids: list[str], name: str) -> None:
    """One worker claiming and working jobs until every one of `job_ids` is final."""
    worker = jobs.worker(ws, name)
    while any(ws.store.job(j)["status"] not in states.FINAL for j in job_ids):
        if not worker.run_once():
            time.sleep(0.05)


def test_two_jobs_training_at_once_give_the_adapters_each_gives_alone(tmp_path, tiny_model_dir, monkeypatch):
    ws = Workspace(StudioConfig(data_dir=tmp_path / "studio", models={"tiny": str(tiny_model_dir)}, lease_s=60))
    data = save_anchor_points(support_demo(n_per_intent=2), tmp_path / "support.jsonl")
    file_id = datasets.upload(ws, "support.jsonl", [data.read_bytes()])["id"]
    report = datasets.check_data(data, task="support", model=str(tiny_model_dir))
    monkeypatch.setattr(datasets, "check_data", lambda *args, **kwargs: report)  # the same verdict, judged once
    _lighter_runs(monkeypatch)

    def create(seed: int) -> str:
        return jobs.create_job(ws, "tiny", file_id, seed=seed, options=dict(OPTIONS))["id"]

    alone = {}
    for seed in (1, 2):
        job_id = create(seed)
        _finish(ws, [job_id], f"alone-{seed}")
        assert ws.store.job(job_id)["status"] == states.SUCCEEDED, ws.store.job(job_id)["error"]
        alone[seed] = _adapter(ws, job_id)

    together = {seed: create(seed) for seed in (1, 2)}
    meeting = threading.Barrier(2, timeout=300)
    trained = RunSession.fine_tune

    def fine_tune_together(self, *args, **kwargs):  # neither training starts before the other job reached it
        meeting.wait()
        return trained(self, *args, **kwargs)

    monkeypatch.setattr(RunSession, "fine_tune", fine_tune_together)
    workers = [threading.Thread(target=_finish, args=(ws, list(together.values()), f"worker-{n}")) for n in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    assert not any(worker.is_alive() for worker in workers)
    for seed, job_id in together.items():
        done = ws.store.job(job_id)
        assert done["status"] == states.SUCCEEDED, done["error"]
        got = _adapter(ws, job_id)
        assert got.keys() == alone[seed].keys() and len(got) > 10
        for name, tensor in alone[seed].items():
            torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-5, msg=name)
    differ = [n for n in alone[1] if not torch.allclose(alone[1][n], alone[2][n], atol=1e-5)]
    assert differ  # the two seeds train two different adapters: each was compared with its own
