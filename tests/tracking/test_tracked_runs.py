"""Runs a team can compare and trace (issue 43), on two jobs the tiny model trains in a studio: one on a dataset, one
on the version its fix made of it. The first is tracked in TensorBoard (asked as an API hyperparameter), the second
in MLflow (the studio's setting, its default store under the data folder). Each backend's own reader reads its run
back; `anchortune compare` and the studio's compare view show both data hashes and the task metric's difference; the
dataset pages list the runs trained on them; the job page and the model card show the lineage; an export's record
names its run and data hash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

# full fine-tuning at a high rate: in 40 steps the tiny model's answers start to share words with the references, so
# the task metric (ROUGE-L) of the two runs is more than 0 and differs
FAST = {"batch_size": 4, "max_length": 256, "precision": "fp32", "method": "full", "learning_rate": 0.02,
        "max_steps": 40, "eval_every": 20, "val_fraction": 0.25, "patience": 0}


@dataclass
class Tracked:
    ws: object
    v1: dict  # the uploaded dataset
    v2: dict  # its fixed version (two duplicated rows dropped)
    a: str  # the job on v1, tracked in TensorBoard
    b: str  # the job on v2, tracked in MLflow

    def run(self, job: str) -> Path:
        return self.ws.data / "runs" / job

    def summary(self, job: str) -> dict:
        return json.loads((self.run(job) / "summary.json").read_text(encoding="utf-8"))


def _rows(points) -> bytes:
    return "".join(json.dumps({"messages": [{"role": "user", "content": p.prompt},
                                            {"role": "assistant", "content": p.answer}], "label": p.label}) + "\n"
                   for p in points).encode()


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, tiny_model_dir, track_extra):
    from anchortune.app import datasets, jobs
    from anchortune.app import tracking as app_tracking
    from anchortune.app.workspace import StudioConfig, Workspace
    from anchortune.data.demo_support import support_demo
    from anchortune.jobs import states

    ws = Workspace(StudioConfig(data_dir=tmp_path_factory.mktemp("studio"), models={"tiny": str(tiny_model_dir)},
                                lease_s=30))
    points = support_demo(3)
    v1 = datasets.upload(ws, "support.jsonl", [_rows(points + points[:2])])  # two rows twice: the fix drops them
    v2 = datasets.fix(ws, v1["id"], "support", "tiny")
    app_tracking.save_settings(ws, "mlflow")
    a = jobs.create_job(ws, "tiny", v1["id"], suffix="v1", hyperparameters={"track": "tensorboard"},
                        options={"task": "support", **FAST})["id"]
    b = jobs.create_job(ws, "tiny", v2["id"], suffix="v2", options={"task": "support", **FAST})["id"]
    worker = jobs.worker(ws, "test-worker")
    while any(ws.store.job(j)["status"] not in states.FINAL for j in (a, b)):
        worker.run_once()
    for job in (a, b):
        assert ws.store.job(job)["status"] == states.SUCCEEDED, ws.store.job(job)["error"]
    return Tracked(ws, v1, v2, a, b)


def test_a_run_tracked_in_mlflow_is_read_back_by_mlflows_own_client(tracked):
    from mlflow import MlflowClient

    where = json.loads((tracked.run(tracked.b) / "tracking.json").read_text())
    store = tracked.ws.data / "mlflow" / "mlflow.db"
    assert where["backend"] == "mlflow" and store.is_file()  # the default: a store under the data folder
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    run = client.get_run(where["run_id"])
    summary = tracked.summary(tracked.b)
    assert run.info.status == "FINISHED" and run.info.run_name == tracked.b
    assert client.get_experiment(run.info.experiment_id).name == "anchortune-support"
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["learning_rate"] == "0.02" and params["max_steps"] == "40" and params["task_metric"] == "ROUGE-L"
    assert params["data/sha256"] == tracked.v2["sha256"] and params["data/rows"] == "36"
    assert params["gate/verdict"] == summary["quality"]["verdict"] and params["engine/path"]
    assert params["fix/changelog"] == f"data/{tracked.v2['id']}.changelog.jsonl"
    assert metrics["task_metric/tuned"] == pytest.approx(summary["answers"]["tuned"])
    assert metrics["final/tuned_valid_loss"] == pytest.approx(summary["losses"]["tuned_valid"])
    assert metrics["gate/relevance"] == summary["quality"]["scores"]["relevance"]
    assert metrics["guard/chosen_step"] == summary["training"]["best_step"]
    valid = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "eval/valid_loss")]
    rows = [json.loads(line) for line in (tracked.run(tracked.b) / "metrics.jsonl").read_text().splitlines()]
    assert valid == [(r["step"], pytest.approx(r["valid_loss"])) for r in rows if "valid_loss" in r] and len(valid) == 2
    assert client.get_metric_history(run.info.run_id, "train/loss")
    assert tags["verdict"] == summary["verdict"]["verdict"] and tags["data_sha256"] == tracked.v2["sha256"]
    assert tags["mlflow.note.content"].startswith(summary["verdict"]["verdict"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "report.md", "README.md", "summary.json", "quality.json", "verdicts"} <= artifacts
    report = Path(client.download_artifacts(run.info.run_id, "report.md", str(tracked.ws.data / "read-back")))
    assert report.read_text() == (tracked.run(tracked.b) / "report.md").read_text()


def test_a_run_tracked_in_tensorboard_is_read_back_by_its_event_reader(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    folder = tracked.run(tracked.a) / "tensorboard"
    assert json.loads((tracked.run(tracked.a) / "tracking.json").read_text()) == {"backend": "tensorboard",
                                                                                  "folder": "tensorboard"}
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    rows = [json.loads(line) for line in (tracked.run(tracked.a) / "metrics.jsonl").read_text().splitlines()]
    summary = tracked.summary(tracked.a)
    scalars = events.Tags()["scalars"]
    valid = [(e.step, e.value) for e in events.Scalars("eval/valid_loss")]
    assert valid == [(r["step"], pytest.approx(r["valid_loss"])) for r in rows if "valid_loss" in r]
    assert [e.step for e in events.Scalars("train/loss")] == [r["step"] for r in rows if "train_loss" in r]
    assert {"train/learning_rate", "eval/general_text_loss", "eval/cloze_accuracy"} <= set(scalars)
    assert events.Scalars("task_metric/tuned")[-1].value == pytest.approx(summary["answers"]["tuned"])
    assert events.Scalars("gate/clarity")[-1].value == pytest.approx(summary["quality"]["scores"]["clarity"])
    text = lambda tag: events.Tensors(tag)[-1].tensor_proto.string_val[0].decode()  # noqa: E731
    assert text("verdict/text_summary").startswith(summary["verdict"]["verdict"])
    assert text("gate/text_summary").startswith(summary["quality"]["verdict"])
    assert text("report/text_summary") == (tracked.run(tracked.a) / "report.md").read_text()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["data/sha256"].string_value == tracked.v1["sha256"]
    config = yaml.safe_load((tracked.run(tracked.a) / "config.yaml").read_text())
    assert hparams["lora_r"].string_value == str(config["lora_r"]) and hparams["track"].string_value == ""


def test_compare_shows_both_data_hashes_and_the_task_metric_difference(tracked):
    from typer.testing import CliRunner

    from anchortune.cli.main import app
    from anchortune.errors import ConfigError

    a, b = str(tracked.run(tracked.a)), str(tracked.run(tracked.b))
    difference = tracked.summary(tracked.b)["answers"]["tuned"] - tracked.summary(tracked.a)["answers"]["tuned"]
    shown = CliRunner().invoke(app, ["compare", a, b], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert f"data of {a}: sha256 {tracked.v1['sha256']}" in shown.output
    assert f"data of {b}: sha256 {tracked.v2['sha256']}" in shown.output
    assert f"task metric ROUGE-L of {b} against {a}: {difference:+.4f}" in shown.output
    assert "2 dropped, 0 set aside" in shown.output and "TensorBoard tensorboard/" in shown.output
    result = json.loads(CliRunner().invoke(app, ["compare", a, b, "--json"]).output)
    assert [r["data"]["sha256"] for r in result["runs"]] == [tracked.v1["sha256"], tracked.v2["sha256"]]
    assert result["runs"][1]["task_metric"]["difference"] == pytest.approx(difference)
    assert result["runs"][0]["data"]["rows"] == 38 and result["runs"][1]["data"]["rows"] == 36
    alone = CliRunner().invoke(app, ["compare", a])  # main() prints it as one line
    assert isinstance(alone.exception, ConfigError) and "at least two runs, not 1" in str(alone.exception)


def test_compare_speaks_german_from_the_catalogue(tracked):
    from typer.testing import CliRunner

    from anchortune.cli.main import app
    from anchortune.errors import ConfigError
    from anchortune.messages import format_number, untranslated

    a, b = str(tracked.run(tracked.a)), str(tracked.run(tracked.b))
    difference = tracked.summary(tracked.b)["answers"]["tuned"] - tracked.summary(tracked.a)["answers"]["tuned"]
    shown = CliRunner().invoke(app, ["compare", a, b, "--lang", "de"], terminal_width=400)
    assert shown.exit_code == 0, shown.output
    assert f"Daten von {a}: sha256 {tracked.v1['sha256']}" in shown.output
    assert f"Daten von {b}: sha256 {tracked.v2['sha256']}" in shown.output
    assert f"Aufgabenmetrik ROUGE-L von {b} gegenüber {a}: {format_number(difference, 'de', 4, sign=True)}" \
        in shown.output
    assert "2 entfernt, 0" in shown.output and "beiseitegelegt" in shown.output  # the table may wrap a cell
    assert "Einstellungen der Läufe sind gleich" in shown.output
    for english in ("data file", "task metric", "general text loss", "cloze accuracy", "tracked in", "dropped"):
        assert english not in shown.output
    assert untranslated(shown.output) == []
    wrong = CliRunner().invoke(app, ["compare", a, b, "--lang", "fr"])
    assert isinstance(wrong.exception, ConfigError) and "expected en or de" in str(wrong.exception)


def _client(ws):
    from fastapi.testclient import TestClient

    from anchortune.api.app import create_app

    return TestClient(create_app(ws, workers=0), base_url="http://127.0.0.1")


def _visible(html: str) -> str:
    """A page's text without tags, scripts and the data's own text (hashes, file names)."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    html = re.sub(r'<(td|span) class="(mono[^"]*|filename)">.*?</\1>', " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_studio_compares_two_versions_of_a_dataset(tracked, lang):
    from anchortune.messages import format_number, untranslated

    difference = tracked.summary(tracked.b)["answers"]["tuned"] - tracked.summary(tracked.a)["answers"]["tuned"]
    http = _client(tracked.ws)
    page = http.get("/compare", params={"job": [tracked.a, tracked.b], "lang": lang}, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert tracked.v1["sha256"] in page.text and tracked.v2["sha256"] in page.text
    shown = re.search(r'<tr id="cmp-difference">(.*?)</tr>', page.text, re.S).group(1)
    assert format_number(difference, lang, 4, sign=True) in shown
    assert "<svg" in page.text and "<polyline" in page.text  # the two validation curves
    if lang == "de":
        assert "Unterschied zum ersten Lauf" in page.text and untranslated(_visible(page.text)) == []
    result = http.get("/compare", params={"job": [tracked.a, tracked.b]}).json()  # an API client: the same as JSON
    assert [r["data"]["sha256"] for r in result["runs"]] == [tracked.v1["sha256"], tracked.v2["sha256"]]
    assert result["runs"][1]["task_metric"]["difference"] == pytest.approx(difference)
    assert str(tracked.ws.data) not in json.dumps(result)  # no server path goes over the wire


def test_the_dataset_pages_list_the_runs_trained_on_them_and_the_job_page_its_lineage(tracked):
    http = _client(tracked.ws)
    first = http.get(f"/datasets/{tracked.v1['id']}", params={"task": "support"}).text
    second = http.get(f"/datasets/{tracked.v2['id']}", params={"task": "support"}).text
    assert f'data-job="{tracked.a}"' in first and f'data-job="{tracked.b}"' not in first
    assert f'data-job="{tracked.b}"' in second and f'data-job="{tracked.a}"' not in second
    job = http.get(f"/jobs/{tracked.b}").text
    assert re.search(r'id="lineage-sha256">([0-9a-f]{64})<', job).group(1) == tracked.v2["sha256"]
    assert 'id="lineage-rows">36<' in job and "2 rows dropped, 0 set aside for review" in job
    assert f"run {json.loads((tracked.run(tracked.b) / 'tracking.json').read_text())['run_id']}" in job
    home = http.get("/").text
    assert home.count('class="compare-pick"') == 2 and 'id="compare-form"' in home


def test_the_model_card_records_the_data_lineage(tracked):
    from anchortune.run_folder import sha256

    run = tracked.run(tracked.b)
    card = (run / "README.md").read_text()
    lineage = tracked.summary(tracked.b)["lineage"]
    stored = tracked.ws.data / "files" / tracked.v2["stored_name"]
    assert lineage["data"] == {"file": stored.name, "sha256": sha256(stored), "rows": 36}
    assert sha256(stored) == tracked.v2["sha256"]  # the upload's hash, the run's seal and `sha256sum` agree
    assert lineage["gate"]["verdict"] == tracked.summary(tracked.b)["quality"]["verdict"]
    assert lineage["fix"]["dropped"] == 2 and (run / lineage["fix"]["changelog"]).is_file()
    assert "## Data lineage" in card and f"SHA-256 `{tracked.v2['sha256']}`" in card and "36 rows" in card
    assert f"changelog `{lineage['fix']['changelog']}`" in card and "2 rows dropped" in card
    assert tracked.summary(tracked.a)["lineage"]["fix"] is None


def test_an_exports_record_names_its_run_and_data_hash(tracked):
    from anchortune.app import downloads, runs

    record = runs.export_run(tracked.run(tracked.a), "merged")
    assert record["source"]["run"] == tracked.a and record["source"]["data"]["sha256"] == tracked.v1["sha256"]
    assert record["source"]["tracking"] == {"backend": "tensorboard", "folder": "tensorboard"}
    written = json.loads((Path(record["folder"]) / "export.json").read_text())
    assert written["source"] == record["source"]
    listed = downloads.records(tracked.ws, tracked.a)[-1]
    assert listed["source"]["data"]["sha256"] == tracked.v1["sha256"] and "run" not in listed


def test_track_is_an_api_hyperparameter_a_job_option_and_a_studio_setting(tracked):
    from anchortune.app import jobs
    from anchortune.app import tracking as app_tracking
    from anchortune.errors import ConfigError

    ws, http = tracked.ws, _client(tracked.ws)
    made = http.post("/v1/fine_tuning/jobs", json={"model": "tiny", "training_file": tracked.v1["id"],
                                                   "hyperparameters": {"track": "tensorboard"}})
    assert made.status_code == 200 and ws.store.job(made.json()["id"])["options"]["track"] == "tensorboard"
    bad = http.post("/v1/fine_tuning/jobs", json={"model": "tiny", "training_file": tracked.v1["id"],
                                                  "hyperparameters": {"track": "wandb"}})
    assert bad.status_code == 400 and "none, tensorboard or mlflow" in bad.json()["error"]["message"]
    with pytest.raises(ConfigError, match="not an option of a job"):  # a request never names where the studio writes
        jobs.create_job(ws, "tiny", tracked.v1["id"], options={"track": "mlflow", "tracking_uri": "sqlite:////tmp/x"})
    assert jobs.create_job(ws, "tiny", tracked.v1["id"])["options"]["track"] == "mlflow"  # the studio's setting
    for uri, says in (("sqlite:////etc/mlflow.db", "http:// or https://"),
                      ("https://someone:secret@mlflow.example.org", "MLFLOW_TRACKING_PASSWORD")):
        with pytest.raises(ConfigError, match=re.escape(says)):
            app_tracking.save_settings(ws, "mlflow", uri)
    saved = http.post("/settings", data={"keep_checkpoints": "chosen_and_last", "download_cache_mb": "2048",
                                         "track": "tensorboard", "tracking_uri": "https://mlflow.example.org"},
                      follow_redirects=False)
    assert saved.status_code == 303 and app_tracking.settings(ws) == {
        "track": "tensorboard", "tracking_uri": "https://mlflow.example.org"}
    page = http.get("/settings", params={"lang": "de"}).text
    assert 'value="tensorboard" checked' in page and "Experiment-Tracking" in page
    form = http.post("/jobs", data={"model": "tiny", "training_file": tracked.v1["id"], "task": "support",
                                    "track": "none"}, follow_redirects=False)
    assert ws.store.job(form.headers["location"].rsplit("/", 1)[1])["options"]["track"] == "none"
    app_tracking.save_settings(ws, "mlflow")


def test_a_resumed_run_continues_its_mlflow_run(tracked):
    from mlflow import MlflowClient

    from anchortune.tracking.mlflow import MlflowWriter, local_uri

    uri = local_uri(tracked.ws.data)
    first = MlflowWriter(uri, "anchortune-resumed", "run-r")
    first.metrics(1, {"train/loss": 2.0})
    first.close("KILLED")  # the worker died
    again = MlflowWriter(uri, "anchortune-resumed", "run-r", previous=first.where)
    assert again.run_id == first.run_id and MlflowClient(uri).get_run(again.run_id).info.status == "RUNNING"
    again.metrics(2, {"train/loss": 1.5})
    again.close("FINISHED")
    history = MlflowClient(uri).get_metric_history(again.run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(1, 2.0), (2, 1.5)]


# the studio in headless Chromium (as tests/api/test_studio_in_browser.py drives it) -------------------------------


def _text(tab) -> str:
    """What a person reads, without the data's own text (hashes, file names, run names)."""
    return tab.evaluate("""() => { const body = document.body.cloneNode(true);
        body.querySelectorAll('.mono, .filename, .hash, code, script, #compare th a').forEach(e => e.remove());
        return body.innerText; }""")


@pytest.mark.parametrize("lang", ["en", "de"])
def test_in_the_browser_two_runs_picked_on_the_overview_are_compared_by_data_version(tracked, chromium, lang):
    from anchortune.messages import format_number, untranslated

    from ..api.conftest import LiveServer

    context = chromium.new_context(locale={"en": "en-GB", "de": "de-DE"}[lang], viewport={"width": 1200, "height": 900})
    tab, errors = context.new_page(), []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    sha = {tracked.a: tracked.v1["sha256"], tracked.b: tracked.v2["sha256"]}
    try:
        with LiveServer(tracked.ws, workers=0) as server:
            tab.goto(server.url + "/")
            for job in (tracked.a, tracked.b):
                tab.check(f'input.compare-pick[value="{job}"]')
            tab.click("#compare-selected")
            tab.wait_for_url("**/compare?**")
            first, second = parse_qs(urlsplit(tab.url).query)["job"]  # the overview's order: newest first
            assert {first, second} == {tracked.a, tracked.b}
            assert [h.strip() for h in tab.locator("#cmp-sha256 td.hash").all_inner_texts()] == [sha[first],
                                                                                                  sha[second]]
            difference = tracked.summary(second)["answers"]["tuned"] - tracked.summary(first)["answers"]["tuned"]
            cells = [c.strip() for c in tab.locator("#cmp-difference td").all_inner_texts()]
            assert cells[1:] == ["–", format_number(difference, lang, 4, sign=True)] and difference != 0
            assert tab.locator("#compare-curves polyline").count() == 2
            assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the hashes wrap
            text = _text(tab)
            assert ("Difference against the first run" if lang == "en" else "Unterschied zum ersten Lauf") in text
            if lang == "de":
                assert untranslated(text) == [] and "Data version" not in text

            tab.goto(f"{server.url}/datasets/{tracked.v2['id']}?task=support")  # the runs trained on this version
            assert tab.locator("#trained-runs tr[data-job]").evaluate_all("rows => rows.map(r => r.dataset.job)") \
                == [tracked.b]
            tab.locator(f'#trained-runs tr[data-job="{tracked.b}"] a').click()
            tab.wait_for_url(f"**/jobs/{tracked.b}")
            assert tab.locator("#lineage-sha256").inner_text().strip() == tracked.v2["sha256"]
            fix = tab.locator("#lineage-fix").inner_text()
            assert ("2 rows dropped, 0 set aside for review" if lang == "en" else
                    "2 Zeilen entfernt, 0 zur Prüfung beiseitegelegt") in fix
            if lang == "de":
                assert untranslated(_text(tab)) == [] and "Herkunft der Daten" in _text(tab)
    finally:
        context.close()
    assert errors == []
