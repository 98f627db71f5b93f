"""The model card (README.md of a run): base model, task, data summary, metrics, sample answers; in the run's
language (English or German: every sentence from the message catalogue, the stored English of verdicts and the gate's
findings translated, numbers written the language's way)."""

from __future__ import annotations

import re

from anchortune.messages import fill, format_number, localise_numbers, template, translate


def _say(key: str, lang: str, **values) -> str:
    return fill(template(key, lang), values)


def _fmt(value, lang: str = "en", digits: int = 4) -> str:
    return format_number(value, lang, digits) if isinstance(value, float) else str(value)


def _pct(value, lang: str = "en") -> str:
    return f"{format_number(100 * value, lang, 0)} %" if value is not None else _say("card_na", lang)


def render(summary: dict, lang: str = "en") -> str:
    """Markdown for a run summary as written by the task run (recipes/task_run.py), in `lang`."""
    tr = lambda text: translate(text, lang)  # noqa: E731
    data, train, losses = summary["data"], summary["training"], summary["losses"]
    checkpoint = train.get("checkpoint") or f"step {train['best_step']}"
    if (step := re.fullmatch(r"step (\d+)", checkpoint)) is not None:  # too short a sentence for translate to find
        checkpoint = _say("step_words", lang, step=step.group(1))
    lines = [
        "# " + _say("card_title", lang, task=summary["task"]),
        "",
        "- " + _say("card_base_model", lang, model=summary["base_model"]),
        "- " + _say("card_preset", lang, task=summary["task"], metric=tr(summary["metric"])),
        "- " + _say("card_method", lang, method=train["method"], precision=train["precision"], steps=train["steps"],
                    max=train["max_steps"]) + (" " + _say("card_stopped_early", lang) if train["stopped_early"] else ""),
        "- " + _say("card_checkpoint", lang, checkpoint=tr(checkpoint),
                    scale=localise_numbers(str(train.get("adapter_scale", 1.0)), lang),
                    loss=_fmt(train["best_valid_loss"], lang)),
        "- " + _say("card_throughput", lang, speed=format_number(train["tokens_per_s"], lang, 0),
                    seconds=format_number(train["train_seconds"], lang, 0)),
        "",
        "## " + _say("card_data", lang),
        "",
        "- " + _say("card_anchor_points", lang, n=data["examples"], file=data["file"], train=data["train"],
                    valid=data["valid"]),
        "- " + _say("card_tokens", lang, text=tr(data["encoding_summary"])),
    ]
    if summary.get("quality"):
        q = summary["quality"]
        scores = ", ".join(f"{tr(k)} {v}" for k, v in q["scores"].items())
        lines.append("- " + _say("card_gate", lang, verdict=tr(q["verdict"]), scores=scores,
                                 reasons="; ".join(tr(r) for r in q["reasons"])))
        lines += [f"  - {tr(a)}" for a in q["advice"][:3]]
    if data.get("labels"):
        top = ", ".join(f"{k} ({v})" for k, v in list(data["labels"].items())[:12])
        lines.append("- " + _say("card_labels", lang, n=len(data["labels"]), top=top))
    lines += _lineage(summary.get("lineage"), lang)
    diagnosis = (summary.get("balance") or {}).get("diagnosis")
    verdict = summary.get("verdict") or diagnosis
    if verdict:
        lines += ["", "## " + _say("card_verdict", lang, verdict=tr(verdict["verdict"])), "",
                  tr(verdict["reason"]) + "."]
        if verdict.get("answers") and verdict["answers"] != verdict["reason"]:
            lines += ["", tr(verdict["answers"]) + "."]
        lines += ["", _say("card_next", lang, advice=tr(verdict["advice"]))]
    if diagnosis and verdict is not diagnosis:
        lines += ["", _say("card_losses_beneath", lang, verdict=tr(diagnosis["verdict"]),
                           reason=tr(diagnosis["reason"]))]
    lines += preference_lines(summary.get("preference"), lang) + tool_lines(summary.get("tool_calls"), lang)
    lines += reinforcement_lines(summary.get("reinforcement"), summary.get("grader"), lang)
    lines += [
        "",
        "## " + _say("card_loss_title", lang),
        "",
        f"| {_say('cli_col_model', lang)} | {_say('card_col_loss', lang)} |",
        "|---|---|",
        f"| {_say('report_base', lang)} | {_fmt(losses['base_valid'], lang)} |",
        f"| {_say('report_tuned', lang)} | {_fmt(losses['tuned_valid'], lang)} |",
        "",
        _say("card_general", lang, base_text=_fmt(losses.get("base_text"), lang),
             tuned_text=_fmt(losses.get("tuned_text"), lang), base_cloze=_pct(losses.get("base_cloze"), lang),
             tuned_cloze=_pct(losses.get("tuned_cloze"), lang), base_probe=_fmt(losses.get("base_probe"), lang),
             tuned_probe=_fmt(losses.get("tuned_probe"), lang)),
        "",
        _say("card_curves", lang),
    ]
    if summary.get("samples"):
        lines += ["", "## " + _say("card_before_after", lang), ""]
        for sample in summary["samples"]:
            lines += [f"**{_say('card_prompt', lang)}** {sample['prompt']}", "",
                      f"- {_say('report_base', lang)}: {sample['base']}",
                      f"- {_say('report_tuned', lang)}: {sample['tuned']}", ""]
    lines += ["", "## " + _say("card_use", lang), "", "```python",
              "from transformers import AutoModelForCausalLM, AutoTokenizer",
              "model = AutoModelForCausalLM.from_pretrained('model')",
              "tokenizer = AutoTokenizer.from_pretrained('model')", "```", ""]
    return "\n".join(lines)


def _lineage(lineage: dict | None, lang: str = "en") -> list[str]:
    """The data lineage section (tracking/lineage.py): which file, by SHA-256, how many rows, the gate's verdict,
    the --fix changelog it came from."""
    if not lineage:
        return []
    data, gate, fix, valid = lineage["data"], lineage.get("gate"), lineage.get("fix"), lineage.get("validation")
    rows = ", " + _say("card_rows", lang, n=data["rows"]) if data.get("rows") is not None else ""
    lines = ["", "## " + _say("card_lineage", lang), "",
             "- " + _say("card_lineage_file", lang, file=data["file"], rows=rows, sha=data["sha256"])]
    if valid:
        lines.append("- " + _say("card_lineage_valid", lang, file=valid["file"], sha=valid["sha256"]))
    lines.append("- " + (_say("card_lineage_gate", lang, verdict=translate(gate["verdict"], lang)) if gate
                         else _say("card_lineage_no_gate", lang)))
    if fix:
        lines.append("- " + _say("card_lineage_fix", lang, file=fix["changelog"], sha=fix["sha256"],
                                 dropped=fix["dropped"], aside=fix["set_aside"]))
    return lines


def preference_lines(found: dict | None, lang: str = "en") -> list[str]:
    """The held-out preferences of a preference run, base against tuned (evaluate/preference.py)."""
    if not found or not found.get("pairs"):
        return []
    base, tuned = found["base"], found["tuned"]
    low, high = found["accuracy_gain_interval"]
    points = lambda v: format_number(100 * v, lang, 0, sign=True)  # noqa: E731
    return ["", "## " + _say("card_pref_title", lang, n=found["pairs"]), "",
            "| " + " | ".join(_say(k, lang) for k in ("cli_col_model", "card_col_pref", "card_col_reward_acc",
                                                       "card_col_margin")) + " |", "|---|---|---|---|",
            f"| {_say('report_base', lang)} | {_pct(base['preference_accuracy'], lang)} | - | 0 |",
            f"| {_say('report_tuned', lang)} | {_pct(tuned['preference_accuracy'], lang)} | "
            f"{_pct(tuned['reward_accuracy'], lang)} | {format_number(tuned['reward_margin'], lang, 3)} |", "",
            _say("card_pref_gain", lang, gain=points(found["accuracy_gain"]), low=points(low), high=points(high),
                 right=found["wrong_to_right"], wrong=found["right_to_wrong"])]


def reinforcement_lines(found: dict | None, grader: dict | None, lang: str = "en") -> list[str]:
    """The held-out rewards of a reinforcement run, base against tuned (evaluate/reinforcement.py)."""
    if not found or not found.get("prompts"):
        return []
    low, high = found["reward_gain_interval"]
    signed = lambda v: format_number(v, lang, 3, sign=True)  # noqa: E731
    rows = [f"| {_say('report_' + name, lang)} | {format_number(found[name]['reward'], lang, 3)} | "
            f"{_fmt(found[name]['metric'], lang)} | {format_number(found[name]['words'], lang, 0)} | "
            f"{_pct(found[name]['top_share'], lang)} |" for name in ("base", "tuned")]
    signs = [translate(s["text"], lang) for s in found.get("signs", [])]
    return ["", "## " + _say("card_reward_title", lang, n=found["prompts"], name=(grader or {}).get("name", "?"),
                             kind=(grader or {}).get("type", "?")), "",
            "| " + " | ".join(_say(k, lang) for k in ("cli_col_model", "card_col_reward", "card_col_metric",
                                                       "card_col_words", "card_col_top")) + " |",
            "|---|---|---|---|---|", *rows, "",
            _say("card_reward_gain", lang, gain=signed(found["reward_gain"]), low=signed(low), high=signed(high),
                 kl=_fmt(found.get("kl_to_base"), lang),
                 signs="; ".join(signs) if signs else _say("card_no_signs", lang))]


def tool_lines(found: dict | None, lang: str = "en") -> list[str]:
    """The held-out tool calls of a tool-calling run, base against tuned (evaluate/tool_calls.py)."""
    if not found or not found.get("examples"):
        return []
    rows = [f"| {_say('report_' + name, lang)} | {_pct(m.get('tool_name_accuracy'), lang)} | "
            f"{_pct(m.get('argument_exact_match'), lang)} | {_pct(m.get('schema_validity'), lang)} | "
            f"{_pct(m.get('plain_text_when_no_tool'), lang)} |"
            for name, m in (("base", found["base"]), ("tuned", found["tuned"]))]
    return ["", "## " + _say("card_tools_title", lang, n=found["examples"]), "",
            "| " + " | ".join(_say(k, lang) for k in ("cli_col_model", "card_col_tool_name", "card_col_args",
                                                       "card_col_schema", "card_col_plain")) + " |",
            "|---|---|---|---|---|", *rows]
