"""Training on several processes (train/distributed.py): two CPU processes over gloo train as one process does
with the same global batch; only rank 0 writes; the launch refuses what cannot run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from anchortune.app.runs import train_run
from anchortune.config import RunConfig
from anchortune.engine.collate import StepSampler
from anchortune.errors import RunError
from anchortune.train.distributed import Launch


def _common(support_file, tiny_model_dir, **extra) -> dict:
    return {**dict(data=str(support_file), task="support", model=str(tiny_model_dir), batch_size=4, max_steps=6,
                   eval_every=3, engine="standard", precision="fp32", seed=0, learning_rate=5e-3), **extra}


def _rows(run, kind: str) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r[kind]) for r in rows if kind in r]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, tiny_model_dir):
    """The same run on one process and on two (gloo), and the events of the second."""
    from anchortune.data.demo_support import support_demo
    from anchortune.data.loading import save_anchor_points

    root = tmp_path_factory.mktemp("distributed")
    data = save_anchor_points(support_demo(n_per_intent=3), root / "support.jsonl")
    events = []
    one = train_run(RunConfig.build(**_common(data, tiny_model_dir)), root / "one", force=True)
    two = train_run(RunConfig.build(**_common(data, tiny_model_dir, devices=2)), root / "two", force=True,
                    on_event=events.append)
    return one, two, events, data


def test_two_processes_train_as_one_process_with_the_same_global_batch(pair):
    one, two, events, _ = pair
    strategy = "ddp"
    first, second = (load_file(str(r.folder / "adapter" / "adapter_model.safetensors")) for r in (one, two))
    assert first.keys() == second.keys() and first
    moved = max((first[k] - second[k]).abs().max().item() for k in first)
    assert moved < 1e-5
    for kind in ("train_loss", "valid_loss"):
        a, b = _rows(one.folder, kind), _rows(two.folder, kind)
        assert [s for s, _ in a] == [s for s, _ in b] and a
        assert [v for _, v in b] == pytest.approx([v for _, v in a], rel=1e-4), kind
    start = load_file(str(one.folder / "checkpoints" / "checkpoint-3" / "adapter_model.safetensors"))
    assert max((first[k] - start[k]).abs().max().item() for k in first) > 1e-3  # the adapter did train
    assert two.summary["balance"]["chosen"]["step"] == one.summary["balance"]["chosen"]["step"]
    # rank 0 alone wrote the run: the same files as the single process's, progress followed from its metrics
    names = lambda run: sorted(p.relative_to(run).as_posix() for p in run.rglob("*")  # noqa: E731
                               if "checkpoint-" not in p.as_posix())
    assert names(two.folder) == names(one.folder)
    kinds = [e.kind for e in events]
    assert "eval" in kinds and kinds[-1] == "done"
    assert any("2 processes" in e.data.get("message", "") for e in events)
    assert two.summary["training"]["engine"]["path"] == "standard"  # no fast part is proven under DDP or FSDP
    parallel = two.summary["training"]["parallel"]
    assert parallel["processes"] == 2 and parallel["strategy"] == strategy and parallel["fsdp"] == (strategy == "fsdp")
    assert parallel["accelerate"] == "MULTI_CPU"
    assert one.summary["training"]["parallel"]["processes"] == 1


def test_the_step_sampler_deals_each_process_its_share_of_the_single_process_micro_batches():
    lengths = [5, 9, 3, 7, 11, 2, 8, 6, 4, 10, 1, 12, 13]
    single = list(StepSampler(lengths, batch=4, micro_batches=2, seed=3))
    ranks = [list(StepSampler(lengths, batch=4, micro_batches=1, seed=3, rank=r, world=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(StepSampler(lengths, 4, 1, 3, rank=0, world=2))
    dealt = [group for pair in zip(*ranks) for group in pair]
    assert dealt == single[:len(dealt)]
    # the last batch (one example of 13) cannot feed two processes: left out, on both
    assert sum(len(g) for g in dealt) == 12


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="FSDP2 shards across GPUs: needs two CUDA GPUs")
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_gpus_train_as_one_gpu_with_the_same_global_batch(tmp_path, support_file, tiny_model_dir, strategy):
    one = train_run(RunConfig.build(**_common(support_file, tiny_model_dir)), tmp_path / "one", force=True)
    two = train_run(RunConfig.build(**_common(support_file, tiny_model_dir, devices=2, strategy=strategy)),
                    tmp_path / "two", force=True)
    assert two.summary["training"]["parallel"]["fsdp"] == (strategy == "fsdp")
    for kind in ("train_loss", "valid_loss"):
        assert [v for _, v in _rows(two.folder, kind)] == pytest.approx([v for _, v in _rows(one.folder, kind)],
                                                                         rel=1e-4)
    first, second = (load_file(str(r.folder / "adapter" / "adapter_model.safetensors")) for r in (one, two))
    assert max((first[k] - second[k]).abs().max().item() for k in first) < 1e-5


def test_a_launch_that_cannot_run_here_is_refused_before_any_worker_starts(tmp_path, support_file, tiny_model_dir):
    cfg = RunConfig.build(**_common(support_file, tiny_model_dir, devices=3))
    with pytest.raises(RunError, match="does not split over 3 processes|CPU core of its own"):
        train_run(cfg, tmp_path / "odd", force=True)
    assert not (tmp_path / "odd").exists()
    with pytest.raises(RunError, match="host:port"):
        train_run(RunConfig.build(**_common(support_file, tiny_model_dir, nodes=2)), tmp_path / "nodes",
                  force=True, launch=Launch(devices=1, nodes=2, node_rank=0, master="nowhere"))
    assert not (tmp_path / "nodes").exists()
    if not torch.cuda.is_available():
        with pytest.raises(RunError, match="shards a model across GPUs"):
            train_run(RunConfig.build(**_common(support_file, tiny_model_dir, devices=2, strategy="fsdp")),
                      tmp_path / "fsdp", force=True)
        assert not (tmp_path / "fsdp").exists()


def test_a_worker_failure_is_one_clear_error_and_leaves_no_half_written_run(tmp_path, support_file, tiny_model_dir):
    cfg = RunConfig.build(**_common(support_file, tiny_model_dir, devices=2, max_length=16))  # nothing fits 16
    with pytest.raises(RunError) as caught:
        train_run(cfg, tmp_path / "failed", force=True)
    assert "distributed training failed" in str(caught.value) and "answer token" in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert not (tmp_path / "failed").exists()


class _Cancel(Exception):
    pass


def _workers() -> list[str]:
    """Command lines of this machine's anchortune workers still alive."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if "anchortune.recipes.launched" in line:
            found.append(line)
    return found


def test_a_cancelled_distributed_run_stops_the_launcher_and_every_worker(tmp_path, support_file, tiny_model_dir):
    def cancel_at_the_first_training_row(event):
        if event.kind == "train":
            raise _Cancel

    cfg = RunConfig.build(**_common(support_file, tiny_model_dir, devices=2, max_steps=400, eval_every=200))
    with pytest.raises(_Cancel):
        train_run(cfg, tmp_path / "cancelled", force=True, on_event=cancel_at_the_first_training_row)
    assert _workers() == []
    assert not (tmp_path / "cancelled" / "summary.json").exists()


def test_a_distributed_run_cut_off_after_a_checkpoint_resumes_to_the_uninterrupted_adapter(tmp_path, pair,
                                                                                          tiny_model_dir):
    import shutil

    one, two, _, data = pair
    run = tmp_path / "two"
    shutil.copytree(two.folder, run)
    # what a crash after step 3's checkpoint leaves: that checkpoint, the config and data, the quality report, the
    # metrics
    for path in run.iterdir():
        if path.name not in ("checkpoints", "config.yaml", "data", "sha256.json", "quality.json", "quality.html",
                             "metrics.jsonl"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.rmtree(run / "checkpoints" / "checkpoint-6")
    resumed = train_run(RunConfig.build(**_common(data, tiny_model_dir, devices=2)), run, resume=True, force=True)
    assert resumed.summary["training"]["steps"] == 6
    first, second = (load_file(str(r.folder / "adapter" / "adapter_model.safetensors")) for r in (one, resumed))
    assert max((first[k] - second[k]).abs().max().item() for k in first) < 1e-5
    assert [s for s, _ in _rows(run, "valid_loss")] == [3, 6]
    assert [s for s, _ in _rows(run, "train_loss")] == [1, 2, 3, 4, 5, 6]
