"""Playground feedback through the application layer: each judgement is the pair it should be, what cannot make a
pair is refused with the reason, and the collection becomes a dataset of pairs read as any upload."""

from __future__ import annotations

import pytest

from anchortune.app import datasets, feedback
from anchortune.app.workspace import StudioConfig, Workspace
from anchortune.errors import ConfigError


@pytest.fixture
def ws(tmp_path):
    return Workspace(StudioConfig(data_dir=tmp_path / "studio", models={}, lease_s=30))


def sides(pair: dict) -> tuple[str, str]:
    return pair["chosen"][0]["content"], pair["rejected"][0]["content"]


def test_each_judgement_prefers_the_answer_it_should():
    up = feedback.pair_of("Where is my parcel?", "In transit.", "No idea.", "up")
    down = feedback.pair_of("Where is my parcel?", "No idea.", "In transit.", "down")
    edit = feedback.pair_of("Where is my parcel?", "No idea.", "Who knows.", "down", edited="It ships today.")
    assert sides(up) == ("In transit.", "No idea.") and sides(down) == ("In transit.", "No idea.")
    assert sides(edit) == ("It ships today.", "No idea.")
    assert up["prompt"] == [{"role": "user", "content": "Where is my parcel?"}]


@pytest.mark.parametrize("args, param, words", [
    (("Where?", "No idea.", "No idea.", "down"), "edited", "no second answer to prefer"),
    (("Where?", "No idea.", None, "up"), "edited", "no second answer to prefer"),
    (("Where?", "No idea.", None, "down", "No idea."), "edited", "no second answer"),  # an edit that changes nothing
    (("", "No idea.", "Soon.", "down"), "prompt", "needs the message"),
    (("Where?", "No idea.", "Soon.", "meh"), "rating", "rating 'meh' is not known"),
])
def test_what_cannot_make_a_pair_is_refused_with_the_reason(args, param, words):
    with pytest.raises(ConfigError) as refused:
        feedback.pair_of(*args)
    assert words in str(refused.value) and refused.value.param == param


def test_the_collection_becomes_a_dataset_of_pairs(ws):
    with pytest.raises(ConfigError, match="no feedback yet"):
        feedback.snapshot(ws)
    feedback.record(ws, "Where is my parcel?", "No idea.", "In transit.", "down", edited="It ships today.")
    assert feedback.record(ws, "Can I pay by card?", "Yes, by card.", "No.", "up")["pairs"] == 2
    row = feedback.snapshot(ws)
    assert row["filename"] == "playground-feedback.jsonl" and row["examples"] == 2
    assert datasets.pairs_of(ws, row["id"])[0] == {"line": 1, "prompt": "Where is my parcel?",
                                                   "chosen": "It ships today.", "rejected": "No idea."}
    feedback.record(ws, "Can I return it?", "No.", "Yes, within 30 days.", "down")
    assert datasets.file(ws, row["id"])["examples"] == 2  # a snapshot: later feedback makes the next one
    assert feedback.snapshot(ws)["examples"] == 3
