"""Studio load benchmark: 20 concurrent clients polling job events and listing jobs, idle versus while a job trains.

    python bench/studio_load.py [--clients 20] [--seconds 40] [--interval 0.25] [--model NAME] [--out bench/results]

Starts `anchortune serve` (one embedded worker) on a free loopback port over a fresh data folder,
uploads the project's support demo set, and runs the same client load twice in this one script:
(a) baseline, the server idle; (b) while a fine-tuning job of the real default model trains in the
server's embedded worker. Each client alternates GET /v1/fine_tuning/jobs and
GET /v1/fine_tuning/jobs/{id}/events every `interval` seconds. Reports per phase and endpoint:
requests, errors, requests/s, p50/p95/p99/max latency. The job is cancelled afterwards.
Traffic goes to 127.0.0.1 only and the loops stop by themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def client(base: str, job_id: str, until: float, interval: float, samples: dict) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        turn = 0
        while time.monotonic() < until:
            name, path = (("list_jobs", "/v1/fine_tuning/jobs?limit=20") if turn % 2 == 0 else
                          ("events", f"/v1/fine_tuning/jobs/{job_id}/events?limit=20"))
            started = time.perf_counter()
            try:
                response = await http.get(path)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            samples[name].append((time.perf_counter() - started, ok))
            turn += 1
            await asyncio.sleep(interval)


def load(base: str, job_id: str, clients: int, seconds: float, interval: float) -> dict:
    samples: dict[str, list] = {"list_jobs": [], "events": []}
    until = time.monotonic() + seconds

    async def run() -> None:
        await asyncio.gather(*(client(base, job_id, until, interval, samples) for _ in range(clients)))

    asyncio.run(run())
    out = {}
    for name, rows in samples.items():
        latencies = [1000 * t for t, ok in rows if ok]
        out[name] = {"requests": len(rows), "errors": sum(1 for _, ok in rows if not ok),
                     "requests_per_s": round(len(rows) / seconds, 1),
                     "p50_ms": round(percentile(latencies, 0.5), 1), "p95_ms": round(percentile(latencies, 0.95), 1),
                     "p99_ms": round(percentile(latencies, 0.99), 1), "max_ms": round(max(latencies), 1),
                     "mean_ms": round(statistics.fmean(latencies), 1)}
    every = [1000 * t for rows in samples.values() for t, ok in rows if ok]
    out["all"] = {"requests": sum(len(r) for r in samples.values()),
                  "errors": sum(v["errors"] for k, v in out.items() if k != "all"),
                  "p50_ms": round(percentile(every, 0.5), 1), "p95_ms": round(percentile(every, 0.95), 1),
                  "max_ms": round(max(every), 1)}
    return out


def wait(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    memory = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")), "?")
    return f"{cpu}, {os.cpu_count()} cores, {int(memory) // 1024 // 1024} GiB, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--model", default=None, help="Catalog name or NAME=PATH (default: the catalog default).")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()

    from anchortune.app import datasets as app_datasets

    work = Path(tempfile.mkdtemp(prefix="anchortune-load-"))
    data = app_datasets.write_demo_data("support", work / "support.jsonl")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "anchortune", "serve", "--port", str(port), "--data", str(work / "studio")]
    if args.model and "=" in args.model:
        command += ["--model", args.model]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "ANCHORTUNE_TOKEN": ""})
    try:
        wait(lambda: _up(base), 120, "the server")
        http = httpx.Client(base_url=base, timeout=60)
        file_id = http.post("/v1/files", files={"file": (data.name, data.read_bytes())},
                            data={"purpose": "fine-tune"}).json()["id"]
        model = args.model.split("=", 1)[0] if args.model else "smollm2-135m-instruct"
        job = http.post("/v1/fine_tuning/jobs", json={"model": model, "training_file": file_id, "task": "support",
                                                      "options": {"max_steps": 400, "eval_every": 50}}).json()
        job_id = job["id"]
        # (a) baseline: a job created and cancelled at once gives the clients events to read, server idle
        http.post(f"/v1/fine_tuning/jobs/{job_id}/cancel")
        wait(lambda: http.get(f"/v1/fine_tuning/jobs/{job_id}").json()["status"] == "cancelled", 120, "cancel")
        baseline = load(base, job_id, args.clients, args.seconds, args.interval)

        job = http.post("/v1/fine_tuning/jobs", json={"model": model, "training_file": file_id, "task": "support",
                                                      "options": {"max_steps": 400, "eval_every": 10}}).json()
        job_id = job["id"]
        wait(lambda: any(e["message"].startswith("training started") for e in
                         http.get(f"/v1/fine_tuning/jobs/{job_id}/events?limit=100").json()["data"]),
             900, "training to start")
        started = time.time()
        training = load(base, job_id, args.clients, args.seconds, args.interval)
        state = http.get(f"/v1/fine_tuning/jobs/{job_id}").json()["status"]
        progress = [e["data"]["step"] for e in http.get(f"/v1/fine_tuning/jobs/{job_id}/events?limit=100").json()
                    ["data"] if e["type"] == "metrics"]
        http.post(f"/v1/fine_tuning/jobs/{job_id}/cancel")
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)

    result = {"machine": machine(), "clients": args.clients, "seconds": args.seconds, "interval_s": args.interval,
              "model": model, "job_status_during_load": state, "training_seconds_under_load": round(time.time() - started),
              "metrics_events_during_load": len(progress),
              "last_logged_step": max(progress, default=0), "baseline_idle": baseline, "while_training": training}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "studio_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "studio_load.md").write_text(markdown(result))
    print(markdown(result))


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def markdown(result: dict) -> str:
    lines = [f"# Studio load: {result['clients']} clients, {result['seconds']:.0f} s per phase, "
             f"one request per {result['interval_s']} s each", "", f"Machine: {result['machine']}.",
             f"Training job: {result['model']} (status during load: {result['job_status_during_load']}; "
             f"{result['metrics_events_during_load']} metrics events logged, up to step {result['last_logged_step']}).",
             "",
             "| phase | endpoint | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for phase, key in (("idle (baseline)", "baseline_idle"), ("while training", "while_training")):
        for endpoint in ("list_jobs", "events"):
            r = result[key][endpoint]
            lines.append(f"| {phase} | {endpoint} | {r['requests']} | {r['errors']} | {r['requests_per_s']} | "
                         f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
