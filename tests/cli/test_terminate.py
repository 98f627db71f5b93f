"""A SIGTERM during `anchortune train` (a scheduler stopping it, `kill`) leaves a folder the next command accepts:
nothing when no checkpoint was written (a new run can use the same --out), or checkpoints `--resume` continues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from anchortune.run_folder import RunFolder


def test_a_terminated_training_leaves_a_folder_the_next_run_accepts(support_file, tiny_model_dir, tmp_path):
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
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    folder = RunFolder(out)
    assert folder.is_fresh_target() or folder.last_checkpoint_step() is not None
