"""The entry point of a run started in another process: a worker of torch.distributed.run (train/distributed.py),
which trains its share (task_run.train_worker), or a Ray job (app/ray_dispatch.py), which runs the whole task run
(task_run.train_run: on several processes it launches them from there). It reads the spec the starter wrote
(config, run folder, resume, the quality report the studio or the parent stored); a user's mistake is one line on
stderr and exit 1, as the command line says it.

    python -m anchortune.recipes.launched SPEC.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(spec_path: str) -> int:
    import torch

    from anchortune import settings
    from anchortune.config import RunConfig
    from anchortune.errors import AnchortuneError
    from anchortune.recipes.task_run import train_run, train_worker
    from anchortune.train import distributed

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    threads = settings.cpu_threads()
    if threads:  # the launcher's share of the cores for this process, set as it starts
        torch.set_num_threads(threads)
    try:
        cfg = RunConfig.build(**spec["config"])
        if distributed.inside():
            train_worker(cfg, spec["out"], spec["resume"], spec["quality"])
        else:
            train_run(cfg, spec["out"], resume=spec["resume"], force=True, quality=spec["quality"])
    except AnchortuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
