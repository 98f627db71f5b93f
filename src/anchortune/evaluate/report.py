"""The run report: one self-contained HTML page with inline SVG plots (no scripts, no network) in English or
German, and a Markdown twin. First the verdict in the team's terms (evaluate/verdict.py) with the held-out answers'
numbers and the worst answers, then the loss-based evidence: training and validation loss, general ability
(general text, cloze) and answer style against the base model, and gain versus retention with the chosen point.
Every text from the data is escaped; every label and generated sentence comes from the message catalogue.
"""

from __future__ import annotations

from html import escape

from anchortune.evaluate.verdict import baseline_words
from anchortune.messages import fill, format_number, localise_numbers, template, translate

W, H, PAD = 560, 240, 52
COLOURS = ("#3b6fd8", "#d8553b", "#2f9e5b", "#8a5cd8")


def _scale(values: list[float], lo: float, hi: float, out_lo: float, out_hi: float) -> list[float]:
    span = (hi - lo) or 1.0
    return [out_lo + (v - lo) / span * (out_hi - out_lo) for v in values]


def _say(key: str, lang: str, **values) -> str:
    """A catalogue sentence in `lang` with its values (numbers already written the language's way)."""
    return fill(template(key, lang), values)


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


def render_markdown(summary: dict, lang: str = "en") -> str:
    """The run report's Markdown twin in `lang`: the verdict, the held-out answers' numbers and the worst of them,
    the method's own measures, and the checkpoint choice."""
    from anchortune.export.card import preference_lines, reinforcement_lines, tool_lines

    tr = lambda text: translate(text, lang)  # noqa: E731
    balance = summary.get("balance") or {}
    diagnosis = balance.get("diagnosis") or {}
    verdict = summary.get("verdict") or diagnosis
    chosen = balance.get("chosen")
    lines = ["# " + _say("md_title", lang, task=summary["task"]), "",
             f"**{_say('md_verdict', lang, verdict=tr(verdict.get('verdict', 'no verdict')))}** "
             f"{tr(verdict.get('reason', ''))}", ""]
    if verdict.get("answers") and verdict.get("answers") != verdict.get("reason"):
        lines += [tr(verdict["answers"]), ""]
    lines += [_say("md_next", lang, advice=tr(verdict.get("advice", ""))), ""]
    answers = summary.get("answers")
    if answers:
        rows = [(_say("report_tuned", lang), answers["tuned"], answers["agree"]["tuned"]),
                (_say("report_base", lang), answers["base"], answers["agree"]["base"]),
                (tr(baseline_words(answers["baseline"])), answers["baseline"]["score"], answers["agree"]["baseline"])]
        lines += [f"| {_say('md_answers_head', lang, n=answers['answers'])} | {tr(answers['metric'])} | "
                  f"{_say('report_agree_head', lang)} |", "|---|---|---|",
                  *(f"| {name} | {_n(score, lang, 2)} | {k} |" for name, score, k in rows),
                  "", _say("md_worst", lang), ""]
        lines += ["- " + _say("md_worst_line", lang, line=w["line"], prompt=w["prompt"][:200], answer=w["tuned"][:200],
                              text=w["reference"][:200]) for w in answers.get("worst", [])]
        lines += [""]
    lines += [*preference_lines(summary.get("preference"), lang), *tool_lines(summary.get("tool_calls"), lang),
              *reinforcement_lines(summary.get("reinforcement"), summary.get("grader"), lang), ""]
    lines += [_say("md_loss_evidence", lang, verdict=tr(diagnosis.get("verdict", "no verdict")),
                   reason=tr(diagnosis.get("reason", ""))), ""]
    if chosen:
        heads = " | ".join(_say(k, lang) for k in ("report_col_step", "report_col_scale", "report_col_valid",
                                                   "report_col_text", "report_col_cloze", "report_col_style",
                                                   "report_col_balance"))
        lines += [f"| | {heads} |", "|---|---|---|---|---|---|---|---|"]
        for i, c in enumerate([chosen, *balance.get("runners_up", [])]):
            lines.append(f"| {_say('report_chosen' if i == 0 else 'report_runner_up', lang)} | {_step(c, lang)} | "
                         f"{localise_numbers(str(c['scale']), lang)} | {_n(c['valid_loss'], lang)} | "
                         f"{_pct(c.get('text_drift'), lang)} | {_points(c.get('cloze_drop'), lang)} | "
                         f"{_n(c['drift'], lang, 1, percent=True, sign=True)} | {_n(c['balance'], lang, 3)} |")
    lines += ["", _say("md_files", lang), ""]
    return "\n".join(lines)


def render_eval_markdown(result: dict, lang: str = "en") -> str:
    """`anchortune eval`'s result as Markdown in `lang`: metrics side by side, retention, three examples, what to
    write next."""
    from anchortune.export.card import preference_lines, tool_lines

    tr = lambda text: translate(text, lang)  # noqa: E731
    base, tuned = result["models"]["base"], result["models"]["tuned"]
    keys = [k for k, v in base.items() if isinstance(v, (int, float))]
    lines = ["# " + _say("evmd_title", lang, task=result["task"], n=result["examples"], file=result["source"]), ""]
    if result.get("verdict"):
        v = result["verdict"]
        lines += [f"**{_say('md_verdict', lang, verdict=tr(v['verdict']))}** {tr(v['reason'])}", "", tr(v["answers"]),
                  "", _say("md_next", lang, advice=tr(v["advice"])), ""]
    if result.get("answers"):
        a = result["answers"]
        of = lambda k: _say("report_k_of_n", lang, k=k, n=a["answers"])  # noqa: E731
        lines += [f"| {tr(a['metric'])} | {_say('evmd_answers', lang)} | {_say('report_agree_head', lang)} |",
                  "|---|---|---|",
                  f"| {_say('report_tuned', lang)} | {_n(a['tuned'], lang, 3)} | {of(a['agree']['tuned'])} |",
                  f"| {_say('report_base', lang)} | {_n(a['base'], lang, 3)} | {of(a['agree']['base'])} |",
                  f"| {_say('evmd_trivial', lang, words=tr(a['baseline']['words']))} | "
                  f"{_n(a['baseline']['score'], lang, 3)} | {of(a['agree']['baseline'])} |", ""]
    lines += [*preference_lines(result.get("preference"), lang), *tool_lines(result.get("tool_calls"), lang), ""]
    lines += [f"| {_say('cli_col_metric', lang)} | {_say('report_base', lang)} | {_say('report_tuned', lang)} |",
              "|---|---|---|"]
    lines += [f"| {k} | {_n(base[k], lang)} | {_n(tuned[k], lang)} |" for k in keys
              if isinstance(tuned.get(k), (int, float))]
    for field, value in tuned.get("field_exact", {}).items():
        lines.append(f"| {_say('evmd_exact', lang, name=field)} | {_n(base['field_exact'][field], lang, 3)} | "
                     f"{_n(value, lang, 3)} |")
    if result.get("retention"):
        names = ", ".join(f"{k} " + (_say("report_points", lang, points=_n(v, lang, 0, sign=True))
                                     if k.endswith("_points") else _n(v, lang, 1, percent=True, sign=True))
                          for k, v in result["retention"].items())
        lines += ["", _say("evmd_retention", lang, names=names)]
    if result.get("choices"):
        c = result["choices"]
        lines += ["", _say("evmd_choices", lang, n=c["items"], base=_n(c["base_accuracy"], lang, 1, percent=True),
                            tuned=_n(c["tuned_accuracy"], lang, 1, percent=True), wrong=c["right_to_wrong"],
                            right=c["wrong_to_right"])]
    for label, ex in result.get("examples_side_by_side", {}).items():
        lines += ["", "## " + _say("evmd_example", lang, label=tr(label), line=ex["line"]), "",
                  f"**{_say('card_prompt', lang)}** {ex['prompt'][:500]}", "",
                  f"- {_say('report_reference', lang)}: {ex['reference'][:400]}",
                  f"- {_say('report_base', lang)}: {ex['base'][:400]}",
                  f"- {_say('report_tuned', lang)}: {ex['tuned'][:400]}"]
    loop = result.get("next_to_write")
    if loop and loop["failing"]:
        lines += ["", "## " + _say("evmd_next_title", lang, n=len(loop["failing"]), rule=tr(loop["rule"])), ""]
        lines += [f"- {tr(s)}" for s in loop["suggestions"]]
        heads = " | ".join(_say(k, lang) for k in ("evmd_col_line", "evmd_col_score", "evmd_col_nearest",
                                                   "cli_col_why"))
        lines += ["", f"| {heads} |", "|---|---|---|---|"]
        lines += [f"| {f['line']} | {_n(f['score'], lang, 2)} | {_nearest(f['nearest'], lang)} | {tr(f['why'])} |"
                  for f in loop["failing"][:20]]
    return "\n".join(lines) + "\n"


def _nearest(nearest: list[dict], lang: str = "en") -> str:
    return ", ".join(f"{n['line']}: {_n(n['similarity'], lang, 2)}" for n in nearest)
