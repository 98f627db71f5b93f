"""What a domain team meets in the studio, in headless Chromium, in English and in German: every job reachable from
the overview, a verdict grounded in held-out answers with every number explained, downloads built in the background
with their check shown as it is, the poor-data path, German through everything generated, honest progress, OpenAI's
error envelope, what is kept on disk, and the smaller things (origin check, sign-in, error pages, dataset names, the
fix button).

One studio and one browser for the whole module: a tiny random model trains one job (seconds); the other jobs are
made through the application layer (a burst of cancelled ones, a running one fed the events a run emits, jobs whose
run summaries hold answers the verdict judges).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import FAST, LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LANGS = ("en", "de")


@dataclass
class Studio:
    server: LiveServer
    ws: object
    trained: str  # a job the tiny model trained
    legal: str  # a legal yes/no job: the losses look well tuned, the answers barely beat always answering "No"
    support: str  # a support job whose answers do not beat copying the nearest anchor point's answer
    running: str  # a job in its final evaluation, restarted once
    poor: str  # a job stopped by the quality gate
    burst: list
    clean_file: str
    poor_file: str
    support_file: str


def _rows(points, label_answers: bool = False) -> str:
    return "".join(json.dumps({"messages": [{"role": "user", "content": p.prompt},
                                            {"role": "assistant", "content": p.label if label_answers else p.answer}],
                               "label": p.label}) + "\n" for p in points)


def _judged_summary(ws, base_job: str, task: str, held, tuned, base, train, kind: str, labels, metric: str) -> dict:
    """The trained run's summary with held-out answers judged by the verdict, and losses the balance guard reads as
    well tuned (what the old page showed in green)."""
    from anchortune.app import jobs
    from anchortune.evaluate import balance, verdict

    summary = json.loads(json.dumps(jobs.summary(ws, base_job)))
    train_rows = [{"step": s, "train_loss": v} for s, v in ((10, 1.6), (20, 1.3), (30, 1.15), (40, 1.05))]
    eval_rows = [{"step": s, "valid_loss": v} for s, v in ((10, 1.5), (20, 1.2), (30, 1.1), (40, 1.09))]
    chosen = balance.Candidate(40, 1.09, 2.4, text_drift=0.01, cloze_drop=0.0, drift=0.22)
    diagnosis = balance.diagnose(train_rows, eval_rows, 2.0, chosen).to_json()
    assert diagnosis["verdict"] == "well tuned"  # the losses alone say so
    check = verdict.check_answers(kind, held, tuned, base, train, labels, [])
    summary.update(task=task, metric=metric, answers=check.to_json(),
                   verdict=verdict.decide(check, diagnosis).to_json())
    summary["balance"]["diagnosis"] = diagnosis
    summary["samples"] = [{"line": p.line, "prompt": p.prompt, "reference": p.answer, "base": b, "tuned": t}
                          for p, b, t in list(zip(held, base, tuned))[:3]]
    return summary


def _copy_job(ws, source: str, file_id: str, task: str, suffix: str, summary: dict | None = None) -> str:
    """A succeeded job whose run folder is a copy of `source`'s (its model and adapter), with `summary`."""
    from anchortune.app import jobs
    from anchortune.jobs import states

    row = jobs.create_job(ws, "tiny", file_id, options={"task": task}, suffix=suffix)
    folder = ws.data / "runs" / row["id"]
    shutil.copytree(ws.data / "runs" / source, folder)
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    for target in (states.QUEUED, states.RUNNING):
        ws.store.move(row["id"], target)
    ws.store.move(row["id"], states.SUCCEEDED, fine_tuned_model=f"ft:tiny:{suffix}:{row['id']}", run_dir=str(folder))
    return row["id"]


def _legal_points():
    """A right-of-first-refusal yes/no task: 300 rows to train, 52/48 'No'/'Yes'; 134 held out, 70 'No'."""
    from anchortune.data.records import AnchorPoint

    def point(i: int, answer: str) -> AnchorPoint:
        party = ("tenant", "buyer", "licensee", "partner", "shareholder")[i % 5]
        prompt = f"Clause {i}: the {party} may be offered the asset before any third party. Does the {party} hold " \
                 f"a right of first refusal under clause {i}?"
        return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), i, answer)

    train = [point(i, "No" if i % 25 < 13 else "Yes") for i in range(1, 301)]
    held = [point(1000 + i, "No" if i < 70 else "Yes") for i in range(134)]
    return train, held


def _support_points():
    from anchortune.data.demo_support import support_demo
    from anchortune.data.records import AnchorPoint

    points = support_demo(6)
    bank = AnchorPoint(({"role": "user", "content": "Can I pay by bank transfer?"},
                        {"role": "assistant", "content": "No, we do not accept bank transfers. You can pay by card or "
                                                         "PayPal at checkout."}), 900, "payment_methods")
    return points[:60], [bank] + points[60:68]


def _running_job(ws, file_id: str) -> str:
    """A job in its final evaluation, fed the events a run emits through the recorder a worker uses; its first
    worker died at step 3, before its first checkpoint, so it restarted from step 0."""
    from anchortune.app import jobs
    from anchortune.app.recorder import JobRecorder
    from anchortune.jobs import states
    from anchortune.jobs.worker import JobContext
    from anchortune.run_folder import RunFolder
    from anchortune.recipes import task_run
    from anchortune.train.events import Event

    running = jobs.create_job(ws, "tiny", file_id, suffix="live", options={"task": "support"})["id"]
    for target in (states.QUEUED, states.RUNNING):
        ws.store.move(running, target)
    ctx = JobContext(ws.store, ws.store.job(running), "test-worker")
    record = JobRecorder(ctx, ws.store)
    record(Event("train", 3, {"train_loss": 2.5}))
    jobs.prepare_folder(ws, ctx, RunFolder(ws.data / "runs" / running), None)
    task_run.stage(record, "base_eval")
    task_run.stage(record, "training")
    record(Event("progress", 9, {"stage": "training", "max_steps": 9, "tokens_per_s": 1234.5, "eta_s": 0.0,
                                 "fraction": 1.0, "eta_total_s": 95.0}))
    task_run.stage(record, "final_eval", 9, 40.0)
    record.last_progress = 0.0
    record(Event("progress", 9, {"stage": "final_eval", "fraction": 0.5, "eta_s": 20.0}))
    return running


@pytest.fixture(scope="module")
def studio(tmp_path_factory, tiny_model_dir):
    from anchortune.app import datasets, jobs
    from anchortune.app.workspace import StudioConfig, Workspace
    from anchortune.data.demo_support import support_demo
    from anchortune.jobs import states

    ws = Workspace(StudioConfig(data_dir=tmp_path_factory.mktemp("studio"), models={"tiny": str(tiny_model_dir)},
                                lease_s=30))
    support_file = datasets.upload(ws, "support.jsonl", [_rows(support_demo(3)).encode()])["id"]
    for _ in range(2):  # the same file uploaded again: the form must tell them apart
        datasets.upload(ws, "support.jsonl", [_rows(support_demo(3)).encode()])
    clean = datasets.upload(ws, "intents.jsonl", [_rows(support_demo(6), label_answers=True).encode()])["id"]
    lopsided = [p if i % 12 == 0 else type(p)((p.messages[0], {"role": "assistant", "content": "refund_status"}),
                                               p.line, "refund_status") for i, p in enumerate(support_demo(6))]
    poor_file = datasets.upload(ws, "lopsided.jsonl", [_rows(lopsided, label_answers=True).encode()])["id"]

    worker = jobs.worker(ws, "test-worker")
    trained = jobs.create_job(ws, "tiny", support_file, suffix="shop",
                              options={"task": "support", **FAST, "max_steps": 9})["id"]
    while ws.store.job(trained)["status"] not in states.FINAL:
        worker.run_once()
    assert ws.store.job(trained)["status"] == states.SUCCEEDED, ws.store.job(trained)["error"]

    train, held = _legal_points()
    right = [p.answer if i % 3 else ("Yes" if p.answer == "No" else "No") for i, p in enumerate(held)]
    base_answers = ["The clause describes an offer to the party." if i else "No" for i in range(len(held))]
    legal = _copy_job(ws, trained, support_file, "legal", "rofr", _judged_summary(
        ws, trained, "legal", held, right, base_answers, train, "label", ["No", "Yes"], "accuracy"))
    train, held = _support_points()
    tuned = ["Yes, you can pay by credit card at checkout. You can also pay by cash on delivery."] + \
        ["Thank you for your message. We will get back to you soon."] * (len(held) - 1)
    support = _copy_job(ws, trained, support_file, "support", "bank", _judged_summary(
        ws, trained, "support", held, tuned, ["I am a language model."] * len(held), train, "text", [], "rouge_l"))

    poor = jobs.create_job(ws, "tiny", poor_file, options={"task": "classification"})["id"]
    worker.run_once()  # validation: the gate judges the data poor and the job stops there

    running = _running_job(ws, support_file)

    burst = []
    for _ in range(60):
        job = jobs.create_job(ws, "tiny", support_file, options={"task": "support"})
        jobs.cancel_job(ws, job["id"])
        burst.append(job["id"])
    with LiveServer(ws, workers=0) as server:
        yield Studio(server, ws, trained, legal, support, running, poor, burst, clean, poor_file, support_file)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail("chromium is not installed; `make test` installs Debian's chromium and chromium-driver")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--no-first-run", "--disable-default-apps"])
        yield browser
        browser.close()


@pytest.fixture(params=LANGS)
def lang(request) -> str:
    return request.param


@pytest.fixture
def page(lang, chromium):
    """A page of a fresh browser context speaking `lang` (its Accept-Language); no script error may happen on it.
    The CSP is bypassed so that the checks may read the sandboxed report too."""
    context = chromium.new_context(locale={"en": "en-GB", "de": "de-DE"}[lang], bypass_csp=True,
                                   viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == []


def said(lang: str, en: str, de: str) -> str:
    return en if lang == "en" else de


def visible_text(tab, skip_data: bool = True) -> str:
    """What a person reads on the page; with `skip_data`, without the data's own text (prompts, answers, ids)."""
    return tab.evaluate("""(skip) => {
        const body = document.body.cloneNode(true);
        if (skip) body.querySelectorAll('.text, .mono, .filename, option, code, script').forEach(e => e.remove());
        return body.innerText; }""", skip_data)


# 1. jobs disappear -------------------------------------------------------------------------------------------------
def test_every_job_is_reachable_from_the_overview_after_a_burst(studio, page, lang):
    url = studio.server.url
    everyone = {j["id"] for j in studio.ws.store.jobs()}
    assert len(everyone) > 60
    page.goto(url + "/")
    assert studio.running in page.inner_html("#active-jobs")  # the running job, whatever the page
    seen, pages = set(), 0
    while True:
        pages += 1
        seen |= {a.split("/")[-1] for a in page.eval_on_selector_all("#jobs a", "els => els.map(e => e.href)")}
        if page.locator("#page-next").count() == 0:
            break
        page.click("#page-next")
    assert seen >= everyone and pages >= 3
    page.goto(url + "/")
    page.select_option("#filter-status", "succeeded")
    page.click("#filter-apply")
    listed = page.inner_text("#jobs")
    assert studio.trained in page.inner_html("#jobs") and said(lang, "succeeded", "erfolgreich") in listed
    assert all(b not in page.inner_html("#jobs") for b in studio.burst)
    page.goto(url + "/")
    page.fill("#filter-q", "shop")
    page.click("#filter-apply")
    assert page.eval_on_selector_all("#jobs a", "els => els.map(e => e.href.split('/').pop())") == [studio.trained]
    assert said(lang, "Page 1 of 1 (1 jobs)", "Seite 1 von 1 (1 Aufträge)") in page.inner_text("#page-info")


# 2. the verdict oversells ------------------------------------------------------------------------------------------
def test_the_verdict_rests_on_held_out_answers_against_a_trivial_baseline(studio, page, lang):
    page.goto(f"{studio.server.url}/jobs/{studio.legal}")
    verdict = page.inner_text("#run-verdict")
    assert said(lang, "partly tuned", "teilweise abgestimmt") in verdict
    assert said(lang, "well tuned", "gut abgestimmt") not in verdict
    assert "well-tuned" not in page.get_attribute("#run-verdict", "class")
    answers = page.inner_text("#answers")
    assert said(lang, "always answering 'No'", "immer „No“ zu antworten") in answers
    assert said(lang, "0.52", "0,52") in answers and said(lang, "0.66", "0,66") in answers
    assert said(lang, "89 of 134", "89 von 134") in answers and said(lang, "70 of 134", "70 von 134") in answers
    assert page.locator("#worst tr").count() == 4  # the three worst answers under their header
    loss = page.inner_text("#loss-verdict")  # the losses stay beneath, as evidence
    assert said(lang, "well tuned", "gut abgestimmt") in loss
    explained = page.inner_text("#answers-explained") + page.inner_text("#metrics")
    for needle in (said(lang, "Accuracy:", "Genauigkeit:"), said(lang, "agrees", "stimmt"),
                   said(lang, "Trivial baseline:", "Triviale Vergleichsgröße:"),
                   said(lang, "surprised", "überrascht")):
        assert needle in explained
    for row in page.query_selector_all("#metrics tr")[1:]:
        assert row.query_selector(".explain").inner_text().strip()  # every number row says what it means

    page.goto(f"{studio.server.url}/jobs/{studio.support}")
    verdict = page.inner_text("#run-verdict")
    assert said(lang, "no better than a shortcut", "nicht besser als eine Abkürzung") in verdict
    assert said(lang, "nearest anchor point", "nächstgelegenen Ankerpunkts") in verdict
    shown = page.inner_text("#samples")  # the bank-transfer answer that contradicts its reference, side by side
    assert "Can I pay by bank transfer?" in shown and "pay by cash on delivery" in shown
    assert page.locator("#worst tr").count() == 4
    assert said(lang, "write anchor points", "Ankerpunkte schreiben") in page.inner_text("#verdict-advice")


# 3. downloads hang -------------------------------------------------------------------------------------------------
def test_downloads_build_in_the_background_and_say_how_they_were_checked(studio, page, lang):
    url, job = studio.server.url, studio.trained
    record = studio.ws.data / "runs" / job / "exports" / "gguf-q8_0"
    record.mkdir(parents=True, exist_ok=True)  # what an export writes where llama-cpp-python is missing
    (record / "export.json").write_text(json.dumps({"format": "gguf", "quant": "q8_0", "status": "unchecked",
                                                    "reason": "llama-cpp-python is not installed here (`make "
                                                              "export-tools` compiles it); the GGUF was written but "
                                                              "not checked"}))
    page.goto(f"{url}/jobs/{job}")
    gguf = page.inner_text("#dl-gguf .parity")
    assert said(lang, "not checked: llama-cpp-python is not installed",
                "nicht geprüft: llama-cpp-python ist hier nicht installiert") in gguf
    assert said(lang, "checked against", "verglichen") not in page.inner_text("#dl-gguf")
    assert page.locator("[title*=checked], [title*=geprüft]").count() == 0
    part = "model" if lang == "en" else "served"
    page.click(f"#build-{part}")
    page.wait_for_function(f"['queued', 'running', 'ready'].includes(document.getElementById('dl-{part}').dataset.state)",
                           timeout=5000)  # answered at once: the build runs behind the page
    page.wait_for_selector(f"#download-{part}", timeout=60_000)
    assert said(lang, "ready", "bereit") in page.inner_text(f"#dl-{part} .dl-state")
    body = page.request.get(url + page.get_attribute(f"#download-{part}", "href"))
    assert body.status == 200 and body.body()[:2] == b"PK"
    exports = page.request.get(f"{url}/jobs/{job}/exports").text()
    assert str(studio.ws.data) not in exports and "/runs/" not in exports


# 4. poor data can be started, then fails --------------------------------------------------------------------------
def test_poor_data_offers_its_reasons_the_fix_and_an_explicit_train_anyway(studio, page, lang):
    url, ws = studio.server.url, studio.ws
    page.goto(f"{url}/jobs/{studio.poor}")
    card = page.inner_text("#poor-data")
    assert "--force" not in page.inner_text("main")
    rows = [json.loads(line) for line in (ws.data / "files" / f"{studio.poor_file}.jsonl").read_text().splitlines()]
    share = round(100 * sum(r["label"] == "refund_status" for r in rows) / len(rows))
    assert said(lang, f"one-sided: {share}% of the examples are 'refund_status'",
                f"einseitig: {share} % der Beispiele sind „refund_status“") in card
    assert page.get_attribute("#poor-report", "href") == f"/datasets/{studio.poor_file}?task=classification"
    assert page.locator("#poor-fix").count() == 1
    page.click("#anyway-start")  # the confirmation is required: nothing happens without it
    assert page.url.endswith(f"/jobs/{studio.poor}")
    page.check("#anyway-confirm")
    page.click("#anyway-start")
    page.wait_for_url(lambda u: "/jobs/ftjob-" in u and studio.poor not in u)
    again = ws.store.job(page.url.rsplit("/", 1)[1])
    assert again["options"]["force"] is True and again["training_file"] == studio.poor_file
    ws.store.request_cancel(again["id"])

    page.goto(f"{url}/new?file={studio.poor_file}&task=classification")  # the report is known: said before a start
    assert said(lang, "one-sided", "einseitig") in page.inner_text("#poor-warning")
    assert page.locator("#poor-warning #force").count() == 1
    page.goto(f"{url}/jobs/{studio.poor}")
    page.click("#poor-fix")
    page.wait_for_url(lambda u: "/datasets/file-" in u)
    assert "lopsided.fixed.jsonl" in page.inner_text("h1")


# 5. German stops at the labels -------------------------------------------------------------------------------------
def _pages(studio) -> list[str]:
    return ["/", "/new", f"/new?file={studio.poor_file}&task=classification",
            f"/datasets/{studio.clean_file}?task=classification", f"/datasets/{studio.poor_file}?task=classification",
            f"/jobs/{studio.trained}", f"/jobs/{studio.legal}", f"/jobs/{studio.support}", f"/jobs/{studio.running}",
            f"/jobs/{studio.poor}", f"/jobs/{studio.legal}/report", f"/jobs/{studio.trained}/report", "/settings",
            f"/compare?job={studio.trained}&job={studio.legal}",
            "/playground", "/login", "/jobs/ftjob-missing", "/no/such/page"]


def test_every_page_speaks_the_language_through_what_it_generates(studio, page, lang):
    from anchortune.messages import untranslated

    english = _ui_sentences()
    for path in _pages(studio):
        page.goto(studio.server.url + path)
        text = visible_text(page)
        assert page.evaluate("document.documentElement.lang") == lang, path
        if lang == "de":
            assert untranslated(text) == [], (path, untranslated(text))
            assert [s for s in english if s in text] == [], path
            # 0,67 and never 0.67 (a point before three digits groups thousands in German: 6.657 tokens)
            assert re.findall(r"(?<![\w.,])\d+\.(?:\d{1,2}|\d{4,})(?![\w.])", text) == [], path
        else:
            assert "Urteil" not in text and not re.findall(r"(?<![\w.,])\d+,(?:\d{1,2}|\d{4,})(?![\w,])", text), path


def _ui_sentences() -> list[str]:
    import yaml

    folder = Path(__file__).resolve().parents[2] / "src" / "anchortune" / "api" / "locales"
    en = yaml.safe_load((folder / "en.yaml").read_text(encoding="utf-8"))
    de = yaml.safe_load((folder / "de.yaml").read_text(encoding="utf-8"))
    return [v for k, v in en.items() if len(str(v).split()) >= 4 and v != de.get(k)]


# 6. progress misleads ----------------------------------------------------------------------------------------------
def test_progress_names_each_stage_with_its_own_time_left_and_warns_of_a_restart(studio, page, lang):
    from anchortune.app.recorder import JobRecorder
    from anchortune.jobs.worker import JobContext
    from anchortune.recipes import task_run

    running = _running_job(studio.ws, studio.support_file)
    page.goto(f"{studio.server.url}/jobs/{running}")
    assert page.inner_text("#stage") == said(lang, "final evaluation", "Schlussauswertung")
    assert page.inner_text("#stage-index") == "(3/5)"
    assert page.inner_text("#eta") == said(lang, "20 s", "20 s") and page.inner_text("#eta-total") != "0 s"
    assert page.inner_text("#step") == "9" and page.inner_text("#speed") == said(lang, "1,235", "1.235")
    warnings = page.inner_text("#warnings")
    assert said(lang, "restarting from step 0", "Neustart bei Schritt 0") in warnings
    assert said(lang, "step 3: training loss", "Schritt 3: Trainingsverlust") not in page.inner_text("#log")
    record = JobRecorder(JobContext(studio.ws.store, studio.ws.store.job(running), "test-worker"), studio.ws.store)
    task_run.stage(record, "answers", 9, 30.0)  # arrives live, by server-sent events
    page.wait_for_function("document.getElementById('stage').dataset.stage === 'answers'", timeout=10_000)
    assert page.inner_text("#stage") == said(lang, "generating held-out answers",
                                             "zurückgehaltene Antworten werden erzeugt")
    assert page.inner_text("#eta") == "30 s"


# 7. OpenAI dialect gaps --------------------------------------------------------------------------------------------
def test_the_api_answers_in_openais_envelope_and_pages_in_the_browsers_language(studio, page, lang):
    url = studio.server.url
    page.goto(url + "/")
    answers = page.evaluate("""async () => {
        const ask = async (path, body) => {
            const r = await fetch(path, body === undefined ? {} : {method: 'POST', body: JSON.stringify(body),
                                  headers: {'Content-Type': 'application/json'}});
            return [r.status, await r.json()]; };
        return [await ask('/v1/no/such/route'), await ask('/v1/chat/completions', {model: 'tiny'}),
                await ask('/v1/chat/completions', {model: 'tiny', max_tokens: 0, messages: [{role: 'user', content: 'hi'}]}),
                await ask('/v1/fine_tuning/jobs/""" + studio.trained + """/cancel', {})]; }""")
    (s404, e404), (s_missing, e_missing), (s_zero, e_zero), (s_cancel, e_cancel) = answers
    assert s404 == 404 and e404["error"]["code"] == "unknown_url" and e404["error"]["type"] == "invalid_request_error"
    assert s_missing == 400 and e_missing["error"]["param"] == "messages" and "detail" not in e_missing
    assert s_zero == 400 and e_zero["error"]["param"] == "max_tokens"
    assert s_cancel == 400 and e_cancel["error"]["code"] == "invalid_state"
    page.goto(url + "/no/such/page")
    assert said(lang, "Unknown request URL: GET /no/such/page",
                "Unbekannte Adresse: GET /no/such/page") in page.inner_text("#error-message")


# 8. disk -----------------------------------------------------------------------------------------------------------
def test_sizes_are_shown_checkpoints_pruned_and_a_job_can_be_deleted_with_its_files(studio, page, lang):
    from anchortune.app import jobs

    url, ws = studio.server.url, studio.ws
    summary = jobs.summary(ws, studio.trained)
    kept = sorted(p.name for p in (ws.data / "runs" / studio.trained / "checkpoints").iterdir())
    assert kept == sorted({f"checkpoint-{summary['training']['best_step']}", "checkpoint-9"})
    page.goto(f"{url}/jobs/{studio.trained}")
    disk = page.inner_text("#disk")
    assert re.search(r"\d+([.,]\d)? (kB|MB)", disk) and said(lang, "checkpoints", "Checkpoints") in disk
    doomed = _copy_job(ws, studio.trained, studio.support_file, "support", f"doomed-{lang}")
    page.goto(f"{url}/jobs/{doomed}")
    page.check("#delete-confirm")
    page.click("#delete")
    page.wait_for_url(url + "/")
    assert ws.store.job(doomed) is None and not (ws.data / "runs" / doomed).exists()
    page.goto(url + "/settings")
    assert re.search(r"\d", page.inner_text("#studio-total"))
    page.check("input[name=keep_checkpoints][value=all]")
    page.fill("#download_cache_mb", "512" if lang == "en" else "1024")
    page.click("#save-settings")
    page.wait_for_selector("#saved")
    assert page.input_value("#download_cache_mb") == ("512" if lang == "en" else "1024")
    assert page.is_checked("input[name=keep_checkpoints][value=all]")
    page.check("input[name=keep_checkpoints][value=chosen_and_last]")
    page.click("#save-settings")


# 9. smaller --------------------------------------------------------------------------------------------------------
def test_the_smaller_things(studio, page, lang, make_studio):
    url = studio.server.url
    page.goto(f"{url}/new")  # three uploads of one file name can be told apart
    names = page.eval_on_selector_all("#training_file option", "els => els.map(e => e.textContent)")
    assert len(names) == len(set(names)) and sum("support.jsonl" in n for n in names) == 3
    page.goto(f"{url}/datasets/{studio.clean_file}?task=classification")  # nothing flagged: nothing to fix
    assert page.locator("#flagged").count() == 0 and page.locator("#fix").count() == 0
    page.goto(f"{url}/datasets/{studio.poor_file}?task=classification")
    assert page.locator("#fix").count() == 1

    other = _OtherSite(url)  # a page of another program on another loopback port posts a form to the studio
    try:
        page.goto(other.url)
        page.click("#go")
        page.wait_for_load_state()
        assert said(lang, "cross-site", "cross-site") in page.inner_text("#error-message")
        assert page.locator("#error-message").count() == 1  # an error page, not raw JSON
    finally:
        other.stop()

    with LiveServer(make_studio(token="s3cret")) as guarded:
        page.goto(guarded.url + "/")
        page.fill("input[name=token]", "wrong")
        page.click("button[type=submit]")
        message = page.inner_text("#login-error")
        assert message != "401" and said(lang, "not this studio's", "nicht zu diesem Studio") in message


class _OtherSite:
    """A page served from another loopback port whose form posts to the studio."""

    def __init__(self, studio_url: str):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        page = (f'<form method="post" action="{studio_url}/jobs"><input name="model" value="tiny">'
                f'<button id="go" type="submit">go</button></form>').encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
