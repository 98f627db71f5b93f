"""Training on several devices or machines: the launch, the ranks, and who writes.

Launcher: PyTorch's own elastic launcher (`torch.distributed.run`, the `torchrun` command), started as a child
process. It ships with torch (no new dependency), sets the environment (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR) that transformers' Trainer and accelerate read to run data-parallel (DDP) or FSDP2 without a code
path of their own, uses NCCL on GPUs and gloo on CPUs, and rendezvous across machines by a static master
address or c10d. Ray Train's TorchTrainer (Axolotl's choice) would start the same DDP processes through a Ray
cluster, and is worth it where a Ray cluster is already run: there, anchortune submits the whole `anchortune
train` command as a Ray job (app/ray_dispatch.py) and this launcher runs inside it, so the training itself is
the same everywhere. What each worker runs is the caller's (`entry`, a module run with `python -m`: the task run's
worker entry, recipes/launched.py): this module launches and follows, and knows no workflow.

A distributed run behaves as a single-process one (the parity test: tests/train/test_distributed.py): the
parent process checks the data with the quality gate and the preflight estimate (train/preflight.py) and refuses
a job that cannot fit before any worker starts; every worker trains on its share of each step's examples
(engine/collate.py, StepSampler: the same micro-batches a single process would make, dealt out), the Trainer
averages the gradients and divides the loss by the step's answer tokens of all processes together, so the
losses and the adapter equal a single-process run with the same global batch; evaluation, the balance guard's
measures, checkpoints and the run folder's files are rank 0's (global), the others only train. The workers take
the standard engine (plain transformers + PEFT): the fast parts have no parity test under DDP. FSDP2
(`--strategy fsdp`) is the Trainer's FSDP plugin, which accelerate applies on accelerators only: on CPU processes
it is refused (train/preflight.py), and its parity test needs two GPUs.

The parent follows rank 0's metrics.jsonl for progress events and reads summary.json at the end, so the CLI and
the studio's worker see the same events as from a run in their own process. Worker logs go to a folder named in
any error; a cancelled job (its event sink raising) stops the launcher and every worker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from anchortune import settings
from anchortune.errors import RunError
from anchortune.train.events import Event, EventSink, ignore

POLL_S = 0.5


@dataclass
class Launch:
    """Where the processes of one run go: `devices` per machine, `nodes` machines, this one `node_rank`, and
    the address of node 0 (`master`, host:port) every machine meets at (single machine: chosen locally)."""

    devices: int = 1
    nodes: int = 1
    node_rank: int = 0
    master: str | None = None

    @property
    def processes(self) -> int:
        return self.devices * self.nodes

    def torchrun_args(self, log_dir: Path) -> list[str]:
        args = ["--nnodes", str(self.nodes), "--nproc-per-node", str(self.devices), "--max-restarts", "0",
                "--redirects", "3", "--log-dir", str(log_dir)]
        if self.nodes == 1 and not self.master:
            return args + ["--standalone"]
        host, _, port = (self.master or "").rpartition(":")
        if not host or not port.isdigit():
            raise RunError(f"--master '{self.master}': expected host:port of node 0 (e.g. 10.0.0.1:29500)")
        return args + ["--node-rank", str(self.node_rank), "--master-addr", host, "--master-port", port]


def rank() -> int:
    """This process's global rank (0 outside a launch)."""
    return settings.rank()


def world() -> int:
    """Processes training together (1 outside a launch)."""
    return settings.world_size()


def is_main() -> bool:
    """True in the process that evaluates and writes: rank 0, or a single-process run."""
    return rank() == 0


def inside() -> bool:
    """True in a worker the launcher started (it must not launch again)."""
    return settings.launched_worker()


def threads_per_process(devices: int) -> int:
    """CPU threads for each of `devices` processes on this machine (torchrun's default is 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, devices))


def run(cfg, out: Path, resume: bool, quality: dict | None, launch: Launch, entry: str,
        on_event: EventSink = ignore) -> dict:
    """Train `cfg` into `out` on launch.processes processes, each running the module `entry` (`python -m ENTRY
    SPEC.json`); the run's summary (rank 0's summary.json).

    Progress comes from rank 0's metrics.jsonl as it grows; a worker's failure raises RunError with its last
    error line and the folder of the logs; an exception from `on_event` (a cancelled job) stops every worker."""
    out = Path(out)
    spec_dir = Path(tempfile.mkdtemp(prefix="anchortune-launch-"))
    spec = spec_dir / "spec.json"
    spec.write_text(json.dumps({"config": cfg.model_dump(), "out": str(out), "resume": resume, "quality": quality,
                                "launch": asdict(launch)}), encoding="utf-8")
    logs = spec_dir / "logs"
    env = settings.environment(OMP_NUM_THREADS=str(threads_per_process(launch.devices)),
                               TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE="", LOGLEVEL="ERROR", PYTHONWARNINGS="ignore")
    command = [sys.executable, "-m", "torch.distributed.run", *launch.torchrun_args(logs), "-m", entry, str(spec)]
    metrics = out / "metrics.jsonl"
    seen = len(metrics.read_text(encoding="utf-8").splitlines()) if resume and metrics.is_file() else 0
    on_event(Event("info", 0, {"message": f"training on {launch.processes} processes ({launch.devices} per machine "
                                          f"x {launch.nodes} machines) through torch.distributed.run; worker logs "
                                          f"in {logs}"}))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, text=True)
    try:
        while process.poll() is None:
            seen = _follow(metrics, seen, on_event)
            time.sleep(POLL_S)
        seen = _follow(metrics, seen, on_event)
    except BaseException:
        _stop(process)
        shutil.rmtree(spec_dir, ignore_errors=True)
        raise
    launcher_err = process.stderr.read() if process.stderr else ""
    if process.returncode != 0:
        raise RunError(f"distributed training failed (exit {process.returncode}): {_first_error(logs, launcher_err)}; "
                       f"worker logs in {logs}")
    shutil.rmtree(spec_dir, ignore_errors=True)  # a failed launch keeps its logs for the error's reader
    if launch.node_rank != 0:  # rank 0 lives on node 0 and wrote the run there
        return {}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    diagnosis = (summary.get("balance") or {}).get("diagnosis")
    if diagnosis:
        on_event(Event("info", summary["training"]["steps"],
                       {"message": f"verdict: {diagnosis['verdict']} - {diagnosis['reason']}"}))
    on_event(Event("done", summary["training"]["steps"], {"base_valid": summary["losses"]["base_valid"],
                                                          "tuned_valid": summary["losses"]["tuned_valid"]}))
    return summary


def _follow(metrics: Path, seen: int, on_event: EventSink) -> int:
    """Emit the train and eval rows rank 0 appended since line `seen`; the new count of lines."""
    if not metrics.is_file():
        return seen
    lines = metrics.read_text(encoding="utf-8").splitlines()
    complete = lines if lines and metrics.read_text(encoding="utf-8").endswith("\n") else lines[:-1]
    for line in complete[seen:]:
        row = json.loads(line)
        step = row.pop("step", 0)
        on_event(Event("eval" if "valid_loss" in row else "train", step, row))
    return max(seen, len(complete))


def _stop(process: subprocess.Popen) -> None:
    """Stop the launcher and its workers (their own process group): SIGTERM, then SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def _first_error(logs: Path, launcher_err: str) -> str:
    """The last line of the first worker log that reports an error (anchortune's own message where it printed
    one), else the launcher's last line."""
    for path in sorted(logs.rglob("stderr.log")):
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if line.strip()]
        if lines:
            return lines[-1]
    tail = [line for line in launcher_err.splitlines() if line.strip()]
    return tail[-1] if tail else "no worker wrote an error"
