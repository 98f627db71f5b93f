"""Dataset-level judgement: one-sided sets are called so with the reason; the report, HTML and --fix."""

from __future__ import annotations

import json
import random

import pytest

from anchortune.app import datasets as app_datasets
from anchortune.app import runs as app_runs
from anchortune.data.demo_support import support_demo
from anchortune.data.loading import load_anchor_points, save_anchor_points
from anchortune.data.records import AnchorPoint
from anchortune.errors import QualityError
from anchortune.messages import translate, untranslated


def renumber(points):
    return [AnchorPoint(p.messages, i, p.label) for i, p in enumerate(points, start=1)]


def bitext_sample(shared_data, n: int, seed: int = 0) -> list[AnchorPoint]:
    points = load_anchor_points(shared_data / "support" / "bitext_customer_support.jsonl")
    random.Random(seed).shuffle(points)
    return renumber(points[:n])


def test_a_set_skewed_to_one_intent_is_one_sided(shared_data):
    points = load_anchor_points(shared_data / "support" / "bitext_customer_support.jsonl")
    rng = random.Random(1)
    top = [p for p in points if p.label == "track_order"]
    rest = [p for p in points if p.label != "track_order"]
    skewed = renumber(rng.sample(top, 80) + rng.sample(rest, 20))
    report = app_datasets.check_data(None, task="support", points=skewed)
    assert report.verdict == "poor"
    assert any(r.startswith("one-sided") and "track_order" in r for r in report.reasons)
    assert any("track_order" in tip for tip in report.advice)


def test_one_template_answer_for_every_prompt_is_one_sided():
    canned = "Thank you for your message. A member of our team will contact you shortly."
    points = renumber([AnchorPoint((p.messages[0], {"role": "assistant", "content": canned}), 0, p.label)
                       for p in support_demo()])
    report = app_datasets.check_data(None, task="support", points=points)
    assert report.verdict == "poor"
    assert any("one-sided" in r and "template" in r for r in report.reasons)


def test_a_plain_bitext_sample_is_not_poor(shared_data):
    report = app_datasets.check_data(None, task="support", points=bitext_sample(shared_data, 600))
    assert report.verdict in ("good", "fair")
    assert 3 <= len(report.advice) <= 7
    assert report.token_lengths["p50"] > 0 and report.effective_examples > 5
    assert set(report.scores) == {"relevance", "diversity", "balance", "clarity"}


def test_report_json_html_and_fix_lose_nothing(tmp_path):
    points = support_demo()
    bad = [points[0], AnchorPoint(({"role": "user", "content": "<script>alert(1)</script> where is my order?"},
                                   {"role": "assistant", "content": ""}), 0)]
    data = save_anchor_points(renumber(points + bad), tmp_path / "data.jsonl")
    loaded = load_anchor_points(data)
    report = app_datasets.check_data(data, task="support", points=loaded)
    written = app_datasets.write_quality_outputs(report, loaded, "data.jsonl", tmp_path / "r.json", tmp_path / "r.html",
                                            tmp_path / "fixed.jsonl")
    stored = json.loads(written["json"].read_text())
    assert stored["verdict"] == report.verdict and stored["findings"]
    html = written["html"].read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    kept = load_anchor_points(written["fixed"]) if written["fixed"].stat().st_size else []
    review = written["review"].read_text().splitlines()
    changelog = [json.loads(l) for l in written["changelog"].read_text().splitlines()]
    assert len(kept) + len(review) + sum(c["action"] == "dropped" for c in changelog) == len(loaded)
    dropped = {c["line"] for c in changelog if c["action"] == "dropped"}
    assert {len(points) + 1, len(points) + 2} <= dropped  # the exact duplicate and the empty answer
    assert all(c["reasons"] for c in changelog)
    german = app_datasets.write_quality_outputs(report, loaded, "data.jsonl", fix_out=tmp_path / "de" / "fixed.jsonl",
                                                lang="de")
    in_german = [json.loads(l) for l in german["changelog"].read_text().splitlines()]
    assert [(c["line"], c["action"]) for c in in_german] == [(c["line"], c["action"]) for c in changelog]
    assert in_german != changelog and all(r == translate(e, "de") for g, c in zip(in_german, changelog)
                                          for r, e in zip(g["reasons"], c["reasons"], strict=True))
    assert not untranslated(" ".join(r for c in in_german for r in c["reasons"]))


def test_training_stops_on_poor_data_unless_forced(tmp_path, tiny_model_dir):
    from anchortune.config import RunConfig

    canned = "Thank you for your message. A member of our team will contact you shortly."
    points = [AnchorPoint((p.messages[0], {"role": "assistant", "content": canned}), 0, p.label)
              for p in support_demo()]
    data = save_anchor_points(renumber(points), tmp_path / "canned.jsonl")
    cfg = RunConfig.build(data=str(data), task="support", model=str(tiny_model_dir), max_steps=2, batch_size=4,
                          precision="fp32")
    with pytest.raises(QualityError, match="one-sided"):
        app_runs.train_run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    outcome = app_runs.train_run(cfg, tmp_path / "run", force=True)
    assert (outcome.folder / "quality.html").is_file()
    assert outcome.summary["quality"]["verdict"] == "poor"
    assert "Quality gate: **poor**" in (outcome.folder / "README.md").read_text()


def test_clusters_are_named_by_the_words_their_prompts_share():
    from anchortune.quality.balance import cluster_names

    prompts = ["I want a refund for my order", "how do I get my money back, refund please",
               "refund the money for the broken kettle", "can I have a refund of my money",
               "I forgot my password", "reset my password please", "my password does not work anymore",
               "the weather is nice", "sing me a song", "what time is it"]
    names = cluster_names(prompts, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert names == {0: "refund / money", 1: "password", 2: "cluster 3"}, names  # a word of one prompt names nothing
