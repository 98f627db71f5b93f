"""The command line runs on jemalloc where the machine has it, and on the system allocator when told to."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from anchortune import allocator


def _train(support_file, tiny_model_dir, out, **env) -> dict:
    result = subprocess.run([sys.executable, "-m", "anchortune", "train", str(support_file), "--task", "support",
                             "--model", str(tiny_model_dir), "--out", str(out), "--max-steps", "2", "--eval-every",
                             "2", "--batch-size", "4", "--precision", "fp32"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((out / "summary.json").read_text())["training"]


def test_training_runs_on_jemalloc_when_installed_and_on_the_system_one_when_asked(support_file, tiny_model_dir,
                                                                                   tmp_path, monkeypatch):
    monkeypatch.delenv(allocator.ENV, raising=False)
    if not allocator.library():
        pytest.skip("libjemalloc is not installed here (`make test` installs Debian's libjemalloc2)")
    assert "libjemalloc" in _train(support_file, tiny_model_dir, tmp_path / "a")["allocator"]
    assert _train(support_file, tiny_model_dir, tmp_path / "b", ANCHORTUNE_ALLOCATOR="system")["allocator"] == "system"


def test_launch_environment_preloads_the_library_once(monkeypatch):
    monkeypatch.setenv(allocator.ENV, "system")
    assert "LD_PRELOAD" not in allocator.preload_env({"PATH": "/bin"})
    monkeypatch.setenv(allocator.ENV, "/no/such/library.so")
    assert allocator.library() is None
    monkeypatch.delenv(allocator.ENV)
    if allocator.library():
        env = allocator.preload_env({"LD_PRELOAD": "libother.so"})
        assert env["LD_PRELOAD"].split() == [allocator.library(), "libother.so"]
        assert allocator.preload_env(env)["LD_PRELOAD"] == env["LD_PRELOAD"]


def test_jemalloc_gets_the_projects_configuration_unless_the_user_configured_it(monkeypatch):
    monkeypatch.delenv(allocator.ENV, raising=False)
    if not allocator.library():
        pytest.skip("libjemalloc is not installed here (`make test` installs Debian's libjemalloc2)")
    assert allocator.preload_env({"PATH": "/bin"})["MALLOC_CONF"] == allocator.JEMALLOC_CONF
    assert allocator.preload_env({"PATH": "/bin", "MALLOC_CONF": "narenas:1"})["MALLOC_CONF"] == "narenas:1"


RELEASE_PROBE = """
import torch
from anchortune import allocator
kept = allocator.active() is not None
before = allocator.resident_bytes()
blocks = [torch.ones(2**19) for _ in range(128)]  # 256 MiB in activation-sized blocks of 2 MiB, written
del blocks
cached = allocator.resident_bytes()
released = allocator.release()
print(kept, before, cached, released, allocator.resident_bytes())
"""


def test_freed_pages_stay_cached_until_released(monkeypatch):
    """Under the process's allocator policy freed pages stay resident (reused without faults) until `release`."""
    monkeypatch.delenv(allocator.ENV, raising=False)
    if not allocator.library():
        pytest.skip("libjemalloc is not installed here (`make test` installs Debian's libjemalloc2)")
    env = allocator.preload_env({k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MALLOC_CONF")})
    done = subprocess.run([sys.executable, "-c", RELEASE_PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    kept, before, cached, released, after = done.stdout.split()
    mib = 2**20
    assert kept == released == "True"
    assert int(cached) - int(before) > 200 * mib  # freed, still resident
    assert int(cached) - int(after) > 200 * mib  # handed back


def test_without_jemalloc_release_says_so():
    if allocator.active():
        pytest.skip("this test process runs on jemalloc")
    assert allocator.release() is False
    assert allocator.resident_bytes() > 0
