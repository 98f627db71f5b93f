"""OpenAI's `method=` through the official openai client: a DPO job created on preference pairs in OpenAI's own DPO
shape trains and reports its method back (job, events, checkpoints); a DPO job on a file of the wrong shape, a
supervised job on pairs and an unknown method are 400s that name the file's line and field (or the parameter)."""

from __future__ import annotations

import openai
import pytest

from .conftest import FAST
from .test_openai_client import client

THINGS = ("order", "parcel", "refund", "invoice", "account", "card", "voucher", "delivery")


def dpo_row(i: int) -> dict:
    thing = THINGS[i % len(THINGS)]
    return {"input": {"messages": [{"role": "user", "content": f"When does my {thing} number {i} arrive?"}]},
            "preferred_output": [{"role": "assistant", "content": f"Your {thing} arrives today, I checked it."}],
            "non_preferred_output": [{"role": "assistant", "content": f"No idea about the {thing}, ask someone."}]}


@pytest.fixture
def dpo_file(write_lines):
    return write_lines("pairs.jsonl", [dpo_row(i) for i in range(64)])


def test_a_dpo_job_is_created_with_method_and_reports_it_back(live_server, dpo_file, wait_for):
    api = client(live_server)
    uploaded = api.files.create(file=dpo_file.open("rb"), purpose="fine-tune")
    assert uploaded.status == "processed"
    method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.25, "batch_size": 4}}}
    job = api.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id, method=method,
                                      extra_body={"options": {**FAST, "max_steps": 4, "eval_every": 2, "max_length": 64,
                                                                 "force": True}})
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.25
    assert job.method.dpo.hyperparameters.batch_size == 4 and job.method.supervised is None
    done = wait_for(lambda: (j := api.fine_tuning.jobs.retrieve(job.id)).status in
                    ("succeeded", "failed", "cancelled") and j, 900, "the DPO job", every=1)
    assert done.status == "succeeded", done.error
    assert done.method.type == "dpo" and done.method.dpo.hyperparameters.beta == 0.25
    assert job.id in [j.id for j in api.fine_tuning.jobs.list() if j.method.type == "dpo"]

    events = list(api.fine_tuning.jobs.list_events(job.id, limit=200))
    created = next(e for e in events if e.message == "job created for model tiny")  # with its method
    assert created.data["method"]["type"] == "dpo" and created.data["method"]["dpo"]["hyperparameters"]["beta"] == 0.25
    assert any("preference pair quality" in e.message for e in events)
    metrics = [e.data for e in events if e.type == "metrics" and "valid_loss" in e.data]
    assert metrics and all("reward_accuracy" in m for m in metrics)
    checkpoints = list(api.fine_tuning.jobs.checkpoints.list(job.id))
    assert checkpoints and all(c.to_dict()["method"] == "dpo" for c in checkpoints)
    summary = live_server.workspace.store.job(job.id)
    assert summary["options"]["objective"] == "dpo" and summary["options"]["beta"] == 0.25


def test_a_dpo_job_on_a_file_of_the_wrong_shape_is_a_400_naming_line_and_field(live_server, support_file,
                                                                                  write_lines):
    api = client(live_server)
    anchor_points = api.files.create(file=support_file.open("rb"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as refused:
        api.fine_tuning.jobs.create(model="tiny", training_file=anchor_points.id, method={"type": "dpo"})
    assert refused.value.status_code == 400 and refused.value.code == "invalid_file"
    assert refused.value.param == "training_file"
    assert "support.jsonl, line 1" in refused.value.message and "preferred_output" in refused.value.message

    broken = write_lines("broken.jsonl", [dpo_row(0), dpo_row(1)])
    text = broken.read_text().splitlines()
    text[1] = text[1].replace('"non_preferred_output"', '"rejected_output"')
    broken.write_text("\n".join(text) + "\n")
    with pytest.raises(openai.BadRequestError) as refused:
        api.files.create(file=broken.open("rb"), purpose="fine-tune")
    assert "broken.jsonl, line 2" in refused.value.message and "non_preferred_output" in refused.value.message

    pairs = api.files.create(file=write_lines("ok.jsonl", [dpo_row(i) for i in range(4)]).open("rb"),
                             purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as refused:  # pairs for a supervised job: the method is named
        api.fine_tuning.jobs.create(model="tiny", training_file=pairs.id)
    assert refused.value.param == "training_file" and "method dpo" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        api.fine_tuning.jobs.create(model="tiny", training_file=pairs.id, method={"type": "rlhf"})
    assert refused.value.param == "method.type" and "'rlhf' is not supported" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        api.fine_tuning.jobs.create(model="tiny", training_file=pairs.id,
                                    method={"type": "dpo", "dpo": {"hyperparameters": {"beta": -1}}})
    assert "beta" in refused.value.message
    assert live_server.workspace.store.jobs() == []  # nothing refused was queued
