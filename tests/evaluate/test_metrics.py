"""Task metrics: ROUGE-L, robust label extraction, JSON field scores."""

from __future__ import annotations

import pytest

from anchortune.evaluate import metrics


def test_rouge_l_rewards_shared_order():
    assert metrics.rouge_l("open my account settings", "open my account settings") == 1.0
    assert 0 < metrics.rouge_l("open the settings of my account", "open my account settings") < 1
    assert metrics.rouge_l("completely different", "open my account settings") == 0.0


@pytest.mark.parametrize("output, label", [
    ("card_arrival", "card_arrival"), ("Card arrival.", "card_arrival"),
    ("The answer is: lost card, not card arrival", "lost_card"), ("Yes", "Yes"), ("I don't know", None),
    ("card arrival", "card_arrival"),
])
def test_labels_are_extracted_robustly(output, label):
    assert metrics.extract_label(output, ["card_arrival", "lost_card", "card", "Yes", "No"]) == label


def test_label_scores_count_unextractable_answers_as_wrong():
    scores = metrics.label_scores(["a", None, "b", "b"], ["a", "a", "b", "a"])
    assert scores["accuracy"] == 0.5 and scores["unextractable"] == 1 and 0 < scores["macro_f1"] < 1


def test_json_scores_parse_wrapped_objects_and_score_fields():
    outputs = ['Here you go: {"company": "ACME", "total": "9.00"} thanks', "not json"]
    references = ['{"company": "ACME", "total": "9.50"}', '{"company": "Beta", "total": "1.00"}']
    scores = metrics.json_scores(outputs, references, ["company", "total"])
    assert scores["json_valid"] == 0.5
    assert scores["field_exact"] == {"company": 0.5, "total": 0.0}
    assert scores["field_f1"] == pytest.approx(2 * (1 / 2) * (1 / 4) / (1 / 2 + 1 / 4))


def test_reciting_a_different_training_answer_counts_as_a_copy():
    training = ["Go to My Account and choose Cancel order; the refund follows in five days.",
                "Standard delivery takes two to four working days and is free from fifty euros."]
    outputs = [training[1], "Delivery takes two to four days."]
    references = ["You can return any item within thirty days using the free label.", "Delivery is quick."]
    assert metrics.copied_answers(outputs, references, training) == 0.5
    assert metrics.copied_answers([training[1]], [training[1]], training) == 0.0  # the right answer is no copy
