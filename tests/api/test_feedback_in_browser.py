"""The playground's feedback in headless Chromium: a thumbs-down plus an edited answer becomes a preference pair the
user reviews and checks on the dataset page, and the new-job form (offering DPO for pairs) trains on it."""

from __future__ import annotations

from anchortune.app import datasets, feedback, jobs
from anchortune.jobs import states

from .conftest import FAST, LiveServer
from .test_browser import browser, shot  # noqa: F401 (the fixture)

CORRECTION = "Your order left our warehouse today; the tracking link is in your e-mail."
EARLIER = (("Can I pay by card?", "Yes, every major card works.", "Cards? Never heard of them."),
           ("How do I reset my password?", "Use 'Forgot password' on the sign-in page.", "Just guess it."),
           ("Can I return my parcel?", "Yes, within 30 days, free of charge.", "Returns are not our problem."))


def test_a_thumbs_down_and_an_edit_make_a_preference_row_that_trains(make_studio, browser, support_file,  # noqa: F811
                                                                    wait_for):
    problems: list[str] = []
    with LiveServer(make_studio()) as server:
        ws = server.workspace
        # a tuned model to talk to: a short supervised job through the application layer (the random model, and
        # one trained for a step or two, answer with nothing but special tokens; after a dozen steps it says a line)
        anchors = datasets.upload(ws, "support.jsonl", [support_file.read_bytes()])["id"]
        first = jobs.create_job(ws, "tiny", anchors, options={**FAST, "task": "support", "max_steps": 12,
                                                              "eval_every": 12, "force": True})
        done = wait_for(lambda: (j := ws.store.job(first["id"]))["status"] in states.FINAL and j, 600, "the first job",
                        every=0.5)
        assert done["status"] == states.SUCCEEDED, done["error"]
        for prompt, good, bad in EARLIER:  # the team's earlier corrections
            feedback.record(ws, prompt, bad, good, "down")

        page = browser.new_page(viewport={"width": 1200, "height": 900}, bypass_csp=True)  # for wait_for_function
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.goto(server.url + "/playground?lang=en")
        assert page.inner_text("#feedback-count") == "3" and page.is_hidden("#feedback")
        page.fill("#message", "Where is my order?")
        page.click("#send")
        page.wait_for_selector("#feedback:not([hidden])", timeout=120_000)
        tuned = page.inner_text("#tuned-answer")
        assert tuned.strip(), "the tuned model said nothing: no answer to judge"
        assert page.input_value("#edited") == tuned  # the editor starts from the tuned answer
        page.click("#thumbs-down")
        page.fill("#edited", CORRECTION)
        shot(page, "8-playground-feedback")
        page.click("#save-edit")
        page.wait_for_function("document.getElementById('feedback-count').textContent === '4' || "
                               "!document.getElementById('feedback-error').hidden")
        assert page.is_hidden("#feedback-error"), page.inner_text("#feedback-error")
        assert page.inner_text("#feedback-count") == "4", problems
        assert page.is_hidden("#feedback")

        page.click("#review-feedback")  # review and check: the dataset page of the pairs collected
        page.wait_for_selector("#verdict", timeout=300_000)
        assert "playground-feedback.jsonl" in page.inner_text("h1") and "4 examples" in page.inner_text("#verdict")
        row = page.locator("#pairs tr", has_text=CORRECTION)
        assert row.count() == 1 and "Where is my order?" in row.inner_text() and tuned[:20] in row.inner_text()
        shot(page, "9-feedback-pairs")

        page.click("#finetune")
        page.wait_for_selector("#new-job")
        assert page.input_value("#method") == "dpo"  # pairs are trained by preference
        page.select_option("#model", "tiny")
        page.click("details summary")
        for key, value in {"max_steps": "2", "eval_every": "2", "batch_size": "2", "max_length": "96",
                           "learning_rate": "0.003", "beta": "0.2"}.items():
            page.fill(f"#{key}", value)
        if page.locator("#force").count():  # a poor verdict on four pairs: train anyway, explicitly
            page.check("#force")
        page.click("#start")
        page.wait_for_selector("#chart")
        job_id = page.url.rstrip("/").rsplit("/", 1)[1]
        trained = wait_for(lambda: (j := ws.store.job(job_id))["status"] in states.FINAL and j, 600, "the DPO job",
                           every=0.5)
        assert trained["status"] == states.SUCCEEDED, trained["error"]
        assert trained["options"]["objective"] == "dpo" and trained["options"]["beta"] == 0.2
        pairs = datasets.read_pairs(datasets.file_path(ws, trained["training_file"]))
        assert [(p.question, p.chosen_text, p.rejected_text) for p in pairs if p.chosen_text == CORRECTION] == \
            [("Where is my order?", CORRECTION, tuned)]
        summary = jobs.summary(ws, job_id)
        assert summary["training"]["steps"] == 2 and summary["preference"]["pairs"] >= 1
        page.goto(f"{server.url}/jobs/{job_id}?lang=en")
        page.wait_for_selector("#result", timeout=60_000)
        shot(page, "10-dpo-result")
        page.close()
    assert problems == []

