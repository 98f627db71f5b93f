"""The run report: one self-contained HTML page with inline SVG plots (no scripts, no network) in English or
German, and a Markdown twin. First the verdict in the team's terms (evaluate/verdict.py) with the held-out answers'
numbers and the worst answers, then the loss-based evidence: training and validation loss, general ability
(general text, cloze) and answer style against the base model, and gain versus retention with the chosen point.
Every text from the data is escaped; every label and generated sentence comes from the message catalogue.
"""

from __future__ import annotations

from html import escape

from anchortune.evaluate.verdict import baseline_words
from anchortune.messages import format_number, template, translate

W, H, PAD = 560, 240, 52
COLOURS = ("#3b6fd8", "#d8553b", "#2f9e5b", "#8a5cd8")


def _scale(values: list[float], lo: float, hi: float, out_lo: float, out_hi: float) -> list[float]:
    span = (hi - lo) or 1.0
    return [out_lo + (v - lo) / span * (out_hi - out_lo) for v in values]


def _say(key: str, lang: str, **values) -> str:
    """A catalogue sentence in `lang` with its values (numbers already written the language's way)."""
    return template(key, lang).format(**values)


def _n(value, lang: str, digits: int = 4, percent: bool = False, sign: bool = False) -> str:
    return format_number(value, lang, digits, percent, sign)


def line_plot(title: str, series: dict[str, list[tuple[float, float]]], y_label: str, lang: str = "en") -> str:
    """An SVG line chart of named (x, y) series."""
    points = [p for s in series.values() for p in s]
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_lo, x_hi, y_lo, y_hi = min(xs), max(xs), min(ys), max(ys)
    parts = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{escape(title)}">',
             f'<text x="{PAD}" y="16" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="28" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{escape(_say("report_step_axis", lang))}</text>',
             f'<text x="4" y="{H / 2}" font-size="11">{escape(y_label)}</text>',
             f'<text x="{PAD - 4}" y="34" text-anchor="end" font-size="10">{_n(y_hi, lang, 3)}</text>',
             f'<text x="{PAD - 4}" y="{H - PAD}" text-anchor="end" font-size="10">{_n(y_lo, lang, 3)}</text>',
             f'<text x="{W - 10}" y="{H - PAD + 14}" text-anchor="end" font-size="10">{x_hi:.0f}</text>']
    for (name, data), colour in zip(series.items(), COLOURS):
        if not data:
            continue
        px = _scale([p[0] for p in data], x_lo, x_hi, PAD, W - 10)
        py = _scale([p[1] for p in data], y_lo, y_hi, H - PAD, 30)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in zip(px, py)]
        index = list(series).index(name)
        parts.append(f'<text x="{W - 150}" y="{40 + 14 * index}" fill="{colour}" font-size="12">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def balance_plot(candidates: list[dict], chosen: dict | None, lang: str = "en") -> str:
    """Gain (x) against retention (y) for every candidate; the chosen one ringed."""
    if not candidates:
        return ""
    title = _say("report_gain_plot", lang)
    parts = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{escape(title)}">',
             f'<text x="40" y="16" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="28" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{escape(_say("report_gain_axis", lang))}</text>',
             f'<text x="4" y="24" font-size="11">{escape(_say("report_retention_axis", lang))}</text>']
    for c in candidates:
        x = _scale([c["gain"]], 0, 1, PAD, W - 10)[0]
        y = _scale([c["retention"]], 0, 1, H - PAD, 30)[0]
        is_chosen = chosen and c["step"] == chosen["step"] and c["scale"] == chosen["scale"]
        colour = COLOURS[1] if is_chosen else COLOURS[0]
        label = _say("step_words", lang, step=c["step"]) + (f" x{_n(c['scale'], lang, 2)}" if c["scale"] != 1 else "")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{7 if is_chosen else 4}" fill="{colour}" '
                     f'fill-opacity="0.8"><title>{escape(label)}: {escape(_say("report_balance_word", lang))} '
                     f'{_n(c["balance"], lang, 2)}</title></circle>')
        if is_chosen:
            anchor, dx = ("end", -10) if x > W - 160 else ("start", 10)
            parts.append(f'<text x="{x + dx:.1f}" y="{y + 16:.1f}" text-anchor="{anchor}" font-size="11">'
                         f'{escape(_say("report_chosen_point", lang, label=label))}</text>')
    parts.append("</svg>")
    return "".join(parts)


STYLE = ("body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:62rem;padding:0 1rem;color:#1d2330}"
         "table{border-collapse:collapse}td,th{border-bottom:1px solid #e3e6ec;padding:.3rem .6rem;text-align:left;"
         "vertical-align:top}.verdict{font-size:1.3rem;font-weight:bold}svg{margin:1rem 0;display:block}"
         ".text{white-space:pre-wrap;max-width:26rem;font-size:13px;overflow-wrap:anywhere}"
         ".explain{color:#667085;font-size:13px}")


def _step(candidate: dict, lang: str = "en") -> str:
    """A candidate's step, or 'mean of 48-69' for an average of checkpoints."""
    averaged = candidate.get("averaged")
    return _say("report_mean_of", lang, first=averaged[0], last=averaged[-1]) if averaged else str(candidate["step"])


def _answers_html(summary: dict, lang: str) -> str:
    """The verdict's evidence: the task metric for base, tuned and the trivial baseline, agreement, worst answers."""
    answers = summary.get("answers")
    if not answers:
        return ""
    tr = lambda text: translate(text, lang)  # noqa: E731
    n, agree = answers["answers"], answers["agree"]
    rows = [(_say("report_tuned", lang), answers["tuned"], agree["tuned"]),
            (_say("report_base", lang), answers["base"], agree["base"]),
            (tr(baseline_words(answers["baseline"])), answers["baseline"]["score"], agree["baseline"])]
    table = "".join(f"<tr><td>{escape(name)}</td><td>{_n(score, lang, 2)}</td>"
                    f"<td>{escape(_say('report_k_of_n', lang, k=k, n=n))}</td></tr>" for name, score, k in rows)
    worst = "".join(f"<tr><td class='text'>{escape(w['prompt'])}</td><td class='text'>{escape(w['reference'])}</td>"
                    f"<td class='text'>{escape(w['tuned'])}</td><td>{_n(w['score'], lang, 2)}</td></tr>"
                    for w in answers.get("worst", []))
    metric = tr(answers["metric"])
    return (f"<h2>{escape(_say('report_answers_title', lang, n=n))}</h2>"
            f"<p class='explain'>{escape(_say('report_answers_explain', lang))}</p>"
            f"<table><tr><th></th><th>{escape(metric)}</th><th>{escape(_say('report_agree_head', lang))}</th></tr>"
            f"{table}</table><p class='explain'>{escape(tr(_explain_metric(answers)))}</p>"
            f"<h3>{escape(_say('report_worst_title', lang))}</h3><table><tr><th>{escape(_say('report_prompt', lang))}"
            f"</th><th>{escape(_say('report_reference', lang))}</th><th>{escape(_say('report_tuned', lang))}</th>"
            f"<th>{escape(metric)}</th></tr>{worst}</table>")


def _explain_metric(answers: dict) -> str:
    from anchortune.messages import say

    return say(f"explain_metric_{answers['kind']}")


def render_html(summary: dict, metrics: list[dict], lang: str = "en") -> str:
    """The run report in `lang`: the verdict from the held-out answers, their numbers and the worst of them, then
    the loss-based evidence beneath (curves, general ability, gain versus retention, the checkpoint choice)."""
    tr = lambda text: translate(text, lang)  # noqa: E731
    balance = summary.get("balance") or {}
    diagnosis = balance.get("diagnosis") or {}
    verdict = summary.get("verdict") or diagnosis
    train = [(r["step"], r["train_loss"]) for r in metrics if "train_loss" in r]
    valid = [(r["step"], r["valid_loss"]) for r in metrics if "valid_loss" in r]
    drift = {_say("report_series_style", lang): [(r["step"], 100 * r["drift"]) for r in metrics if "drift" in r],
             _say("report_series_text", lang): [(r["step"], 100 * r["text_drift"]) for r in metrics
                                                if r.get("text_drift") is not None],
             _say("report_series_cloze", lang): [(r["step"], -100 * r["cloze_drop"]) for r in metrics
                                                 if r.get("cloze_drop") is not None]}
    drift = {k: v for k, v in drift.items() if v}
    rows = "".join(
        f"<tr><td>{escape(_say('report_chosen' if i == 0 else 'report_runner_up', lang))}</td><td>{_step(c, lang)}</td>"
        f"<td>{_n(c['scale'], lang, 2)}</td><td>{_n(c['valid_loss'], lang)}</td>"
        f"<td>{_pct(c.get('text_drift'), lang)}</td><td>{_points(c.get('cloze_drop'), lang)}</td>"
        f"<td>{_n(c['drift'], lang, 1, percent=True, sign=True)}</td><td>{_n(c['balance'], lang, 3)}</td></tr>"
        for i, c in enumerate([balance["chosen"], *balance.get("runners_up", [])] if balance.get("chosen") else []))
    samples = "".join(f"<tr><td class='text'>{escape(s['prompt'])}</td><td class='text'>{escape(s['base'])}</td>"
                      f"<td class='text'>{escape(s['tuned'])}</td></tr>" for s in summary.get("samples", []))
    losses = summary["losses"]
    heads = "".join(f"<th>{escape(_say(k, lang))}</th>" for k in (
        "report_col_step", "report_col_scale", "report_col_valid", "report_col_text", "report_col_cloze",
        "report_col_style", "report_col_balance"))
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(_say("report_title_short", lang))}</title>
<style>{STYLE}</style></head><body>
<h1>{escape(_say("report_title", lang, task=summary['task'], model=summary['base_model']))}</h1>
<p class="verdict" id="verdict">{escape(tr(verdict.get('verdict', 'no verdict')))}</p>
<p>{escape(tr(verdict.get('reason', '')))}</p>
{f"<p>{escape(tr(verdict['answers']))}</p>" if verdict.get('answers') and verdict.get('answers') != verdict.get('reason') else ""}
<p><b>{escape(_say("report_next", lang))}</b> {escape(tr(verdict.get('advice', '')))}</p>
{_answers_html(summary, lang)}
<h2>{escape(_say("report_evidence_title", lang))}</h2>
<p>{escape(_say("report_loss_verdict", lang, verdict=tr(diagnosis.get('verdict', 'no verdict'))))}: {escape(tr(diagnosis.get('reason', '')))}</p>
<p>{escape(_say("report_held_out_loss", lang, base=_n(losses['base_valid'], lang), tuned=_n(losses['tuned_valid'], lang)))}</p>
<p class="explain">{escape(_say("explain_valid_loss", lang))}</p>
{line_plot(_say("report_loss_plot", lang), {_say("report_series_train", lang): train, _say("report_series_valid", lang): valid}, _say("report_loss_axis", lang), lang)}
{line_plot(_say("report_general_plot", lang), drift, "%", lang) if drift else ""}
{balance_plot(balance.get("candidates", []), balance.get("chosen"), lang)}
<h2>{escape(_say("report_choice_title", lang))}</h2><table><tr><th></th>{heads}</tr>{rows}</table>
<h2>{escape(_say("report_side_by_side", lang))}</h2><table><tr><th>{escape(_say("report_prompt", lang))}</th><th>{escape(_say("report_base", lang))}</th><th>{escape(_say("report_tuned", lang))}</th></tr>{samples}</table>
</body></html>
"""


def _pct(value, lang: str = "en") -> str:
    return format_number(value, lang, 1, percent=True, sign=True) if value is not None else "-"


def _points(drop, lang: str = "en") -> str:
    return _say("report_points", lang, points=format_number(-100 * drop, lang, 0, sign=True)) if drop is not None \
        else "-"


def render_markdown(summary: dict) -> str:
    balance = summary.get("balance") or {}
    diagnosis = balance.get("diagnosis") or {}
    verdict = summary.get("verdict") or diagnosis
    chosen = balance.get("chosen")
    lines = [f"# Run report: {summary['task']}", "",
             f"**Verdict: {verdict.get('verdict', 'no verdict')}.** {verdict.get('reason', '')}", ""]
    if verdict.get("answers") and verdict.get("answers") != verdict.get("reason"):
        lines += [verdict["answers"], ""]
    lines += [f"Next: {verdict.get('advice', '')}", ""]
    answers = summary.get("answers")
    if answers:
        lines += [f"| held-out answers ({answers['answers']}) | {answers['metric']} | agree with the reference |",
                  "|---|---|---|",
                  f"| tuned | {answers['tuned']:.2f} | {answers['agree']['tuned']} |",
                  f"| base | {answers['base']:.2f} | {answers['agree']['base']} |",
                  f"| {baseline_words(answers['baseline'])} | {answers['baseline']['score']:.2f} | "
                  f"{answers['agree']['baseline']} |", "", "Worst answers:", ""]
        lines += [f"- line {w['line']}: {w['prompt'][:200]} -> {w['tuned'][:200]} (reference: {w['reference'][:200]})"
                  for w in answers.get("worst", [])]
        lines += [""]
    from anchortune.export.card import preference_lines, reinforcement_lines, tool_lines

    lines += [*preference_lines(summary.get("preference")), *tool_lines(summary.get("tool_calls")),
              *reinforcement_lines(summary.get("reinforcement"), summary.get("grader")), ""]
    lines += [f"Loss-based evidence (the balance guard): {diagnosis.get('verdict', 'no verdict')}. "
              f"{diagnosis.get('reason', '')}", ""]
    if chosen:
        lines += ["| | step | adapter scale | validation loss | general text | cloze | answer style | balance |",
                  "|---|---|---|---|---|---|---|---|"]
        for i, c in enumerate([chosen, *balance.get("runners_up", [])]):
            lines.append(f"| {'chosen' if i == 0 else 'runner-up'} | {_step(c)} | {c['scale']} | "
                         f"{c['valid_loss']:.4f} | {_pct(c.get('text_drift'))} | {_points(c.get('cloze_drop'))} | "
                         f"{c['drift']:+.1%} | {c['balance']:.3f} |")
    lines += ["", "Plots: `report.html`. Curves: `metrics.jsonl`.", ""]
    return "\n".join(lines)


def render_eval_markdown(result: dict) -> str:
    """`anchortune eval`'s result as Markdown: metrics side by side, retention, three examples."""
    base, tuned = result["models"]["base"], result["models"]["tuned"]
    keys = [k for k, v in base.items() if isinstance(v, (int, float))]
    lines = [f"# Evaluation: {result['task']} on {result['examples']} held-out examples ({result['source']})", ""]
    if result.get("verdict"):
        v = result["verdict"]
        lines += [f"**Verdict: {v['verdict']}.** {v['reason']}", "", v["answers"], "", f"Next: {v['advice']}", ""]
    if result.get("answers"):
        a = result["answers"]
        lines += [f"| {a['metric']} | held-out answers | agree with the reference |", "|---|---|---|",
                  f"| tuned | {a['tuned']:.3f} | {a['agree']['tuned']} of {a['answers']} |",
                  f"| base | {a['base']:.3f} | {a['agree']['base']} of {a['answers']} |",
                  f"| trivial baseline: {a['baseline']['words']} | {a['baseline']['score']:.3f} | "
                  f"{a['agree']['baseline']} of {a['answers']} |", ""]
    from anchortune.export.card import preference_lines, tool_lines

    lines += [*preference_lines(result.get("preference")), *tool_lines(result.get("tool_calls")), ""]
    lines += ["| metric | base | tuned |", "|---|---|---|"]
    lines += [f"| {k} | {base[k]:.4f} | {tuned[k]:.4f} |" for k in keys if isinstance(tuned.get(k), (int, float))]
    for field, value in tuned.get("field_exact", {}).items():
        lines.append(f"| exact {field} | {base['field_exact'][field]:.3f} | {value:.3f} |")
    if result.get("retention"):
        lines += ["", "General retention (change of loss, or cloze accuracy points, tuned against base): "
                  + ", ".join(f"{k} {v:+.0f} points" if k.endswith("_points") else f"{k} {v:+.1%}"
                              for k, v in result["retention"].items())]
    if result.get("choices"):
        c = result["choices"]
        lines += ["", f"Multiple choice ({c['items']} items): base {c['base_accuracy']:.1%}, tuned "
                      f"{c['tuned_accuracy']:.1%}; {c['right_to_wrong']} right-to-wrong, {c['wrong_to_right']} "
                      "wrong-to-right flips"]
    for label, ex in result.get("examples_side_by_side", {}).items():
        lines += ["", f"## {label} (line {ex['line']})", "", f"**Prompt:** {ex['prompt'][:500]}", "",
                  f"- reference: {ex['reference'][:400]}", f"- base: {ex['base'][:400]}", f"- tuned: {ex['tuned'][:400]}"]
    loop = result.get("next_to_write")
    if loop and loop["failing"]:
        lines += ["", f"## What to write next ({len(loop['failing'])} failing held-out items; {loop['rule']})", ""]
        lines += [f"- {s}" for s in loop["suggestions"]]
        lines += ["", "| held-out line | score | nearest anchor points (line: similarity) | why |", "|---|---|---|---|"]
        lines += [f"| {f['line']} | {f['score']:.2f} | "
                  f"{_nearest(f['nearest'])} | "
                  f"{f['why']} |" for f in loop["failing"][:20]]
    return "\n".join(lines) + "\n"


def _nearest(nearest: list[dict]) -> str:
    return ", ".join(f"{n['line']}: {n['similarity']:.2f}" for n in nearest)
