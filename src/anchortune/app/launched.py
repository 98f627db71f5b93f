"""The entry point of a run started in another process: a worker of torch.distributed.run
(train/distributed.py) or a Ray job (app/ray_dispatch.py). It reads the spec the starter wrote (config, run
folder, resume, the quality report the studio or the parent stored) and runs `runs.train_run` here; a user's
mistake is one line on stderr and exit 1, as the command line says it.

    python -m anchortune.app.launched SPEC.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(spec_path: str) -> int:
    import torch

    from anchortune.app.runs import train_run
    from anchortune.config import RunConfig
    from anchortune.errors import AnchortuneError

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    if "OMP_NUM_THREADS" in os.environ:  # the launcher's share of the cores for this process
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    try:
        train_run(RunConfig.build(**spec["config"]), spec["out"], resume=spec["resume"], force=True,
                  quality=spec["quality"])
    except AnchortuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
