"""The OpenAI wire shapes keep what the client sent: a job created with `learning_rate_multiplier: 2` comes back with
2 (not the absolute rate it trains with), and trains at twice the task preset's rate."""

from __future__ import annotations

import httpx
import pytest

from anchortune.app import datasets, jobs
from anchortune.data.presets import load_preset

CSV = "prompt,answer\n" + "".join(f"Where is order {n}?,Order {n} left the warehouse today.\n" for n in range(12))


def test_the_learning_rate_multiplier_round_trips_and_trains_as_a_multiple(live_server):
    ws = live_server.workspace
    file_id = datasets.upload(ws, "orders.csv", [CSV.encode()])["id"]
    sent = {"learning_rate_multiplier": 2, "n_epochs": 3, "batch_size": 4}
    created = httpx.post(f"{live_server.url}/v1/fine_tuning/jobs", json={
        "model": "tiny", "training_file": file_id, "hyperparameters": sent, "task": "support"}).json()
    assert created["hyperparameters"] == sent, created
    again = httpx.get(f"{live_server.url}/v1/fine_tuning/jobs/{created['id']}").json()
    assert again["hyperparameters"] == sent and again["method"]["supervised"]["hyperparameters"] == sent
    cfg = jobs.run_config(ws, ws.store.job(created["id"]))
    assert cfg.learning_rate == pytest.approx(2 * load_preset("support").hyperparameters.learning_rate)
    plain = httpx.post(f"{live_server.url}/v1/fine_tuning/jobs",
                       json={"model": "tiny", "training_file": file_id}).json()
    assert plain["hyperparameters"] == {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}


def test_a_rate_given_as_an_option_shows_as_its_multiple_of_the_presets(make_studio):
    ws = make_studio()
    file_id = datasets.upload(ws, "orders.csv", [CSV.encode()])["id"]
    rate = load_preset("legal").hyperparameters.learning_rate
    job = jobs.create_job(ws, "tiny", file_id, options={"task": "legal", "learning_rate": rate / 2})
    assert jobs.hyperparameters(job)["learning_rate_multiplier"] == pytest.approx(0.5)
