"""What a studio keeps on disk: checkpoints pruned after success to the chosen one and the last, the download cache
bounded (the zips used longest ago first), sizes per job, and the settings for both."""

from __future__ import annotations

import os
import time

import pytest

from anchortune.app import retention
from anchortune.app.workspace import StudioConfig, Workspace
from anchortune.errors import ConfigError


@pytest.fixture
def ws(tmp_path):
    return Workspace(StudioConfig(data_dir=tmp_path / "studio"))


def test_only_the_chosen_and_the_last_checkpoint_survive_a_success(ws):
    run = ws.data / "runs" / "ftjob-a"
    for step in (3, 6, 9, 12):
        (run / "checkpoints" / f"checkpoint-{step}").mkdir(parents=True)
        (run / "checkpoints" / f"checkpoint-{step}" / "adapter_model.safetensors").write_bytes(b"x" * 1000)
    keep = retention.kept_steps({"training": {"best_step": 6}}, [3, 6, 9, 12])
    assert keep == {6, 12}
    removed, freed = retention.prune_checkpoints(run, keep)
    assert removed == [3, 9] and freed == 2000
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-12", "checkpoint-6"]
    sizes = retention.job_sizes(ws, "ftjob-a")
    assert sizes["checkpoints"] == 2000 and sizes["total"] == 2000


def test_the_download_cache_keeps_to_its_bound_oldest_use_first(ws):
    ws.store.put_settings({"download_cache_mb": 1})  # 1 MiB: two zips of 400 kB fit, three do not

    def made(name: str, age_s: float):
        path = ws.data / "downloads" / f"ftjob-{name}-model.zip"
        path.write_bytes(b"z" * 400_000)
        os.utime(path, (time.time() - age_s, time.time() - age_s))
        return path

    a, b, c = made("a", 300), made("b", 200), made("c", 100)
    assert retention.bound_downloads(ws, keep=c) == ["ftjob-a-model.zip"] and b.exists() and c.exists()
    os.utime(b, None)  # b was just downloaded again: c is now the one used longest ago
    d = made("d", 0)
    assert retention.bound_downloads(ws, keep=d) == ["ftjob-c-model.zip"]
    assert b.exists() and d.exists() and retention.studio_sizes(ws)["downloads"] == 800_000


def test_settings_are_checked_stored_and_have_defaults(ws):
    assert retention.settings(ws) == retention.DEFAULTS
    assert retention.save_settings(ws, "all", "512") == {"keep_checkpoints": "all", "download_cache_mb": 512}
    with pytest.raises(ConfigError, match="keep_checkpoints"):
        retention.save_settings(ws, "some", "10")
    with pytest.raises(ConfigError, match="download_cache_mb"):
        retention.save_settings(ws, "all", "-3")
    assert retention.human_bytes(1_100_000_000) == "1.1 GB" and retention.human_bytes(512) == "512 B"
