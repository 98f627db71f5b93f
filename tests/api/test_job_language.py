"""A job's files for people (report, model card) are written in the language of whoever started it: the studio's
German form starts a German run, the OpenAI-style API (whose clients read English) an English one."""

from __future__ import annotations

import httpx

from anchortune.api import i18n
from anchortune.app import datasets, jobs

from .conftest import LiveServer


def test_the_studio_form_starts_a_run_in_the_page_language_and_the_api_in_english(make_studio, support_file):
    studio = make_studio()
    file_id = datasets.upload(studio, "support.jsonl", [support_file.read_bytes()])["id"]
    with LiveServer(studio, workers=0) as server:
        form = {"model": "tiny", "training_file": file_id, "task": "support", "force": "1"}
        german = httpx.post(f"{server.url}/jobs", data=form, cookies={i18n.COOKIE: "de"}, follow_redirects=False)
        english = httpx.post(f"{server.url}/jobs", data=form, follow_redirects=False)
        api = httpx.post(f"{server.url}/v1/fine_tuning/jobs", json={"model": "tiny", "training_file": file_id})
    assert german.status_code == english.status_code == 303 and api.status_code == 200, api.text
    job = lambda response: studio.store.job(response.headers["location"].rsplit("/", 1)[1])  # noqa: E731
    assert job(german)["options"]["language"] == "de" and job(english)["options"]["language"] == "en"
    assert jobs.run_config(studio, job(german)).language == "de"
    assert jobs.run_config(studio, studio.store.job(api.json()["id"])).language == "en"
