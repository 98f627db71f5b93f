"""The official openai client against a live studio: files, fine-tuning jobs, models, chat (streamed too)."""

from __future__ import annotations

import openai
import pytest

from anchortune.jobs import states
from anchortune.app import datasets, jobs

from .conftest import FAST, LiveServer


def client(server, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=120)


def test_files_jobs_models_and_chat_through_the_openai_client(live_server, support_file, wait_for):
    """Every route with the official client, success and error paths: OpenAI's envelope, codes and status
    everywhere (a body that does not validate included), cancel refused once a job finished, chat parameters checked
    as OpenAI checks them, content parts, the usage chunk, checkpoints that answer."""
    api = client(live_server)
    uploaded = api.files.create(file=support_file.open("rb"), purpose="fine-tune")
    assert uploaded.id.startswith("file-") and uploaded.filename == "support.jsonl" and uploaded.bytes > 0
    assert uploaded.id in [f.id for f in api.files.list()]
    assert api.files.retrieve(uploaded.id).purpose == "fine-tune"
    assert api.files.content(uploaded.id).read() == support_file.read_bytes()

    job = api.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id, suffix="shop",
                                      hyperparameters={"batch_size": 4},
                                      extra_body={"task": "support", "options": {**FAST, "max_steps": 9}})
    assert job.status in ("validating_files", "queued", "running") and job.model == "tiny"
    done = wait_for(lambda: (j := api.fine_tuning.jobs.retrieve(job.id)).status in
                    ("succeeded", "failed", "cancelled") and j)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model == f"ft:tiny:shop:{job.id}" and done.trained_tokens > 0
    assert job.id in [j.id for j in api.fine_tuning.jobs.list()]

    events = list(api.fine_tuning.jobs.list_events(job.id, limit=200))
    metrics = [e for e in events if e.type == "metrics"]
    assert {e.data["step"] for e in metrics if "valid_loss" in e.data} == {3, 6, 9}
    assert events[0].created_at >= events[-1].created_at  # newest first, as OpenAI lists them
    assert any("anchor point quality" in e.message for e in events)
    checkpoints = list(api.fine_tuning.jobs.checkpoints.list(job.id))
    summary = jobs.summary(live_server.workspace, job.id)
    kept = {summary["training"]["best_step"], 9}  # retention: the chosen checkpoint and the last, nothing else
    assert [c.step_number for c in checkpoints] == sorted(kept, reverse=True) and checkpoints[0].metrics.valid_loss > 0
    run = live_server.workspace.data / "runs" / job.id / "checkpoints"
    assert sorted(int(p.name.split("-")[1]) for p in run.iterdir()) == sorted(kept)

    # cancel as OpenAI's API: a finished job refuses, and nothing more is logged
    before = len(live_server.workspace.store.events(job.id))
    with pytest.raises(openai.BadRequestError) as refused:
        api.fine_tuning.jobs.cancel(job.id)
    assert refused.value.code == "invalid_state" and "succeeded" in refused.value.message
    assert len(live_server.workspace.store.events(job.id)) == before
    assert api.fine_tuning.jobs.retrieve(job.id).status == "succeeded"

    # exports and downloads of the finished job are built in the background; no server path on the wire
    import httpx

    started = httpx.post(f"{live_server.url}/jobs/{job.id}/exports", data={"format": "merged"}, timeout=10)
    assert started.status_code == 202 and started.json()["state"] in ("queued", "running", "done"), started.text
    wait_for(lambda: httpx.get(f"{live_server.url}/jobs/{job.id}/exports/status", params={"format": "merged"})
             .json()["state"] == "done", 120, "the merged export")
    records = httpx.get(f"{live_server.url}/jobs/{job.id}/exports")
    assert [r["format"] for r in records.json()] == ["merged"] and records.json()[0]["status"] == "written"
    assert "config.json" in records.json()[0]["files"] and "<|im_end|>" in records.json()[0]["end_tokens"]
    assert str(live_server.workspace.data) not in records.text and records.json()[0]["folder"] == "exports/merged"
    first = httpx.get(f"{live_server.url}/jobs/{job.id}/download/served", timeout=10)
    assert first.status_code == 202 and first.json()["part"] == "served"  # the zip is being made, not awaited
    wait_for(lambda: httpx.get(f"{live_server.url}/jobs/{job.id}/downloads").json()[2]["state"] == "ready", 120)
    zipped = httpx.get(f"{live_server.url}/jobs/{job.id}/download/served", timeout=60)
    assert zipped.status_code == 200 and zipped.content[:2] == b"PK"
    httpx.post(f"{live_server.url}/jobs/{job.id}/exports", data={"format": "gguf"}, timeout=10)
    failed = wait_for(lambda: (s := httpx.get(f"{live_server.url}/jobs/{job.id}/exports/status",
                                              params={"format": "gguf"}).json())["state"] == "failed" and s, 300)
    assert ("converter" in failed["error"] or "llama" in failed["error"]) and "Traceback" not in failed["error"]
    assert str(live_server.workspace.data) not in failed["error"]

    model_ids = [m.id for m in api.models.list()]
    assert "tiny" in model_ids and done.fine_tuned_model in model_ids
    question = [{"role": "user", "content": "Where is my order?"}]
    whole = api.chat.completions.create(model=done.fine_tuned_model, messages=question, max_tokens=6)
    assert whole.choices[0].message.role == "assistant" and whole.usage.completion_tokens >= 1
    pieces = list(api.chat.completions.create(model=done.fine_tuned_model, messages=question, max_tokens=6,
                                              stream=True, stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert streamed.strip() == whole.choices[0].message.content  # greedy: the same answer either way
    assert pieces[-1].choices == [] and pieces[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in pieces[:-1])
    parts = [{"role": "user", "content": [{"type": "text", "text": "Where is "}, {"type": "text", "text": "my order?"}]}]
    assert api.chat.completions.create(model=done.fine_tuned_model, messages=parts, max_tokens=6).choices[0]\
        .message.content == whole.choices[0].message.content
    base = api.chat.completions.create(model="tiny", messages=question, max_tokens=6)
    assert isinstance(base.choices[0].message.content, str)
    checkpoint = checkpoints[-1].fine_tuned_model_checkpoint
    assert api.models.retrieve(checkpoint).id == checkpoint
    assert api.chat.completions.create(model=checkpoint, messages=question, max_tokens=4).usage.completion_tokens >= 1
    pruned = checkpoint.rsplit("-", 1)[0] + "-3"
    with pytest.raises(openai.NotFoundError):
        api.chat.completions.create(model=pruned, messages=question, max_tokens=4)

    # chat parameters are checked as OpenAI checks them, in OpenAI's envelope (never FastAPI's 422)
    for wrong, param in (({"max_tokens": 0}, "max_tokens"), ({"max_completion_tokens": 0}, "max_completion_tokens"),
                         ({"temperature": 3}, "temperature"), ({"top_p": 1.5}, "top_p"), ({"n": 2}, "n")):
        with pytest.raises(openai.BadRequestError) as caught:
            api.chat.completions.create(model="tiny", messages=question, **wrong)
        assert caught.value.param == param and caught.value.type == "invalid_request_error", (wrong, caught.value.body)
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(model="tiny", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}])
    assert caught.value.param == "messages[0].content" and "text parts" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        api.post("/chat/completions", body={"model": "tiny"}, cast_to=object)
    assert caught.value.code == "missing_required_parameter" and caught.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as caught:
        api.post("/fine_tuning/jobs", body={"model": "tiny"}, cast_to=object)
    assert caught.value.code == "missing_required_parameter" and caught.value.param == "training_file"
    with pytest.raises(openai.BadRequestError) as caught:
        api.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id, extra_body={"options": {"epochs": 1e9}})
    assert "epochs" in caught.value.message and caught.value.param == "epochs"
    with pytest.raises(openai.NotFoundError) as caught:
        api.get("/no/such/route", cast_to=object)
    assert caught.value.code == "unknown_url" and caught.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError) as caught:
        api.fine_tuning.jobs.retrieve("ftjob-missing")
    assert caught.value.code == "not_found" and "ftjob-missing" in caught.value.message
    with pytest.raises(openai.NotFoundError) as caught:
        api.models.retrieve("gpt-4o")
    assert caught.value.code == "not_found"

    with pytest.raises(openai.ConflictError) as caught:
        pass_through = api.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id,
                                                   extra_body={"task": "support", "options": {**FAST, "max_steps": 400}})
        wait_for(lambda: api.fine_tuning.jobs.retrieve(pass_through.id).status == "running", timeout=120)
        api.files.delete(uploaded.id)  # a running job reads it: refused
    assert caught.value.code == "conflict"
    cancelled = api.fine_tuning.jobs.cancel(pass_through.id)
    assert cancelled.status in ("running", "cancelled")
    assert wait_for(lambda: api.fine_tuning.jobs.retrieve(pass_through.id).status == "cancelled", timeout=60)
    said = [e.message for e in api.fine_tuning.jobs.list_events(pass_through.id, limit=100)]
    assert said.count("job cancelled") == 1
    with pytest.raises(openai.BadRequestError):
        api.fine_tuning.jobs.cancel(pass_through.id)
    listed = api.fine_tuning.jobs.list(limit=1)
    assert [j.id for j in listed.data] == [pass_through.id] and listed.has_more
    assert [j.id for j in api.fine_tuning.jobs.list(limit=1, after=pass_through.id).data] == [job.id]
    assert api.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        api.files.retrieve(uploaded.id)


def test_bad_uploads_and_requests_get_clear_errors(live_server, write_lines):
    api = client(live_server)
    bad = write_lines("bad.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": 3}])
    with pytest.raises(openai.BadRequestError, match="line 2, field 'completion'"):
        api.files.create(file=bad.open("rb"), purpose="fine-tune")
    assert list(api.files.list()) == []
    assert not [p for p in (live_server.workspace.data / "files").iterdir()]  # nothing half-stored
    with pytest.raises(openai.BadRequestError, match="expected a .jsonl or .csv"):
        api.files.create(file=("notes.txt", b"hello"), purpose="fine-tune")
    with pytest.raises(openai.NotFoundError, match="no file"):
        api.fine_tuning.jobs.create(model="tiny", training_file="file-missing")
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        api.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="last message"):
        api.chat.completions.create(model="tiny", messages=[{"role": "assistant", "content": "hi"}])


def test_upload_limit_and_safe_names(make_studio, support_file):
    with LiveServer(make_studio(max_upload_bytes=1024)) as server:
        api = client(server)
        with pytest.raises(openai.APIStatusError) as caught:
            api.files.create(file=support_file.open("rb"), purpose="fine-tune")
        assert caught.value.status_code == 413
        small = b'{"prompt": "hi", "completion": "hello"}\n'
        row = api.files.create(file=("../../etc/passwd.jsonl", small), purpose="fine-tune")
        assert row.filename == "passwd.jsonl"
        stored = [p.name for p in (server.workspace.data / "files").iterdir()]
        assert stored == [f"{row.id}.jsonl"]


def test_a_token_is_required_when_the_studio_has_one(make_studio):
    with LiveServer(make_studio(token="s3cret")) as server:
        with pytest.raises(openai.AuthenticationError) as caught:
            client(server).models.list()
        assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
        assert caught.value.body["type"] == "invalid_request_error"
        assert "tiny" in [m.id for m in client(server, "s3cret").models.list()]


def test_jobs_wait_in_the_store_across_a_restart(make_studio, support_file, wait_for):
    studio = make_studio()
    file_id = datasets.upload(studio, "support.jsonl", [support_file.read_bytes()])["id"]
    job = jobs.create_job(studio, "tiny", file_id, options={"task": "support", **FAST, "max_steps": 3})
    with LiveServer(make_studio()) as server:  # a new process would see the same: a fresh Studio on the same store
        done = wait_for(lambda: (j := server.workspace.store.job(job["id"]))["status"] in states.FINAL and j)
    assert done["status"] == states.SUCCEEDED
