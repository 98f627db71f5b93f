"""The model card (README.md of a run): base model, task, data summary, metrics, sample answers."""

from __future__ import annotations


def _fmt(value, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def render(summary: dict) -> str:
    """Markdown for a run summary as written by the task run (recipes/task_run.py)."""
    data, train, losses = summary["data"], summary["training"], summary["losses"]
    lines = [
        f"# {summary['task']} model fine-tuned with anchortune",
        "",
        f"- Base model: `{summary['base_model']}`",
        f"- Task preset: `{summary['task']}` (metric: {summary['metric']})",
        f"- Method: {train['method']}, precision {train['precision']}, {train['steps']} of {train['max_steps']} steps"
        + (" (stopped early)" if train["stopped_early"] else ""),
        f"- Chosen checkpoint: {train.get('checkpoint') or 'step ' + str(train['best_step'])}, "
        f"adapter scale {train.get('adapter_scale', 1.0)} "
        f"(validation loss {_fmt(train['best_valid_loss'])}; chosen by balance of task gain and retention)",
        f"- Training throughput: {train['tokens_per_s']:.0f} trained tokens/s over {train['train_seconds']:.0f} s",
        "",
        "## Data",
        "",
        f"- Anchor points: {data['examples']} from `{data['file']}` ({data['train']} train, {data['valid']} validation)",
        f"- Tokenisation: {data['encoding_summary']}",
    ]
    if summary.get("quality"):
        q = summary["quality"]
        scores = ", ".join(f"{k} {v}" for k, v in q["scores"].items())
        lines.append(f"- Quality gate: **{q['verdict']}** ({scores}); {'; '.join(q['reasons'])}. "
                     "Full report: `quality.html`")
        lines += [f"  - {a}" for a in q["advice"][:3]]
    if data.get("labels"):
        top = ", ".join(f"{k} ({v})" for k, v in list(data["labels"].items())[:12])
        lines.append(f"- Labels / intents ({len(data['labels'])}): {top}")
    lines += _lineage(summary.get("lineage"))
    diagnosis = (summary.get("balance") or {}).get("diagnosis")
    verdict = summary.get("verdict") or diagnosis
    if verdict:
        lines += ["", f"## Verdict: {verdict['verdict']}", "", verdict["reason"] + "."]
        if verdict.get("answers") and verdict["answers"] != verdict["reason"]:
            lines += ["", verdict["answers"] + "."]
        lines += ["", f"Next: {verdict['advice']}. Full report with plots: `report.html` (`report.md`)."]
    if diagnosis and verdict is not diagnosis:
        lines += ["", f"The losses beneath (balance guard): {diagnosis['verdict']}; {diagnosis['reason']}."]
    lines += [
        "",
        "## Held-out answer loss",
        "",
        "| model | loss per answer token |",
        "|---|---|",
        f"| base | {_fmt(losses['base_valid'])} |",
        f"| tuned | {_fmt(losses['tuned_valid'])} |",
        "",
        f"General ability: loss on general text base {_fmt(losses.get('base_text'))}, tuned "
        f"{_fmt(losses.get('tuned_text'))}; cloze accuracy base {_pct(losses.get('base_cloze'))}, tuned "
        f"{_pct(losses.get('tuned_cloze'))}. Answer style (loss on the base model's own answers to general "
        f"prompts): base {_fmt(losses.get('base_probe'))}, tuned {_fmt(losses.get('tuned_probe'))}.",
        "",
        "Curves: `metrics.jsonl` (train loss, validation loss, learning rate, tokens/s per logged step).",
    ]
    if summary.get("samples"):
        lines += ["", "## Before and after", ""]
        for sample in summary["samples"]:
            lines += [f"**Prompt:** {sample['prompt']}", "", f"- base: {sample['base']}",
                      f"- tuned: {sample['tuned']}", ""]
    lines += ["", "## Use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer",
              "model = AutoModelForCausalLM.from_pretrained('model')",
              "tokenizer = AutoTokenizer.from_pretrained('model')", "```", ""]
    return "\n".join(lines)


def _lineage(lineage: dict | None) -> list[str]:
    """The data lineage section (tracking/lineage.py): which file, by SHA-256, how many rows, the gate's verdict,
    the --fix changelog it came from."""
    if not lineage:
        return []
    data, gate, fix, valid = lineage["data"], lineage.get("gate"), lineage.get("fix"), lineage.get("validation")
    rows = f", {data['rows']} rows" if data.get("rows") is not None else ""
    lines = ["", "## Data lineage", "",
             f"- Anchor points: `{data['file']}`{rows}, SHA-256 `{data['sha256']}` (`sha256sum` prints the same)"]
    if valid:
        lines.append(f"- Validation file: `{valid['file']}`, SHA-256 `{valid['sha256']}`")
    lines.append(f"- Quality gate verdict: {gate['verdict']}" if gate else "- Quality gate: not judged")
    if fix:
        lines.append(f"- Cleaned by `anchortune check --fix`: changelog `{fix['changelog']}` (SHA-256 `{fix['sha256']}`)"
                     f", {fix['dropped']} rows dropped, {fix['set_aside']} set aside for review")
    return lines


def _pct(value) -> str:
    return f"{100 * value:.0f} %" if value is not None else "n/a"
