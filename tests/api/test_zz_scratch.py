import json, time
from anchortune.app import datasets, jobs
from anchortune.jobs import states

def test_scratch(make_studio, support_file):
    ws = make_studio()
    fid = datasets.upload(ws, "support.jsonl", [support_file.read_bytes()])["id"]
    job = jobs.create_job(ws, "tiny", fid, options={"task": "support", "batch_size": 4, "max_length": 256,
        "precision": "fp32", "learning_rate": 3e-3, "eval_every": 3, "val_fraction": 0.25, "max_steps": 9, "force": True})
    w = jobs.worker(ws, "w")
    t = time.time()
    for _ in range(4):
        if ws.store.job(job["id"])["status"] in states.FINAL: break
        w.run_once()
    print("took", time.time() - t)
    row = ws.store.job(job["id"])
    print(row["status"], row["error"], row["trained_tokens"], row["disk_bytes"])
    s = jobs.summary(ws, job["id"])
    print(json.dumps(s["verdict"], indent=1)); print(json.dumps({k: v for k, v in s["answers"].items() if k != "worst"}, indent=1))
    for e in ws.store.events(job["id"]):
        print(e["type"], e["level"], e["message"][:150], {k: e["data"].get(k) for k in ("stage", "eta_s", "eta_total_s", "fraction")} if e["data"] else "")
    from fastapi.testclient import TestClient
    from anchortune.api.app import create_app
    with TestClient(create_app(ws, workers=0), base_url="http://127.0.0.1") as c:
        r = c.get(f"/jobs/{job['id']}?lang=de", headers={"accept": "text/html"})
        print(r.status_code)
        open("/tmp/job_de.html", "w").write(r.text)
        r = c.get(f"/jobs/{job['id']}/report?lang=de")
        open("/tmp/report_de.html", "w").write(r.text)
        print(c.get("/?lang=de").status_code, c.get("/settings").status_code)
        print(c.get("/v1/nope").json(), c.post("/v1/chat/completions", json={"model": "tiny"}).json())
        print(c.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel").json())
