"""The quality report as one self-contained HTML page (no scripts, no network); every text is escaped."""

from __future__ import annotations

from html import escape

from anchortune.data.records import AnchorPoint
from anchortune.messages import format_number, say_in, translate
from anchortune.quality.findings import CODES
from anchortune.quality.report import QualityReport

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d2330}
h1{font-size:1.6rem}.verdict{display:inline-block;padding:.2rem .7rem;border-radius:1rem;color:#fff}
.good{background:#23823c}.fair{background:#b7791f}.poor{background:#b83232}
.scores{display:flex;gap:1rem;margin:1rem 0}.score{border:1px solid #d5dae3;border-radius:.5rem;padding:.6rem 1rem}
.score b{font-size:1.5rem;display:block}table{border-collapse:collapse;width:100%;margin:1rem 0}
td,th{border-bottom:1px solid #e3e6ec;padding:.35rem .5rem;text-align:left;vertical-align:top}
.bar{background:#4a6fd8;height:.6rem;border-radius:.3rem}.sev-error{color:#b83232}.sev-warning{color:#b7791f}
.text{white-space:pre-wrap;max-width:30rem;font-size:13px;color:#444}
"""


def render(report: QualityReport, points: list[AnchorPoint], source: str, lang: str = "en") -> str:
    """The page in `lang` (English or German): the report's sentences translated by the catalogue (messages/);
    the user's rows, file name and labels as they are."""
    tr = lambda text: translate(str(text), lang)  # noqa: E731
    say = lambda key, **values: say_in(key, lang, **values)  # noqa: E731
    by_line = {p.line: p for p in points}
    scores = "".join(f'<div class="score">{escape(tr(k))}<b>{v}</b></div>' for k, v in report.scores.items())
    groups = "".join(f"<tr><td>{escape(g)}</td><td>{escape(format_number(s, lang, 1, percent=True))}</td><td>"
                     f"<div class='bar' style='width:{s * 100:.1f}%'></div></td></tr>"
                     for g, s in list(report.groups.items())[:40])
    rows = []
    for f in sorted(report.findings, key=lambda f: (-{"error": 2, "warning": 1, "info": 0}[f.severity], f.line))[:500]:
        point = by_line.get(f.line)
        rows.append(f"<tr><td>{f.line}</td><td class='sev-{f.severity}'>{escape(say(f'cli_severity_{f.severity}'))}"
                    f"</td><td title='{escape(tr(CODES.get(f.code, '')))}'>{escape(tr(f.code))}</td>"
                    f"<td>{escape(tr(f.message))}</td>"
                    f"<td class='text'>{escape(point.prompt[:300]) if point else ''}</td>"
                    f"<td class='text'>{escape(point.answer[:300]) if point else ''}</td></tr>")
    lengths = report.token_lengths
    length_text = say("html_token_lengths", median=lengths["p50"], p90=lengths["p90"], p99=lengths["p99"],
                      longest=lengths["max"], limit=lengths["limit"]) if lengths else ""
    heads = [say(f"cli_col_{c}") for c in ("line", "severity", "reason", "why")] + \
        [say("html_col_prompt"), say("html_col_answer")]
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{escape(say("html_title", file=source))}</title><style>{STYLE}</style></head><body>
<h1>{escape(say("html_heading"))} <span class="verdict {report.verdict}">{escape(tr(report.verdict))}</span></h1>
<p>{escape(say("html_facts", file=source, n=report.examples, name=report.task, total=report.effective_examples))}
{" · " + escape(length_text) if length_text else ""}</p>
<div class="scores">{scores}</div>
<h2>{escape(say("html_why"))}</h2><ul>{''.join(f'<li>{escape(tr(r))}</li>' for r in report.reasons)}</ul>
<h2>{escape(say("html_what_to_do"))}</h2><ol>{''.join(f'<li>{escape(tr(a))}</li>' for a in report.advice)}</ol>
<h2>{escape(say("html_distribution", group=report.group_kind))}</h2><table>{groups}</table>
<h2>{escape(say("html_flagged", n=len(report.findings)))}</h2>
<table><tr>{''.join(f'<th>{escape(h)}</th>' for h in heads)}</tr>
{''.join(rows)}</table></body></html>
"""
