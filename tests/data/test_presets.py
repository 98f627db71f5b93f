"""Task presets are YAML data in the package; each loads and frames records as documented."""

from __future__ import annotations

import json

import pytest

from anchortune.data.presets import PRESET_NAMES, load_preset
from anchortune.data.records import AnchorPoint
from anchortune.errors import ConfigError


def point(prompt: str, answer: str, label: str | None = None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), 1, label)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_shipped_preset_loads_with_metric_and_hyperparameters(name):
    preset = load_preset(name)
    assert preset.name == name and preset.metric and preset.hyperparameters.learning_rate > 0


def test_unknown_task_names_the_choices():
    with pytest.raises(ConfigError, match="choose one of support, legal, invoice"):
        load_preset("poetry")


def test_invoice_preset_asks_for_json_with_its_fields():
    preset = load_preset("invoice")
    assert preset.output.format == "json"
    assert {"date", "total", "address", "invoice_number"} <= set(preset.output.fields)
    messages = preset.to_messages(point("ACME LTD\nTOTAL 9.00", "{}"))
    assert messages[0]["role"] == "system" and "invoice_number" in messages[0]["content"]
    assert messages[1]["content"].startswith("Extract the fields") and "TOTAL 9.00" in messages[1]["content"]


def test_invoice_fields_follow_the_data_when_its_answers_are_json():
    data = [point("doc", json.dumps({"company": "A", "total": "1"}))]
    assert load_preset("invoice").resolved_for(data).output.fields == ["company", "total"]


def test_classification_labels_are_inferred_and_named_in_the_system_prompt():
    data = [point("t1", "refund", "refund"), point("t2", "card_lost", "card_lost")]
    preset = load_preset("classification").resolved_for(data)
    assert preset.output.labels == ["card_lost", "refund"]
    assert "card_lost, refund" in preset.to_messages(data[0])[0]["content"]


def test_a_conversation_keeps_its_own_system_prompt():
    own = AnchorPoint(({"role": "system", "content": "mine"}, {"role": "user", "content": "q"},
                       {"role": "assistant", "content": "a"}), 1)
    assert load_preset("support").to_messages(own)[0]["content"] == "mine"
