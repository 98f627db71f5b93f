"""The command line's tests: the `anchortune` command run inside the test process (as its console script runs it,
exit code and all), and one tiny run folder trained once per session for the commands that read runs."""

from __future__ import annotations

import io
import os
import signal
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from anchortune.data.demo_support import support_demo
from anchortune.data.loading import save_anchor_points


@dataclass
class Ran:
    """What a user of the command saw: its exit code and what it printed."""

    code: int
    out: str
    err: str


def run_main(args: list[str], stdin: str = "") -> Ran:
    """`anchortune ARGS` through its console-script entry point, in this process. An exception the entry point lets
    through (which a user would see as a traceback) propagates to the test."""
    from anchortune.cli import main as cli

    try:  # the signal watcher is a process's, not a test's (tests/cli/test_terminate.py runs it in a child)
        from anchortune.cli import stopping
        install, stopping.install = stopping.install, lambda: None
    except ImportError:
        stopping = None
    saved = sys.argv, sys.stdin, os.environ.get("ANCHORTUNE_ALLOCATOR"), signal.getsignal(signal.SIGTERM)
    sys.argv, sys.stdin = ["anchortune", *args], io.StringIO(stdin)
    os.environ["ANCHORTUNE_ALLOCATOR"] = "system"  # no re-exec of the test process with jemalloc
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        sys.argv, sys.stdin = saved[0], saved[1]
        if saved[2] is None:
            os.environ.pop("ANCHORTUNE_ALLOCATOR", None)
        else:
            os.environ["ANCHORTUNE_ALLOCATOR"] = saved[2]
        signal.signal(signal.SIGTERM, saved[3])
        if stopping is not None:
            stopping.install = install
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def cli():
    """Run `anchortune ARGS` in this process: cli(*args, stdin="") -> Ran(code, out, err)."""
    return lambda *args, stdin="": run_main([str(a) for a in args], stdin)


@pytest.fixture(scope="session")
def tiny_run(tiny_model_dir, tmp_path_factory) -> Path:
    """A finished run folder of the tiny model on the support demo (2 steps), trained once: copy it before
    changing it."""
    from anchortune.app import runs
    from anchortune.config import RunConfig

    folder = tmp_path_factory.mktemp("tiny-run")
    data = save_anchor_points(support_demo(n_per_intent=3), folder / "support.jsonl")
    cfg = RunConfig.build(data=str(data), task="support", model=str(tiny_model_dir), max_steps=2, eval_every=1,
                          batch_size=4, precision="fp32")
    return runs.train_run(cfg, folder / "run", force=True).folder
