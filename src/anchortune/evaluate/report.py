"""The run report: one self-contained HTML page with inline SVG plots (no scripts, no network) and a
Markdown twin. Plots: training and validation loss, general ability (general text, cloze) and answer style
against the base model, and gain versus retention with the chosen point. Every text from the data is escaped.
"""

from __future__ import annotations

from html import escape

W, H, PAD = 560, 240, 52
COLOURS = ("#3b6fd8", "#d8553b", "#2f9e5b", "#8a5cd8")


def _scale(values: list[float], lo: float, hi: float, out_lo: float, out_hi: float) -> list[float]:
    span = (hi - lo) or 1.0
    return [out_lo + (v - lo) / span * (out_hi - out_lo) for v in values]


def line_plot(title: str, series: dict[str, list[tuple[float, float]]], y_label: str) -> str:
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
             f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">step</text>',
             f'<text x="4" y="{H / 2}" font-size="11">{escape(y_label)}</text>',
             f'<text x="{PAD - 4}" y="34" text-anchor="end" font-size="10">{y_hi:.3g}</text>',
             f'<text x="{PAD - 4}" y="{H - PAD}" text-anchor="end" font-size="10">{y_lo:.3g}</text>',
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


def balance_plot(candidates: list[dict], chosen: dict | None) -> str:
    """Gain (x) against retention (y) for every candidate; the chosen one ringed."""
    if not candidates:
        return ""
    parts = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="gain versus retention">',
             '<text x="40" y="16" font-weight="bold">Task gain versus retention</text>',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="28" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">task gain (share of the best)</text>',
             '<text x="4" y="24" font-size="11">retention</text>']
    for c in candidates:
        x = _scale([c["gain"]], 0, 1, PAD, W - 10)[0]
        y = _scale([c["retention"]], 0, 1, H - PAD, 30)[0]
        is_chosen = chosen and c["step"] == chosen["step"] and c["scale"] == chosen["scale"]
        colour = COLOURS[1] if is_chosen else COLOURS[0]
        label = f"step {c['step']}" + (f" x{c['scale']}" if c["scale"] != 1 else "")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{7 if is_chosen else 4}" fill="{colour}" '
                     f'fill-opacity="0.8"><title>{escape(label)}: balance {c["balance"]:.2f}</title></circle>')
        if is_chosen:
            anchor, dx = ("end", -10) if x > W - 160 else ("start", 10)
            parts.append(f'<text x="{x + dx:.1f}" y="{y + 16:.1f}" text-anchor="{anchor}" font-size="11">'
                         f'chosen: {escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


STYLE = ("body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:62rem;padding:0 1rem;color:#1d2330}"
         "table{border-collapse:collapse}td,th{border-bottom:1px solid #e3e6ec;padding:.3rem .6rem;text-align:left;"
         "vertical-align:top}.verdict{font-size:1.3rem;font-weight:bold}svg{margin:1rem 0;display:block}"
         ".text{white-space:pre-wrap;max-width:26rem;font-size:13px;overflow-wrap:anywhere}")


def _step(candidate: dict) -> str:
    """A candidate's step, or 'mean of 48-69' for an average of checkpoints."""
    averaged = candidate.get("averaged")
    return f"mean of {averaged[0]}-{averaged[-1]}" if averaged else str(candidate["step"])


def render_html(summary: dict, metrics: list[dict]) -> str:
    balance = summary.get("balance") or {}
    diagnosis = balance.get("diagnosis") or {}
    train = [(r["step"], r["train_loss"]) for r in metrics if "train_loss" in r]
    valid = [(r["step"], r["valid_loss"]) for r in metrics if "valid_loss" in r]
    drift = {"answer style %": [(r["step"], 100 * r["drift"]) for r in metrics if "drift" in r],
             "general text %": [(r["step"], 100 * r["text_drift"]) for r in metrics if r.get("text_drift") is not None],
             "cloze points": [(r["step"], -100 * r["cloze_drop"]) for r in metrics if r.get("cloze_drop") is not None]}
    drift = {k: v for k, v in drift.items() if v}
    rows = "".join(
        f"<tr><td>{'chosen' if i == 0 else 'runner-up'}</td><td>{_step(c)}</td><td>{c['scale']}</td>"
        f"<td>{c['valid_loss']:.4f}</td><td>{_pct(c.get('text_drift'))}</td><td>{_points(c.get('cloze_drop'))}</td>"
        f"<td>{c['drift']:+.1%}</td><td>{c['balance']:.3f}</td></tr>"
        for i, c in enumerate([balance["chosen"], *balance.get("runners_up", [])] if balance.get("chosen") else []))
    samples = "".join(f"<tr><td class='text'>{escape(s['prompt'])}</td><td class='text'>{escape(s['base'])}</td>"
                      f"<td class='text'>{escape(s['tuned'])}</td></tr>" for s in summary.get("samples", []))
    losses = summary["losses"]
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>anchortune run report</title>
<style>{STYLE}</style></head><body>
<h1>Run report: {escape(summary['task'])} on {escape(str(summary['base_model']))}</h1>
<p class="verdict">{escape(diagnosis.get('verdict', 'no verdict'))}</p>
<p>{escape(diagnosis.get('reason', ''))}</p><p><b>Next:</b> {escape(diagnosis.get('advice', ''))}</p>
<p>Held-out answer loss: base {losses['base_valid']:.4f} &rarr; tuned {losses['tuned_valid']:.4f}.</p>
{line_plot("Training and validation loss", {"train": train, "validation": valid}, "loss")}
{line_plot("General ability and answer style against the base model", drift, "%") if drift else ""}
{balance_plot(balance.get("candidates", []), balance.get("chosen"))}
<h2>Checkpoint choice</h2><table><tr><th></th><th>step</th><th>adapter scale</th><th>validation loss</th>
<th>general text</th><th>cloze</th><th>answer style</th><th>balance</th></tr>{rows}</table>
<h2>Base and tuned side by side</h2><table><tr><th>prompt</th><th>base</th><th>tuned</th></tr>{samples}</table>
</body></html>
"""


def _pct(value) -> str:
    return f"{value:+.1%}" if value is not None else "-"


def _points(drop) -> str:
    return f"{-100 * drop:+.0f} points" if drop is not None else "-"


def render_markdown(summary: dict) -> str:
    balance = summary.get("balance") or {}
    diagnosis = balance.get("diagnosis") or {}
    chosen = balance.get("chosen")
    lines = [f"# Run report: {summary['task']}", "",
             f"**Verdict: {diagnosis.get('verdict', 'no verdict')}.** {diagnosis.get('reason', '')}", "",
             f"Next: {diagnosis.get('advice', '')}", ""]
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
    lines = [f"# Evaluation: {result['task']} on {result['examples']} held-out examples ({result['source']})", "",
             "| metric | base | tuned |", "|---|---|---|"]
    lines += [f"| {k} | {base[k]:.4f} | {tuned[k]:.4f} |" for k in keys]
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
