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
    lines += preference_lines(summary.get("preference")) + tool_lines(summary.get("tool_calls"))
    lines += reinforcement_lines(summary.get("reinforcement"), summary.get("grader"))
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
def preference_lines(found: dict | None) -> list[str]:
    """The held-out preferences of a preference run, base against tuned (evaluate/preference.py)."""
    if not found or not found.get("pairs"):
        return []
    base, tuned = found["base"], found["tuned"]
    low, high = found["accuracy_gain_interval"]
    return ["", f"## Held-out preferences ({found['pairs']} pairs)", "",
            "| model | preference accuracy | reward accuracy | reward margin |", "|---|---|---|---|",
            f"| base | {_pct(base['preference_accuracy'])} | - | 0 |",
            f"| tuned | {_pct(tuned['preference_accuracy'])} | {_pct(tuned['reward_accuracy'])} | "
            f"{tuned['reward_margin']:.3f} |", "",
            f"Accuracy gain {100 * found['accuracy_gain']:+.0f} points (95 % interval {100 * low:+.0f} to "
            f"{100 * high:+.0f}); {found['wrong_to_right']} pairs turned right, {found['right_to_wrong']} wrong."]


def reinforcement_lines(found: dict | None, grader: dict | None) -> list[str]:
    """The held-out rewards of a reinforcement run, base against tuned (evaluate/reinforcement.py)."""
    if not found or not found.get("prompts"):
        return []
    low, high = found["reward_gain_interval"]
    rows = [f"| {name} | {found[name]['reward']:.3f} | {_fmt(found[name]['metric'])} | {found[name]['words']:.0f} | "
            f"{_pct(found[name]['top_share'])} |" for name in ("base", "tuned")]
    signs = [s["text"] for s in found.get("signs", [])]
    return ["", f"## Held-out reward ({found['prompts']} prompts, grader `{(grader or {}).get('name', '?')}`, "
                f"{(grader or {}).get('type', '?')})", "",
            "| model | mean reward | task metric | words per answer | most common answer |", "|---|---|---|---|---|",
            *rows, "", f"Reward gain {found['reward_gain']:+.3f} (95 % interval {low:+.3f} to {high:+.3f}); "
                       f"KL to the base model per token {_fmt(found.get('kl_to_base'))}; "
                       f"reward-hacking signs: {'; '.join(signs) if signs else 'none'}."]


def tool_lines(found: dict | None) -> list[str]:
    """The held-out tool calls of a tool-calling run, base against tuned (evaluate/tool_calls.py)."""
    if not found or not found.get("examples"):
        return []
    rows = [f"| {name} | {_pct(m.get('tool_name_accuracy'))} | {_pct(m.get('argument_exact_match'))} | "
            f"{_pct(m.get('schema_validity'))} | {_pct(m.get('plain_text_when_no_tool'))} |"
            for name, m in (("base", found["base"]), ("tuned", found["tuned"]))]
    return ["", f"## Held-out tool calls ({found['examples']} conversations)", "",
            "| model | tool name | arguments exact | schema valid | plain text where no tool is needed |",
            "|---|---|---|---|---|", *rows]


def _pct(value) -> str:
    return f"{100 * value:.0f} %" if value is not None else "n/a"
