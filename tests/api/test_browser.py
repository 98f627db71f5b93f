"""A person's walk through the studio in headless Chromium (Playwright, Debian's chromium):
upload -> quality report -> Start fine-tuning -> live curve -> result -> playground, with screenshots.

Dataset text containing markup must show as text on every page and never run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PROMPT = "Where is my parcel? <script>window.__pwned = 1</script>"
HOSTILE = {"messages": [{"role": "user", "content": PROMPT}, {"role": "assistant", "content":
           "<img src=x onerror=\"window.__pwned = 2\"><b>Check</b> the tracking link in your e-mail."}],
           "label": "track_order"}


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail("chromium is not installed; `make test` installs Debian's chromium and chromium-driver")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--no-first-run", "--disable-default-apps"])
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def assert_inert(page) -> None:
    """Markup from the data stayed text: it did not run and made no element."""
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script:not([type='application/json']), main img").count() == 0


def test_upload_report_start_curves_result_playground(make_studio, browser, support_file, tmp_path):
    data = tmp_path / "anchors.jsonl"
    hostile = json.dumps(HOSTILE) + "\n"
    data.write_text(support_file.read_text() + hostile + hostile, encoding="utf-8")  # twice: flagged duplicate
    problems: list[str] = []
    with LiveServer(make_studio()) as server:
        # CSP bypassed so Playwright may evaluate its checks, and so escaping alone must keep the markup inert
        page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=True)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)

        page.goto(server.url + "/?lang=en")
        page.set_input_files("#upload input[type=file]", str(data))
        page.select_option("#upload select[name=task]", "support")
        page.click("#upload button[type=submit]")
        page.wait_for_selector("#verdict")
        assert "Quality of the anchor points" in page.inner_text("h1")
        assert page.locator("#scores meter").count() == 4
        flagged = page.inner_text("#flagged")
        assert PROMPT in flagged and "exact_duplicate" in flagged
        assert_inert(page)
        shot(page, "1-quality-report")
        original = page.url
        page.click("#fix")
        page.wait_for_url(lambda url: url != original and "/datasets/file-" in url)
        assert "anchors.fixed.jsonl" in page.inner_text("h1")
        assert "37 examples" in page.inner_text("#verdict")  # one of the two copies dropped
        assert "exact_duplicate" not in page.inner_text("main")

        page.click("#finetune")
        page.wait_for_selector("#new-job")
        assert page.input_value("#task") == "support"
        page.click("details summary")
        for key, value in {"max_steps": "150", "eval_every": "10", "batch_size": "4", "micro_batch_size": "2",
                           "max_length": "256", "learning_rate": "0.003"}.items():
            page.fill(f"#{key}", value)
        shot(page, "2-new-fine-tune")
        page.click("#start")

        page.wait_for_selector("#chart")
        job_id = page.url.rstrip("/").rsplit("/", 1)[1]
        assert server.workspace.store.job(job_id)["options"]["micro_batch_size"] == 2  # the advanced field reaches the run
        assert page.get_attribute("#status", "data-status") in ("validating", "queued")
        assert page.get_attribute("#chart", "data-points") is None  # nothing drawn when the page came
        page.wait_for_function("document.getElementById('status').dataset.status === 'running' && "
                               "Number(document.getElementById('chart').dataset.points) >= 3", timeout=180_000)
        live = int(page.get_attribute("#chart", "data-points"))
        assert int(page.inner_text("#step")) > 0 and page.inner_text("#eta") != "–"
        shot(page, "3-live-run")
        page.wait_for_function(f"Number(document.getElementById('chart').dataset.points) > {live}", timeout=180_000)

        page.wait_for_selector("#result", timeout=240_000)
        assert page.inner_text("#run-verdict").startswith("Verdict:")
        assert "Held-out answer loss" in page.inner_text("#metrics")
        assert page.locator("#chart polyline").count() >= 2
        assert_inert(page)
        page.click("#build-adapter")  # built in the background: the page shows its progress, then the link
        page.wait_for_selector("#download-adapter", timeout=60_000)
        adapter = page.request.get(server.url + page.get_attribute("#download-adapter", "href"))
        assert adapter.status == 200 and adapter.body()[:2] == b"PK"
        shot(page, "4-result")

        page.click("#to-playground")
        page.wait_for_selector("#chat-form")
        page.fill("#message", "Where is my order?")
        page.click("#send")
        page.wait_for_selector("#tuned-answer[data-done]", timeout=120_000)
        assert page.get_attribute("#base-answer", "data-done") == "1"
        assert page.inner_text("#base-name") == "tiny"
        shot(page, "5-playground")

        page.goto(server.url + "/?lang=de")
        assert "Feintuning-Aufträge" in page.inner_text("main")
        assert_inert(page)
        page.goto(server.url + "/jobs/" + page.locator("#jobs a").first.get_attribute("href").split("/")[-1])
        assert "Ergebnis" in page.inner_text("#result")
        shot(page, "6-result-german")
        page.close()
    assert problems == []


def test_a_token_protected_studio_asks_for_it_in_the_browser(make_studio, browser):
    with LiveServer(make_studio(token="s3cret")) as server:
        page = browser.new_page()
        page.goto(server.url + "/new")
        assert "/login" in page.url
        page.fill("input[name=token]", "wrong")
        page.click("button[type=submit]")
        assert page.locator(".error").count() == 1
        page.fill("input[name=token]", "s3cret")
        page.click("button[type=submit]")
        page.wait_for_selector("#new-job")


def test_a_large_upload_shows_the_checks_progress_then_its_report(make_studio, browser, support_file):
    problems: list[str] = []
    with LiveServer(make_studio(background_rows=10)) as server:  # the demo set's rows count as large here
        page = browser.new_page()
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(server.url + "/?lang=en")
        page.set_input_files("#upload input[type=file]", str(support_file))
        page.select_option("#upload select[name=task]", "support")
        page.click("#upload button[type=submit]")
        page.wait_for_selector("#checking")
        assert page.locator("#check-progress").count() == 1
        assert "Checking 36 anchor points" in page.inner_text("#checking")
        shot(page, "7-checking")
        page.wait_for_selector("#verdict", timeout=240_000)  # the page reloads itself when the check is done
        assert page.locator("#scores meter").count() == 4
        page.close()
    assert problems == []
