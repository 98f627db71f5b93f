"""Studio load benchmark: 20 concurrent clients listing jobs, reading a job's events and opening the overview page,
idle versus while a job trains, after a burst of jobs.

    python bench/studio_load.py [--clients 20] [--seconds 40] [--interval 0.25] [--model NAME] [--burst 60]
                                [--tag NAME] [--beside OTHER.json ...] [--out bench/results]

Starts `anchortune serve` (one embedded worker) on a free loopback port over a fresh data folder, uploads the
project's support demo set, creates and cancels a burst of `--burst` jobs (the overview must still reach every
one), and runs the same client load twice in this one script: (a) baseline, the server idle; (b) while a
fine-tuning job of the real default model trains in the server's embedded worker. Each client cycles through
GET /v1/fine_tuning/jobs, GET /v1/fine_tuning/jobs/{id}/events and GET / (the overview page) every `interval`
seconds. Reports per phase and endpoint: requests, errors, requests/s, p50/p95/p99/max latency, and the machine's
load average around each phase (other programs on the machine show there). The job is cancelled afterwards.
Traffic goes to 127.0.0.1 only and the loops stop by themselves. Run it once per source tree (PYTHONPATH names
the tree the server runs) with `--tag`, and `--beside` the other run's JSON to write both side by side.
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


ENDPOINTS = ("list_jobs", "events", "overview")


async def client(base: str, job_id: str, until: float, interval: float, samples: dict) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        turn = 0
        while time.monotonic() < until:
            name, path = (("list_jobs", "/v1/fine_tuning/jobs?limit=20"),
                          ("events", f"/v1/fine_tuning/jobs/{job_id}/events?limit=20"),
                          ("overview", "/"))[turn % 3]
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
    samples: dict[str, list] = {name: [] for name in ENDPOINTS}
    before = loadavg()
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
    out["load_average"] = {"before": before, "after": loadavg()}
    return out


def loadavg() -> list[float]:
    """The machine's 1-, 5- and 15-minute load averages (what else runs shows here)."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def others() -> list[str]:
    """The busiest processes on the machine that are not this bench's server (name and CPU share)."""
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"], capture_output=True,
                             text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return []
    return [" ".join(line.split()) for line in out[:6]]


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
    parser.add_argument("--burst", type=int, default=60, help="Jobs created and cancelled before the load.")
    parser.add_argument("--tag", default="", help="Names this run's result files (studio_load_TAG.*).")
    parser.add_argument("--beside", type=Path, nargs="*", default=[], help="Other runs' JSON, written side by side.")
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
        for _ in range(args.burst):  # a burst of jobs, cancelled: the list pages through them
            made = http.post("/v1/fine_tuning/jobs", json={"model": model, "training_file": file_id,
                                                           "task": "support"}).json()["id"]
            http.post(f"/v1/fine_tuning/jobs/{made}/cancel")
        machine_before = others()
        baseline = load(base, job_id, args.clients, args.seconds, args.interval)

        job = http.post("/v1/fine_tuning/jobs", json={"model": model, "training_file": file_id, "task": "support",
                                                      "options": {"max_steps": 400, "eval_every": 10}}).json()
        job_id = job["id"]
        wait(lambda: any(e["message"].startswith("training started") for e in
                         http.get(f"/v1/fine_tuning/jobs/{job_id}/events?limit=100").json()["data"]),
             900, "training to start")
        started = time.time()
        training = load(base, job_id, args.clients, args.seconds, args.interval)
        machine_after = others()
        state = http.get(f"/v1/fine_tuning/jobs/{job_id}").json()["status"]
        listed = _walk(http)
        progress = [e["data"]["step"] for e in http.get(f"/v1/fine_tuning/jobs/{job_id}/events?limit=100").json()
                    ["data"] if e["type"] == "metrics"]
        http.post(f"/v1/fine_tuning/jobs/{job_id}/cancel")
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)

    result = {"machine": machine(), "tag": args.tag, "clients": args.clients, "seconds": args.seconds,
              "interval_s": args.interval, "burst": args.burst, "jobs_listed_by_the_api_cursor": listed,
              "model": model, "job_status_during_load": state, "training_seconds_under_load": round(time.time() - started),
              "metrics_events_during_load": len(progress), "busiest_processes": {"before": machine_before,
                                                                                  "after": machine_after},
              "last_logged_step": max(progress, default=0), "baseline_idle": baseline, "while_training": training}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"studio_load_{args.tag}" if args.tag else "studio_load"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    runs = [result] + [json.loads(path.read_text()) for path in args.beside]
    (args.out / f"{name}.md").write_text(markdown(runs))
    print(markdown(runs))


def _walk(http) -> int:
    """How many jobs the API's cursor reaches, page by page (the old studio listed them all in one answer)."""
    seen, after = set(), None
    for _ in range(100):
        page = http.get("/v1/fine_tuning/jobs", params={"limit": 20, **({"after": after} if after else {})}).json()
        ids = [j["id"] for j in page["data"]]
        if not ids or set(ids) <= seen:
            break
        seen |= set(ids)
        after = ids[-1]
        if not page.get("has_more"):
            break
    return len(seen)


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def markdown(runs: list[dict]) -> str:
    first = runs[0]
    lines = [f"# Studio load: {first['clients']} clients, {first['seconds']:.0f} s per phase, one request per "
             f"{first['interval_s']} s each, after a burst of {first.get('burst', 0)} cancelled jobs", "",
             f"Machine: {first['machine']}.", ""]
    for result in runs:
        lines.append(f"- {result.get('tag') or 'this run'}: training job {result['model']} (status during load: "
                     f"{result['job_status_during_load']}; {result['metrics_events_during_load']} metrics events, up "
                     f"to step {result['last_logged_step']}); the API's cursor reached "
                     f"{result.get('jobs_listed_by_the_api_cursor', '?')} jobs; load average before/after the "
                     f"phases: idle {result['baseline_idle'].get('load_average')}, training "
                     f"{result['while_training'].get('load_average')}; busiest processes meanwhile: "
                     f"{'; '.join(result.get('busiest_processes', {}).get('after', [])[:4])}")
    lines += ["", "| run | phase | endpoint | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for phase, key in (("idle (baseline)", "baseline_idle"), ("while training", "while_training")):
        for endpoint in ENDPOINTS:
            for result in runs:
                r = result[key].get(endpoint)
                if r:
                    lines.append(f"| {result.get('tag') or '-'} | {phase} | {endpoint} | {r['requests']} | "
                                 f"{r['errors']} | {r['requests_per_s']} | {r['p50_ms']} | {r['p95_ms']} | "
                                 f"{r['p99_ms']} | {r['max_ms']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
