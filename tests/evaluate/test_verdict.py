"""The verdict in the team's terms: held-out answers against their references, beside the base model's and the
strongest trivial baseline's, with the balance guard's loss-based diagnosis beneath."""

from __future__ import annotations

from anchortune.data.records import AnchorPoint
from anchortune.evaluate import baselines, verdict

WELL = {"verdict": "well tuned", "reason": "validation loss 2.000 -> 1.090 (45% better)", "advice": "try it"}


def point(i: int, prompt: str, answer: str, label: str | None = None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), i, label)


def legal(held_n: int = 134, no_share: float = 70 / 134):
    """Right of first refusal, yes or no: 52 % 'No' in training and held out (the issue's legal task)."""
    train = [point(i, f"Clause {i}: does the tenant hold a right of first refusal?", a, a)
             for i, a in enumerate(["No" if i % 25 < 13 else "Yes" for i in range(300)], 1)]
    held = [point(1000 + i, f"Clause {1000 + i}: does the buyer hold a right of first refusal?", a, a)
            for i, a in enumerate(["No" if i < round(no_share * held_n) else "Yes" for i in range(held_n)])]
    return train, held


def test_the_majority_label_is_the_bar_a_yes_no_task_must_clear():
    train, held = legal()
    score = lambda answers: verdict.score_answers("label", answers, held, ["No", "Yes"], [])  # noqa: E731
    found = baselines.strongest("label", held, train, score)
    assert found.name == "majority_label" and found.detail == "No" and round(found.mean, 2) == 0.52


def test_format_gain_alone_is_not_well_tuned_when_always_no_scores_nearly_as_much():
    """accuracy 0.02 -> 0.67 looks like a tuned model; always answering 'No' scores 0.52: partly tuned at best."""
    train, held = legal()
    tuned = [p.answer if i % 3 else ("Yes" if p.answer == "No" else "No") for i, p in enumerate(held)]
    base = ["The clause describes an offer."] * len(held)
    check = verdict.check_answers("label", held, tuned, base, train, ["No", "Yes"], [])
    assert round(check.tuned, 2) == 0.66 and check.base == 0.0 and check.agree == {"base": 0, "tuned": 89, "baseline": 70}
    found = verdict.decide(check, WELL)
    assert found.verdict == "partly tuned" and found.loss_verdict == "well tuned"
    assert "always answering 'No' reaches 0.52" in found.reason and "45 answers still disagree" in found.reason
    assert len(check.worst) == verdict.WORST and not any(w["agrees"] for w in check.worst)


def test_answers_no_better_than_the_shortcut_say_so_and_what_to_do():
    train, held = legal(held_n=60)
    tuned = ["No"] * len(held)  # exactly the shortcut
    check = verdict.check_answers("label", held, tuned, ["?"] * len(held), train, ["No", "Yes"], [])
    found = verdict.decide(check, WELL)
    assert found.verdict == "no better than a shortcut"
    assert "'No'" in found.advice and "cases whose answer is not" in found.advice


def test_a_support_answer_that_copies_the_nearest_anchor_point_is_the_bar_for_free_text():
    train = [point(i, f"How do I pay for order {i} by card?", "You can pay by card or PayPal at checkout.")
             for i in range(10)] + [point(20 + i, f"Where is parcel {i}?", "Open the tracking link in your e-mail.")
                                    for i in range(10)]
    held = [point(100 + i, f"Can I pay by card for order {i}?", "You can pay by card or PayPal at checkout.")
            for i in range(6)] + [point(200 + i, f"Where is my parcel {i} now?", "Open the tracking link in your e-mail.")
                                  for i in range(6)]
    tuned = ["Yes, you can pay by cash on delivery."] * len(held)
    check = verdict.check_answers("text", held, tuned, ["Hello."] * len(held), train, [], [])
    assert check.baseline["name"] in ("nearest_anchor", "most_common_answer") and check.baseline["score"] > 0.9
    assert verdict.decide(check, WELL).verdict in ("no better than a shortcut", "no better than the base")


def test_well_tuned_only_where_the_answers_clear_the_baseline_by_far():
    train, held = legal(held_n=60)
    tuned = [p.answer for p in held]
    tuned[0] = "Yes" if tuned[0] == "No" else "No"
    check = verdict.check_answers("label", held, tuned, ["?"] * len(held), train, ["No", "Yes"], [])
    found = verdict.decide(check, WELL)
    assert found.verdict == "well tuned" and found.reason == found.answers and "59 of 60" in found.reason


def test_harm_the_losses_show_comes_first_and_too_few_answers_are_not_judged():
    train, held = legal(held_n=60)
    check = verdict.check_answers("label", held, [p.answer for p in held], ["?"] * 60, train, ["No", "Yes"], [])
    harm = {"verdict": "forgetting", "reason": "loss on general text rose 9.0%", "advice": "add self-replay"}
    assert verdict.decide(check, harm).verdict == "forgetting"
    few = verdict.check_answers("label", held[:3], ["No"] * 3, ["?"] * 3, train, ["No", "Yes"], [])
    assert verdict.decide(few, WELL).verdict == "not judged"


def test_json_answers_agree_at_three_quarters_of_their_fields():
    ref = '{"total": "12.50", "date": "2024-01-02", "vendor": "Shop", "number": "7"}'
    held = [point(1, "Invoice 1", ref)]
    three = verdict.score_answers("json", ['{"total": "12.50", "date": "2024-01-02", "vendor": "Shop"}'], held, [],
                                  ["total", "date", "vendor", "number"])
    assert three[0] >= verdict.AGREE["json"]
