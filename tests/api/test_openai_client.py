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
    assert [c.step_number for c in checkpoints] == [9, 6, 3] and checkpoints[0].metrics.valid_loss > 0

    # exports of the finished job through the studio's API: the served (merged) folder as a zip with its record;
    # a GGUF of the fixture's home-made tokenizer, which llama.cpp's converter does not know, is a clear 400
    import httpx

    made = httpx.post(f"{live_server.url}/jobs/{job.id}/exports", data={"format": "merged"}, timeout=120)
    assert made.status_code == 200 and made.json()["status"] == "written", made.text
    assert "config.json" in made.json()["files"] and "<|im_end|>" in made.json()["end_tokens"]
    assert [r["format"] for r in httpx.get(f"{live_server.url}/jobs/{job.id}/exports").json()] == ["merged"]
    zipped = httpx.get(f"{live_server.url}/jobs/{job.id}/download/served", timeout=120)
    assert zipped.status_code == 200 and zipped.content[:2] == b"PK"
    refused = httpx.post(f"{live_server.url}/jobs/{job.id}/exports", data={"format": "gguf"}, timeout=300)
    assert refused.status_code == 400 and "converter" in refused.text and "Traceback" not in refused.text

    model_ids = [m.id for m in api.models.list()]
    assert "tiny" in model_ids and done.fine_tuned_model in model_ids
    question = [{"role": "user", "content": "Where is my order?"}]
    whole = api.chat.completions.create(model=done.fine_tuned_model, messages=question, max_tokens=6)
    assert whole.choices[0].message.role == "assistant" and whole.usage.completion_tokens >= 1
    pieces = api.chat.completions.create(model=done.fine_tuned_model, messages=question, max_tokens=6, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in pieces)
    assert streamed.strip() == whole.choices[0].message.content  # greedy: the same answer either way
    base = api.chat.completions.create(model="tiny", messages=question, max_tokens=6)
    assert isinstance(base.choices[0].message.content, str)

    with pytest.raises(openai.ConflictError):
        pass_through = api.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id,
                                                   extra_body={"task": "support", "options": {**FAST, "max_steps": 400}})
        wait_for(lambda: api.fine_tuning.jobs.retrieve(pass_through.id).status == "running", timeout=120)
        api.files.delete(uploaded.id)  # a running job reads it: refused
    cancelled = api.fine_tuning.jobs.cancel(pass_through.id)
    assert cancelled.status in ("running", "cancelled")
    assert wait_for(lambda: api.fine_tuning.jobs.retrieve(pass_through.id).status == "cancelled", timeout=60)
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
        with pytest.raises(openai.AuthenticationError):
            client(server).models.list()
        assert "tiny" in [m.id for m in client(server, "s3cret").models.list()]


def test_jobs_wait_in_the_store_across_a_restart(make_studio, support_file, wait_for):
    studio = make_studio()
    file_id = datasets.upload(studio, "support.jsonl", [support_file.read_bytes()])["id"]
    job = jobs.create_job(studio, "tiny", file_id, options={"task": "support", **FAST, "max_steps": 3})
    with LiveServer(make_studio()) as server:  # a new process would see the same: a fresh Studio on the same store
        done = wait_for(lambda: (j := server.workspace.store.job(job["id"]))["status"] in states.FINAL and j)
    assert done["status"] == states.SUCCEEDED
