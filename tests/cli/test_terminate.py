"""A SIGTERM or SIGINT stops any command within 2 s and leaves nothing half-written: during `anchortune train` (a
scheduler stopping it, `kill`) the folder left is one the next command accepts: nothing when no checkpoint was
written (a new run can use the same --out), or complete checkpoints `--resume` continues; and a command deep in a
native call that never comes back to Python is ended by the watcher, its pending writes undone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from anchortune.run_folder import RunFolder

STUCK = r"""
import ctypes, signal, sys
from pathlib import Path
from anchortune import scratch
from anchortune.cli import stopping

stopping.install()
half = Path(sys.argv[1])
half.write_text("the first half of a report")
with scratch.pending(half):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # deaf, as in a long native call
    print("ready", flush=True)
    ctypes.CDLL(None).sleep(60)
"""


def test_a_terminated_training_stops_within_2_s_leaving_a_folder_the_next_run_accepts(support_file, tiny_model_dir,
                                                                                      tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "anchortune", "train", str(support_file), "--task", "support",
                                "--model", str(tiny_model_dir), "--out", str(out), "--max-steps", "400",
                                "--eval-every", "200", "--batch-size", "4", "--precision", "fp32", "--force"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.time() + 240
    while not (out / "config.yaml").is_file() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert (out / "config.yaml").is_file(), "the run never wrote its folder"
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    assert time.monotonic() - sent < 2.0, f"stopped after {time.monotonic() - sent:.1f} s"
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    folder = RunFolder(out)
    assert folder.is_fresh_target() or folder.last_checkpoint_step() is not None
    left = [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert not left, f"half-written files left: {left}"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_command_stuck_in_native_code_is_ended_within_2_s_and_its_pending_write_undone(tmp_path, stop):
    half = tmp_path / "report.json"
    process = subprocess.Popen([sys.executable, "-c", STUCK, str(half)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    assert half.is_file()
    time.sleep(0.5)  # into the native call (a signal before it would unwind the ordinary way)
    process.send_signal(stop)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0, f"ended after {time.monotonic() - sent:.1f} s"
    assert process.returncode == 130 and "stopped" in stderr, stderr
    assert not half.exists()
