"""The check workflow (`anchortune check`, a studio upload's quality report, a run's gate): read anchor points line
by line keeping at most MAX_ROWS rows (a seeded uniform sample of a larger file, said in the report), load the
target tokenizer, the embedder and the judge, run the quality gate (quality/gate.py), write the reports and the
cleaned set. Memory follows the rows kept, not the file. Every output is checked before the work (never the input,
never a folder) and written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from anchortune.config import expected
from anchortune.data.loading import CsvColumns, sample_anchor_points
from anchortune.data.presets import Preset, load_preset
from anchortune.data.records import AnchorPoint
from anchortune.errors import ConfigError
from anchortune.messages import say, translate
from anchortune.outputs import output_file, same_file
from anchortune.run_folder import RunFolder, changelog_of

MAX_ROWS = 200_000  # rows the gate judges (~3 GB, ~10 minutes on 2 cores: bench/results/quality_scale.md)


def check_file(path: str | Path, task: str = "custom", model: str | None = None, description: str | None = None,
               columns: CsvColumns | None = None, max_length: int | None = None, ifd: bool = False,
               json_out: Path | None = None, html_out: Path | None = None, fix_out: Path | None = None,
               max_rows: int = MAX_ROWS, lang: str = "en"):
    """`anchortune check`: the outputs checked first (none of them the input or a folder, each writable), the file
    read line by line keeping at most `max_rows` rows, judged, the reports written (the HTML page in `lang`);
    (report, written files)."""
    path = Path(path)
    _check_outputs(path, json_out, html_out, fix_out)
    if max_rows < 1:
        raise ConfigError(f"--max-rows must be a whole number >= 1, not {max_rows}")
    _max_length(max_length, load_preset(task))  # the options' mistakes before the file's minutes
    points, rows = sample_anchor_points(path, max_rows, columns)
    if fix_out is not None and rows > len(points):
        raise ConfigError(f"--fix writes a cleaned copy of every row, but the file holds {rows:,} rows and the check "
                          f"judges {len(points):,} (--max-rows): raise --max-rows, or check without --fix")
    report = check_data(path, task, model, description, columns, max_length, ifd, points=points, max_rows=max_rows)
    if rows > len(points):
        _note_sample(report, len(points), rows)
    return report, write_quality_outputs(report, points, path.name, json_out, html_out, fix_out, lang)


def check_data(path: str | Path, task: str = "custom", model: str | None = None, description: str | None = None,
               columns: CsvColumns | None = None, max_length: int | None = None, ifd: bool = False,
               points: list[AnchorPoint] | None = None, progress=None, max_rows: int = MAX_ROWS):
    """The quality report for a file of anchor points (or for `points` already read from it), judged on at most
    `max_rows` rows (a seeded sample of more); `progress(stage, fraction)` hears how far it has come (gate.check)."""
    from anchortune.models.loading import load_tokenizer, resolve_model
    from anchortune.quality.embeddings import load_embedder, load_judge
    from anchortune.quality.gate import check

    preset = load_preset(task)
    max_length = _max_length(max_length, preset)
    declared = list(preset.output.labels)
    if points is None:
        points, rows = sample_anchor_points(path, max_rows, columns)
    else:
        points, rows = _sample(points, max_rows), len(points)
    preset = preset.resolved_for(points)
    source = resolve_model(model)
    tokenizer = load_tokenizer(source)
    scorer = _ifd_scorer(source, tokenizer, preset) if ifd else None
    judge = load_judge() if preset.output.format == "text" else None  # free-text answers compared by meaning
    report = check(points, preset, load_embedder(), tokenizer, max_length, description=description,
                   declared_labels=declared, ifd=scorer, judge=judge, progress=progress)
    if rows > len(points):
        _note_sample(report, len(points), rows)
    return report


def _max_length(value: int | None, preset: Preset) -> int:
    """The context a check counts tokens against: the option (within the run config's bounds) or the preset's."""
    if value is None:
        return preset.hyperparameters.max_length
    if not 16 <= value <= 1_048_576:
        raise ConfigError(f"--max-length must be {expected('max_length')}, not {value}")
    return value


def _sample(points: list[AnchorPoint], keep: int, seed: int = 0) -> list[AnchorPoint]:
    """At most `keep` of `points`, a seeded uniform sample in their order."""
    if len(points) <= keep:
        return points
    import random

    return [points[i] for i in sorted(random.Random(seed).sample(range(len(points)), keep))]


def _note_sample(report, judged: int, rows: int) -> None:
    """Say in the report that the gate judged a sample of the rows."""
    report.size.update(rows_in_file=rows, rows_judged=judged)
    report.reasons.append(say("gate_sampled", n=f"{judged:,}", total=f"{rows:,}"))


def _fix_files(fix_out: Path) -> tuple[Path, Path]:
    """The review file and the changelog written beside a cleaned set."""
    return fix_out.with_name(fix_out.stem + ".review.jsonl"), changelog_of(fix_out)


def _check_outputs(source: Path, json_out: Path | None, html_out: Path | None, fix_out: Path | None) -> None:
    """Every file a check would write, before it reads anything: none is the input or a folder, each can be
    written, no two are the same file."""
    outputs = {"--json": json_out, "--html": html_out, "--fix": fix_out}
    if fix_out is not None:
        review, changelog = _fix_files(Path(fix_out))
        outputs.update({f"--fix (its review file {review.name})": review,
                        f"--fix (its changelog {changelog.name})": changelog})
    named = [(flag, Path(path)) for flag, path in outputs.items() if path is not None]
    for i, (flag, path) in enumerate(named):
        output_file(path, flag, inputs=[source])
        clash = next((other for other, earlier in named[:i] if same_file(path, earlier)), None)
        if clash:
            raise ConfigError(f"{clash} and {flag} name the same file '{path}'; name each output once")


def _ifd_scorer(source, tokenizer, preset: Preset):
    from anchortune.engine import precision
    from anchortune.models.loading import load_model
    from anchortune.quality.ifd import ifd_scores

    model = load_model(source)
    chosen = precision.choose("auto")
    return lambda points: ifd_scores(model, tokenizer, preset, points, chosen)


def write_quality_outputs(report, points: list[AnchorPoint], source: str, json_out: Path | None = None,
                          html_out: Path | None = None, fix_out: Path | None = None,
                          lang: str = "en") -> dict[str, Path]:
    """Write the report as JSON and/or HTML (in `lang`) and, with fix_out, the cleaned set, review file and
    changelog (its reasons in `lang`; `action` stays a code a program reads: dropped, set aside for review)."""
    from anchortune.data.loading import save_anchor_points
    from anchortune.quality.fix import plan_fix
    from anchortune.quality.html import render

    written: dict[str, Path] = {}
    if json_out:
        RunFolder(json_out.parent).write_json(json_out, report.to_json())
        written["json"] = json_out
    if html_out:
        RunFolder(html_out.parent).write_text(html_out, render(report, points, source, lang))
        written["html"] = html_out
    if fix_out:
        plan = plan_fix(points, report.findings)
        review, changelog = _fix_files(fix_out)
        save_anchor_points(plan.kept, fix_out)
        save_anchor_points(plan.review, review)
        rows = [{**c, "reasons": [translate(r, lang) for r in c["reasons"]]} for c in plan.changelog]
        RunFolder(fix_out.parent).write_text(changelog, "".join(json.dumps(c, ensure_ascii=False) + "\n"
                                                                for c in rows))
        written.update({"fixed": fix_out, "review": review, "changelog": changelog})
    return written


# preference pairs: the same workflow over their own gate (quality/pairs.py) --------------------------------------
def check_pairs_file(path: str | Path, task: str = "custom", model: str | None = None, max_length: int | None = None,
                     json_out: Path | None = None, html_out: Path | None = None, lang: str = "en"):
    """`anchortune check` on preference pairs: the outputs checked first, the pairs judged, the reports written (the
    page in `lang`); (report, written files). The cleaned set (--fix) is written for anchor points only."""
    from anchortune.data.pairs import load_pairs

    path = Path(path)
    _check_outputs(path, json_out, html_out, None)
    pairs = load_pairs(path)
    report = check_pair_data(path, task, model, pairs, max_length)
    return report, write_quality_outputs(report, [p.side("chosen") for p in pairs], path.name, json_out=json_out,
                                         html_out=html_out, lang=lang)


def check_pair_data(path: str | Path, task: str = "custom", model: str | None = None, pairs=None,
                    max_length: int | None = None, progress=None):
    """The quality report of a file of preference pairs (quality/pairs.py), tokens counted for `model`."""
    from anchortune.data.pairs import load_pairs
    from anchortune.models.loading import load_tokenizer, resolve_model
    from anchortune.quality.embeddings import load_embedder, load_judge
    from anchortune.quality.pairs import check_pairs

    preset = load_preset(task)
    pairs = load_pairs(path) if pairs is None else pairs
    preset = preset.resolved_for([p.side("chosen") for p in pairs])
    judge = load_judge() if preset.output.format == "text" else None
    return check_pairs(pairs, preset, load_embedder(), load_tokenizer(resolve_model(model)),
                       max_length or preset.hyperparameters.max_length, judge=judge, progress=progress)
