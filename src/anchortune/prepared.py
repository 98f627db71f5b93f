"""Folders a child Python process prepares once (a base model dequantised from its GGUF, the distilled embedder):
written into a temporary folder beside the target and renamed into place, so a failed or stopped preparation leaves
nothing. The child's output (libraries' progress bars, logs) and its memory stay out of this process: the studio
serves from it. Knows nothing about what the folders hold.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from anchortune import scratch, settings

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])  # the child imports this anchortune, wherever it lies


def prepare(target: Path, code: str, args: list[str], failed: str, error: type[Exception], **env: str) -> Path:
    """`target` made by `python -c CODE TMP ARGS...` (the temporary folder first); `error(failed: the child's last
    line)` where the child fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    tmp.chmod(0o755)
    path = os.pathsep.join(p for p in (PACKAGE_ROOT, settings.environment().get("PYTHONPATH")) if p)
    try:
        with scratch.pending(tmp):
            done = subprocess.run([sys.executable, "-c", code, str(tmp), *map(str, args)], capture_output=True,
                                  text=True, env=settings.environment(PYTHONPATH=path, **env))
            if done.returncode != 0:
                lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
                raise error(f"{failed}: {lines[-1] if lines else f'the child process ended with {done.returncode}'}")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
