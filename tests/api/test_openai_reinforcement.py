"""OpenAI's reinforcement fine-tuning through the official openai client: a job created with `method: reinforcement`
and a string_check grader trains on anchor points and reports its method and grader back; the grader endpoints
validate a grader and score a sample answer; a python grader is refused unless the operator enabled it."""

from __future__ import annotations

import openai
import pytest

from .conftest import FAST, LiveServer
from .test_openai_client import client

GRADER = {"type": "string_check", "name": "says_sorry", "input": "{{sample.output_text}}", "reference": "sorry",
          "operation": "ilike"}
PYTHON = {"type": "python", "name": "short", "source": "def grade(sample, item):\n"
                                                       "    return 1.0 if len(sample['output_text']) < 40 else 0.0\n"}


def test_a_reinforcement_job_with_a_string_check_grader_trains_and_reports_its_method(live_server, support_file,
                                                                                     wait_for):
    api = client(live_server)
    uploaded = api.files.create(file=support_file.open("rb"), purpose="fine-tune")
    method = {"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": {
        "batch_size": 2, "eval_interval": 2, "compute_multiplier": 0.5, "max_answer_tokens": 6}}}
    job = api.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id, method=method,
                                      extra_body={"task": "support", "options": {**FAST, "batch_size": 2,
                                                                                 "max_steps": 2, "force": True}})
    assert job.method.type == "reinforcement" and job.method.reinforcement.grader.type == "string_check"
    assert job.method.reinforcement.grader.reference == "sorry" and job.method.supervised is None
    assert job.method.reinforcement.hyperparameters.compute_multiplier == 0.5
    assert job.method.reinforcement.hyperparameters.eval_interval == 2
    done = wait_for(lambda: (j := api.fine_tuning.jobs.retrieve(job.id)).status in
                    ("succeeded", "failed", "cancelled") and j, 900, "the reinforcement job", every=1)
    assert done.status == "succeeded", done.error
    assert done.method.reinforcement.grader.to_dict() == GRADER
    stored = live_server.workspace.store.job(job.id)["options"]
    assert stored["objective"] == "reinforcement" and stored["grader"] == GRADER
    events = list(api.fine_tuning.jobs.list_events(job.id, limit=200))
    trains = [e.data for e in events if e.type == "metrics" and "reward" in e.data]
    assert trains and all({"reward_spread", "answer_tokens"} <= set(d) for d in trains)
    assert any(e.type == "metrics" and "valid_reward" in e.data for e in events)
    assert any("grader: says_sorry (string_check)" in e.message for e in events)


def test_the_grader_endpoints_validate_and_score_a_sample(live_server):
    api = client(live_server)
    assert api.fine_tuning.alpha.graders.validate(grader=GRADER).grader.name == "says_sorry"
    ran = api.fine_tuning.alpha.graders.run(grader=GRADER, model_sample="So sorry about the parcel.")
    assert ran.reward == 1.0 and ran.metadata.type == "string_check" and not ran.metadata.errors.other_error
    multi = {"type": "multi", "name": "both", "calculate_output": "0.25 * total + 0.75 * tone", "graders": {
        "total": {"type": "numeric", "name": "total", "input": "{{sample.output_text}}",
                  "reference": "{{item.total}}"}, "tone": GRADER}}
    ran = api.fine_tuning.alpha.graders.run(grader=multi, model_sample="Sorry, the total is 42.",
                                            item={"total": "#### 41"})
    assert ran.reward == pytest.approx(0.75) and ran.sub_rewards == {"total": 0.0, "tone": 1.0}
    missing = api.fine_tuning.alpha.graders.run(grader=multi, model_sample="42", item={"sum": 42})
    assert missing.reward == 0.0 and missing.metadata.errors.invalid_variable_error
    with pytest.raises(openai.BadRequestError) as refused:
        api.fine_tuning.alpha.graders.validate(grader={**GRADER, "operation": "equals"})
    assert refused.value.param == "grader.operation" and "eq, ne, like, ilike" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:  # user code: off unless the operator enabled it
        api.fine_tuning.alpha.graders.validate(grader=PYTHON)
    assert refused.value.param == "grader.type" and "--python-graders" in refused.value.message


def test_a_python_grader_runs_where_the_operator_enabled_it(make_studio, support_file):
    with LiveServer(make_studio(python_graders=True)) as server:
        api = client(server)
        assert api.fine_tuning.alpha.graders.run(grader=PYTHON, model_sample="Sure.").reward == 1.0
        broken = {**PYTHON, "source": "def grade(sample, item):\n    return {}['total']\n"}
        failed = api.fine_tuning.alpha.graders.run(grader=broken, model_sample="Sure.")
        assert failed.metadata.errors.python_grader_runtime_error and "KeyError" in \
            failed.metadata.errors.python_grader_runtime_error_details


def test_a_studio_refuses_a_reinforcement_job_with_a_python_grader(live_server, support_file):
    api = client(live_server)
    uploaded = api.files.create(file=support_file.open("rb"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as refused:
        api.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id,
                                    method={"type": "reinforcement", "reinforcement": {"grader": PYTHON}})
    assert refused.value.param == "method.reinforcement.grader.type" and "--python-graders" in refused.value.message
    assert live_server.workspace.store.jobs() == []


def test_the_new_job_form_offers_reinforcement_and_starts_a_job_with_the_presets_grader(live_server, support_file):
    import httpx

    api = client(live_server)
    uploaded = api.files.create(file=support_file.open("rb"), purpose="fine-tune")
    form = httpx.get(f"{live_server.url}/new", params={"file": uploaded.id}, timeout=30)
    assert form.status_code == 200 and '<option value="reinforcement"' in form.text
    started = httpx.post(f"{live_server.url}/jobs", timeout=30, data={
        "model": "tiny", "training_file": uploaded.id, "task": "support", "method": "reinforcement",
        "max_steps": "1"})
    assert started.status_code == 303, started.text
    job = api.fine_tuning.jobs.retrieve(started.headers["location"].rsplit("/", 1)[1])
    assert job.method.type == "reinforcement" and job.method.reinforcement.grader.type == "text_similarity"
    api.fine_tuning.jobs.cancel(job.id)
