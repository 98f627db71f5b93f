"""Long quality checks run on the studio's check thread: the dataset page answers at once with the check's progress,
and shows the report once it is done; one check per file, task and model, however often the page is opened."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from anchortune.errors import ConfigError
from anchortune.jobs.checks import DONE, FAILED, BackgroundChecks
from anchortune.app import datasets

from .conftest import LiveServer


def wait_for(checks: BackgroundChecks, key: str, timeout: float = 10) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = checks.status(key)
        if status is not None and status.state in (DONE, FAILED):
            return status.to_json()
        time.sleep(0.02)
    raise AssertionError(f"check {key} did not finish")


def test_one_check_per_key_runs_once_and_reports_progress():
    checks = BackgroundChecks()
    release, calls, seen = threading.Event(), [], []

    def work(progress):
        calls.append(1)
        progress("reading", 0.2)
        seen.append(checks.status("a").to_json())
        release.wait(5)
        progress("judging", 0.1)  # progress never goes back
        seen.append(checks.status("a").to_json())

    first = checks.submit("a", work)
    second = checks.submit("a", work)
    assert second is first
    time.sleep(0.1)
    release.set()
    done = wait_for(checks, "a")
    assert calls == [1]
    assert seen[0]["state"] == "running" and seen[0]["stage"] == "reading" and seen[0]["fraction"] == 0.2
    assert seen[1]["stage"] == "judging" and seen[1]["fraction"] == 0.2
    assert done["state"] == "done" and done["fraction"] == 1.0 and done["finished_at"] >= done["started_at"] > 0
    checks.close()


def test_a_failed_check_says_why_and_starts_again_when_asked():
    checks = BackgroundChecks()

    def broken(progress):
        raise ConfigError("line 3: not valid JSON")

    checks.submit("b", broken)
    failed = wait_for(checks, "b")
    assert failed["state"] == "failed" and "line 3" in failed["error"]
    checks.submit("b", lambda progress: None)
    assert wait_for(checks, "b")["state"] == "done"
    checks.close()


def test_checks_with_other_keys_wait_their_turn():
    checks = BackgroundChecks()
    release = threading.Event()
    checks.submit("slow", lambda progress: release.wait(5))
    queued = checks.submit("next", lambda progress: None)
    assert queued.state == "queued" and "waiting" in queued.stage
    release.set()
    assert wait_for(checks, "next")["state"] == "done"
    checks.close()


def test_a_large_file_page_shows_progress_then_the_report(make_studio, support_file):
    studio = make_studio(background_rows=10)  # the demo set's 36 rows count as large here
    with LiveServer(studio) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        file_id = datasets.upload(studio, "support.jsonl", [support_file.read_bytes()])["id"]
        page = http.get(f"/datasets/{file_id}", params={"task": "support"})
        assert page.status_code == 200 and 'id="checking"' in page.text and "<progress" in page.text
        assert "Checking 36 anchor points" in page.text
        again = http.get(f"/datasets/{file_id}", params={"task": "support"})  # a reload starts nothing new
        assert 'id="checking"' in again.text or 'id="verdict"' in again.text
        fractions, deadline = [], time.time() + 240
        while time.time() < deadline:
            status = http.get(f"/datasets/{file_id}/progress", params={"task": "support"}).json()
            fractions.append(status["fraction"])
            if status["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert status["state"] == "done", status
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        report = http.get(f"/datasets/{file_id}", params={"task": "support"})
        assert 'id="verdict"' in report.text and 'id="checking"' not in report.text
        reports = list((studio.data / "reports").glob(f"{file_id}.support.*.json"))
        assert len(reports) == 1  # one check, cached


def test_a_small_file_is_checked_inside_the_request(make_studio, support_file):
    studio = make_studio()
    with LiveServer(studio) as server:
        file_id = datasets.upload(studio, "support.jsonl", [support_file.read_bytes()])["id"]
        page = httpx.get(f"{server.url}/datasets/{file_id}", params={"task": "support"}, timeout=240)
        assert 'id="verdict"' in page.text and studio.checks.status(
            datasets._quality_cache(studio, file_id, "support", None).name) is None


def test_progress_of_an_unknown_file_is_a_404(make_studio):
    with LiveServer(make_studio()) as server:
        response = httpx.get(f"{server.url}/datasets/file-nope/progress")
        assert response.status_code == 404


@pytest.mark.parametrize("task", ["<script>", "nonsense"])
def test_progress_for_an_unknown_task_is_refused(make_studio, support_file, task):
    studio = make_studio()
    with LiveServer(studio) as server:
        file_id = datasets.upload(studio, "support.jsonl", [support_file.read_bytes()])["id"]
        response = httpx.get(f"{server.url}/datasets/{file_id}/progress", params={"task": task})
        assert response.status_code == 400 and "task" in response.json()["error"]["message"]


def test_the_dataset_page_plans_how_much_data_is_enough(make_studio, support_file):
    studio = make_studio()
    params = {"task": "support", "model": "tiny"}
    with LiveServer(studio) as server, httpx.Client(base_url=server.url, timeout=240) as http:
        file_id = datasets.upload(studio, "support.jsonl", [support_file.read_bytes()])["id"]
        page = http.get(f"/datasets/{file_id}", params=params)
        assert 'id="plan-start"' in page.text and 'id="plan-curve"' not in page.text
        started = http.post(f"/datasets/{file_id}/plan", data=params, follow_redirects=False)
        assert started.status_code == 303 and started.headers["location"].endswith("#plan")
        deadline = time.time() + 240
        while time.time() < deadline:
            status = http.get(f"/datasets/{file_id}/plan/progress", params=params).json()
            if status["state"] in ("done", "failed"):
                break
            time.sleep(0.5)
        assert status["state"] == "done", status
        page = http.get(f"/datasets/{file_id}", params=params)
        assert 'id="plan-curve"' in page.text and 'id="plan-start"' not in page.text
        assert page.text.count('class="predicted"') == 2 and 'id="plan-check"' in page.text
        german = http.get(f"/datasets/{file_id}", params=params, headers={"Accept-Language": "de"})
        assert "Wie viele Daten genügen" in german.text
