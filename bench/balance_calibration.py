"""Calibration of the balance guard: does the checkpoint it keeps hold on to the task gain and the general ability
that measures it does not use say are there?

    python bench/balance_calibration.py [--tasks support,legal,invoice] [--scales 1.0,0.5] [--seed 0]
                                        [--work DIR] [--out bench/results]

For each task (support: Bitext; legal: LegalBench overruling; invoice: SROIE receipts, from ../shared/datasets;
rows drawn as bench/outcomes.py draws them) anchortune trains with its defaults and its guard keeps a
checkpoint and adapter scale. Then every checkpoint of the run at every `--scales` value, the guard's average of
the last checkpoints (train/averaging.py; measured by the run session's own code for a run trained before the guard
had it) and the guard's own pick are scored by measures *outside* the guard:
- the task metric on held-out rows (generated answers: ROUGE-L, macro-F1, JSON field F1);
- loss on a larger general text (the WikiText-2 excerpt, 32 windows of 256 tokens) against the base model's;
- loss on MMLU validation questions in plain text ('Question: ... Answer:' and the gold choice, only the choice
  scored, the cloze form of lm-evaluation-harness): knowledge asked the way the model was pretrained;
- accuracy on a cloze set written here by code, apart from the guard's shipped items: 200 sentences from the
  WikiText-2 excerpt's second half, the sentence's last long word against a word of its length from another
  paragraph (LAMBADA-style), the sentence before as context. MMLU's own choices cannot serve: a 135M model is at
  chance on them (23 %, bench/results/general_baselines.md), so they say nothing it could forget;
- loss on a held-out general instruction set judged against the base model's (MMLU validation questions with
  the gold answer written out, 100 items; a 135M model is at chance on the letters, but the loss moves), whole
  and on the gold content alone (the "The answer is X." format given, not scored), that content split into its
  opening (first OPENING tokens and the end token: how an answer starts and where it stops) and its body (the
  rest, given the opening: on the legal run the opening's loss rose +236 % and its body's fell 12 %, so a task that
  teaches short answers moves the whole loss without any knowledge lost);
all on transformers' own attention and head (the standard engine), not the engine that trained. The guard's own
signals (shipped general text, cloze items, answer style) are reported beside them.
An oracle with those outside measures keeps the candidate with the best task metric among those whose general
measures stay within the guard's bounds of the base model's (losses TEXT_BOUND, cloze accuracy CLOZE_BOUND points):
on WikiText and the WikiText cloze (the general-ability bound: both measures the base model passes), on WikiText and
MMLU in plain text, on WikiText and the MMLU answer body (knowledge asked in chat format), on WikiText and the whole
MMLU answer (strict: the manner of answering counted as ability too), and on WikiText alone. The table reports, per task, the guard's choice, each
oracle's, and the task metric the guard gave up with its 95 % interval (a paired bootstrap of the held-out rows: the
guard's and the oracle's answers to the same resampled rows). `--render` writes the Markdown again from the stored JSON.
Writes bench/results/balance_calibration.{json,md}.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from outcomes import HEADLINE, load, over_tasks, pair, task_parser  # noqa: E402  (bench/outcomes.py's rows)

from anchortune import settings  # noqa: E402
from anchortune.app import runs as app_runs  # noqa: E402
from anchortune.config import RunConfig  # noqa: E402
from anchortune.data.loading import save_anchor_points  # noqa: E402
from anchortune.data.records import AnchorPoint  # noqa: E402

TASKS = {  # name: (preset, train rows, held-out rows, run options, new tokens for held-out answers); each
    # preset's own defaults (3 epochs, its learning rate and batch size). Held-out sizes: the oracle keeps the best
    # of nine noisy scores, so with few rows its own luck counts as the guard's loss (on 120 support rows ROUGE-L
    # moved +-0.01 between neighbouring steps and the oracle's pick beat the guard's by 5.1 %, 3.9 % cross-fitted):
    # 300 rows where answers are short, 240 for support (128-token answers), invoice 40 (its answers are the
    # longest: 160 tokens after an OCR text, the run's costliest generation on 2 cores)
    "support": ("support", 200, 240, {}, 128),
    "legal": ("legal", 200, 300, {}, 16),
    "invoice": ("invoice", 100, 40, {}, 160),
}


OPENING = 3  # content tokens that start an answer: a task's short answers move their likelihood the most
MMLU_PARTS = ("mmlu", "mmlu_content", "mmlu_opening", "mmlu_body")
OUTSIDE = ("wikitext", "mmlu_plain") + MMLU_PARTS
RESAMPLES = 1000  # paired bootstrap of the held-out rows: the interval of the metric the guard lost
CLOZE_CONTEXT = 48  # tokens of context before the cloze word
CLOZE_ITEMS = 200  # the bench's own WikiText cloze: a binomial standard error of ~2 points at 0.9
SPLITS = 400  # random halvings of the held-out rows for the cross-fitted oracle


def mmlu_points(shared: Path, count: int = 100) -> list[AnchorPoint]:
    """MMLU validation questions with their gold answer written out: a general instruction set."""
    rows = [json.loads(l) for l in (shared / "general" / "mmlu_val.jsonl").open(encoding="utf-8")]
    random.Random(7).shuffle(rows)
    points = []
    for row in rows[:count]:
        letters = "ABCD"
        options = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(row["choices"][:4]))
        gold = row["choices"][letters.index(row["answer"])]
        points.append(pair(f"{row['question']}\n{options}", f"The answer is {row['answer']}. {gold}"))
    return points


def outside_material(shared: Path, tokenizer) -> dict:
    """WikiText-2 windows, and the MMLU answers with the labels of each of their parts (MMLU_PARTS): the whole
    answer, its gold content (the "The answer is X." format given), that content's opening and its body."""
    from anchortune.data.presets import load_preset
    from anchortune.data.tokenize import IGNORE, encode
    from anchortune.evaluate.retention import text_chunks

    mmlu = encode(mmlu_points(shared), load_preset("custom"), tokenizer, 512)[0]
    prefix = len(tokenizer("The answer is B.", add_special_tokens=False)["input_ids"])  # the format, given
    parts: dict[str, list] = {part: [] for part in MMLU_PARTS}
    for row in mmlu:
        targets = [i for i, label in enumerate(row["labels"]) if label != IGNORE]
        content = targets[prefix:]
        keep = {"mmlu": set(targets), "mmlu_content": set(content),
                "mmlu_opening": set(content[:OPENING] + content[-1:]),  # how the answer starts, and where it ends
                "mmlu_body": set(content[OPENING:-1])}  # short answers have none
        for part in MMLU_PARTS:
            parts[part].append([label if i in keep[part] else IGNORE for i, label in enumerate(row["labels"])])
    return {"wikitext": text_chunks(shared / "general" / "wikitext2_excerpt.txt", tokenizer, 256, 32),
            "mmlu_plain": mmlu_plain(shared, tokenizer), "wiki_cloze": wiki_cloze(shared), "mmlu": mmlu,
            "mmlu_parts": parts}


def mmlu_plain(shared: Path, tokenizer, count: int = 100) -> list[dict]:
    """The same MMLU questions as plain text, no chat template: 'Question: ...\nA. ...\nAnswer:' followed by the
    gold choice, only the gold choice's tokens scored (the cloze form of lm-evaluation-harness). What the model
    knows, asked the way it was pretrained, so that the manner of answering a task teaches in the chat template does
    not count as knowledge lost."""
    rows = [json.loads(l) for l in (shared / "general" / "mmlu_val.jsonl").open(encoding="utf-8")]
    random.Random(7).shuffle(rows)
    from anchortune.data.tokenize import IGNORE

    examples = []
    for i, row in enumerate(rows[:count], start=1):
        letters = "ABCD"
        options = "\n".join(f"{letters[j]}. {c}" for j, c in enumerate(row["choices"][:4]))
        prompt = tokenizer(f"Question: {row['question']}\n{options}\nAnswer:", add_special_tokens=False)["input_ids"]
        gold = tokenizer(" " + row["choices"][letters.index(row["answer"])], add_special_tokens=False)["input_ids"]
        examples.append({"input_ids": prompt + gold, "labels": [IGNORE] * len(prompt) + gold, "line": i})
    return examples


def wiki_cloze(shared: Path, count: int = CLOZE_ITEMS, seed: int = 11) -> list[tuple[str, str, str]]:
    """(context, right word, wrong word) items cut from the WikiText-2 excerpt's second half (the loss windows
    read its start): a sentence's last long word against a word of about its length from another paragraph, with the
    sentence before it as context (LAMBADA-style). Written here, by code, apart from the guard's shipped cloze items:
    a multiple-choice measure of general ability that the base model passes and the guard never sees."""
    import re

    text = (shared / "general" / "wikitext2_excerpt.txt").read_text(encoding="utf-8", errors="replace")
    text = text[len(text) // 2:]
    for raw, clean in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" ,", ","), (" .", "."), (" ;", ";"),
                       (" :", ":"), (" 's", "'s"), ("( ", "("), (" )", ")")):
        text = text.replace(raw, clean)
    paragraphs = [p.strip() for p in text.split("\n") if len(p.strip()) > 200 and not p.strip().startswith("=")]
    words = [(i, w) for i, p in enumerate(paragraphs) for w in re.findall(r"[A-Za-z]{4,}", p)]
    rng, items = random.Random(seed), []
    for i, paragraph in enumerate(paragraphs):
        sentences = [s.strip() for s in re.split(r"(?<=\.) ", paragraph) if s.strip()]
        for before, sentence in zip([""] + sentences, sentences):
            found = list(re.finditer(r"[A-Za-z]{4,}", sentence))
            if len(sentence.split()) < 10 or not found or found[-1].start() < len(sentence) // 2:
                continue
            target = found[-1]
            right = target.group()
            near = [w for j, w in words if j != i and abs(len(w) - len(right)) <= 1 and w.lower() != right.lower()
                    and w[0].isupper() == right[0].isupper()]
            if not near:
                continue
            context = (before + " " + sentence[:target.start()]).strip()
            items.append((context, right, rng.choice(near)))
    rng.shuffle(items)
    return items[:count]


def cloze_accuracy(model, tokenizer, items: list[tuple[str, str, str]], precision: str) -> float:
    """Share of `items` whose right word the model finds likelier than the wrong one (summed log-likelihood of the
    word's tokens after the last CLOZE_CONTEXT tokens of the context). Padded on the left, so that the head runs
    only over the words' positions."""
    import torch

    from anchortune.engine.loss import autocast

    sequences = []
    for context, right, wrong in items:
        prompt = tokenizer(context, add_special_tokens=False)["input_ids"][-CLOZE_CONTEXT:]
        for word in (right, wrong):
            sequences.append((prompt, tokenizer(" " + word, add_special_tokens=False)["input_ids"]))
    pad, sums = tokenizer.pad_token_id or 0, []
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(precision):
        for start in range(0, len(sequences), 32):
            chunk = sequences[start:start + 32]
            width, keep = max(len(p) + len(e) for p, e in chunk), max(len(e) for _, e in chunk) + 1
            ids = torch.tensor([[pad] * (width - len(p) - len(e)) + p + e for p, e in chunk])
            mask = torch.tensor([[0] * (width - len(p) - len(e)) + [1] * (len(p) + len(e)) for p, e in chunk])
            logits = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                           use_cache=False, logits_to_keep=keep).logits.float()
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1)  # position j predicts token width - keep + j + 1
            for row, (_, ending) in enumerate(chunk):
                targets = ids[row, width - len(ending):]
                picked = logprobs[row, keep - 1 - len(ending):].gather(-1, targets[:, None])
                sums.append(-float(picked.sum()))
    model.train(was_training)
    return sum(sums[k] < sums[k + 1] for k in range(0, len(sums), 2)) / len(items)


def outside(model, tokenizer, material: dict, precision: str, have: dict | None = None) -> dict:
    """General losses measured outside the guard (standard engine); each MMLU part's mean loss per token from one
    forward of the model's own head over the answers. `have`: measures an earlier scoring of the same weights
    stored (they depend on the weights alone): only the missing ones are measured."""
    from anchortune.engine.loss import answer_loss

    pad, have = tokenizer.pad_token_id, have or {}
    measures = {"wikitext_loss": lambda: answer_loss(model, material["wikitext"], pad, 8, precision),
                "mmlu_plain_loss": lambda: answer_loss(model, material["mmlu_plain"], pad, 8, precision),
                "wiki_cloze_accuracy": lambda: cloze_accuracy(model, tokenizer, material["wiki_cloze"], precision)}
    found = {key: have[key] if key in have else measure() for key, measure in measures.items()}
    parts = [f"{part}_loss" for part in MMLU_PARTS]
    if all(key in have for key in parts):
        return {**found, **{key: have[key] for key in parts}}
    return {**found, **{f"{part}_loss": loss for part, loss in part_losses(model, material["mmlu"],
                                                                         material["mmlu_parts"], pad, precision).items()}}


def guard_measures(model, mine, pad_id: int, precision: str, have: dict | None = None) -> dict:
    """The guard's own general measures (shipped text, cloze items) on the standard engine, or the stored ones."""
    from anchortune.evaluate import general

    if have and "text_loss" in have and "cloze_accuracy" in have:
        return {"text_loss": have["text_loss"], "cloze_accuracy": have["cloze_accuracy"]}
    return general.measure(model, mine, pad_id, 8, precision)  # outside a run session: the standard engine


def part_losses(model, rows: list[dict], parts: dict[str, list], pad_id: int, precision: str) -> dict[str, float]:
    import torch

    from anchortune.data.tokenize import IGNORE
    from anchortune.engine.loss import autocast
    from anchortune.engine.collate import PadCollator

    collate = PadCollator(pad_id)
    sums = {part: 0.0 for part in parts}
    counts = {part: 0 for part in parts}
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(precision):
        for start in range(0, len(rows), 8):
            batch = collate(rows[start:start + 8])
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
            targets = batch["labels"][:, 1:]
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2), targets.clamp(min=0),
                                                    reduction="none")
            width = targets.shape[1]
            for part, labels in parts.items():
                chunk = labels[start:start + 8]
                mask = torch.tensor([(row + [IGNORE] * (width + 1 - len(row)))[1:width + 1] for row in chunk]) != IGNORE
                sums[part] += float(nll[mask].sum())
                counts[part] += int(mask.sum())
    model.train(was_training)
    return {part: sums[part] / counts[part] if counts[part] else float("nan") for part in parts}


def task_metric(model, tokenizer, preset, held: list[AnchorPoint], new_tokens: int, precision: str,
                known: list[str] | None = None) -> dict:
    """{"metric": the headline metric on the held-out rows, "outputs": the answers it scored (for the bootstrap)}.
    `known`: answers of the same weights to the first held-out rows, stored by an earlier scoring (greedy decoding:
    the same answers); only the rest are generated."""
    from anchortune.evaluate.generation import generate

    known = (known or [])[:len(held)]
    outputs = known + generate(model, tokenizer, [preset.to_messages(p)[:-1] for p in held[len(known):]], new_tokens,
                               batch_size=32, precision=precision)  # 32 a batch: 7.5 ms a token on 2 cores, 19 at 8
    return {"metric": headline(preset, held, outputs), "outputs": outputs}


def headline(preset, held: list[AnchorPoint], outputs: list[str]) -> float:
    """The preset's headline metric of `outputs` against the held-out rows' answers (ROUGE-L without the
    embeddings: the bootstrap recomputes it a thousand times)."""
    from anchortune.evaluate import metrics
    from anchortune.recipes.evaluate import _task_scores

    if preset.output.format == "text":
        return sum(metrics.rouge_l(o, p.answer) for o, p in zip(outputs, held)) / max(1, len(held))
    return _task_scores(preset.output.format, outputs, [p.answer for p in held], preset, held)[HEADLINE[preset.name]]


def bootstrap_lost(preset, held: list[AnchorPoint], guard: list[str], oracle: list[str], seed: int = 0) -> list[float]:
    """The 95 % interval of the metric lost (oracle - guard) / oracle over paired resamples of the held-out rows."""
    rng = random.Random(seed)
    if preset.output.format == "text":  # per-row scores: a resample is a mean
        from anchortune.evaluate import metrics

        g = [metrics.rouge_l(o, p.answer) for o, p in zip(guard, held)]
        o = [metrics.rouge_l(x, p.answer) for x, p in zip(oracle, held)]
        score = lambda idx, rows: sum(rows[i] for i in idx) / len(idx)  # noqa: E731
        pair_of = lambda idx: (score(idx, g), score(idx, o))  # noqa: E731
    else:
        pair_of = lambda idx: (headline(preset, [held[i] for i in idx], [guard[i] for i in idx]),  # noqa: E731
                               headline(preset, [held[i] for i in idx], [oracle[i] for i in idx]))
    lost = []
    for _ in range(RESAMPLES):
        idx = [rng.randrange(len(held)) for _ in held]
        gm, om = pair_of(idx)
        lost.append((om - gm) / om if om else 0.0)
    lost.sort()
    return [lost[int(0.025 * RESAMPLES)], lost[int(0.975 * RESAMPLES) - 1]]


def crossfit_lost(preset, held: list[AnchorPoint], row: dict, drifts: tuple, seed: int = 1) -> list[float] | None:
    """The metric the guard lost against an oracle that cannot see the rows it is scored on: [mean, 2.5 %, 97.5 %]
    over SPLITS random halvings of the held-out rows, the oracle picking its candidate (inside the bounds `drifts`)
    by the metric on one half, both picks scored on the other. The plain oracle picks and is scored on the same rows,
    so the best of nine noisy scores counts its own luck as the guard's loss (the winner's curse); None where the
    candidates' answers were not stored."""
    kept = [c for c in row["candidates"] if inside(c, drifts)] or row["candidates"]
    if not all("outputs" in c for c in kept + [row["guard"]]):
        return None
    rng, order, lost = random.Random(seed), list(range(len(held))), []
    if preset.output.format == "text":  # per-row ROUGE-L once: a half's score is their mean
        from anchortune.evaluate import metrics

        rows = {id(c): [metrics.rouge_l(o, p.answer) for o, p in zip(c["outputs"], held)] for c in kept + [row["guard"]]}
        score = lambda c, idx: sum(rows[id(c)][i] for i in idx) / len(idx)  # noqa: E731
    else:
        score = lambda c, idx: headline(preset, [held[i] for i in idx], [c["outputs"][i] for i in idx])  # noqa: E731
    for _ in range(SPLITS):
        rng.shuffle(order)
        pick, judge_on = order[:len(order) // 2], order[len(order) // 2:]
        oracle = max(kept, key=lambda c: score(c, pick))
        om, gm = score(oracle, judge_on), score(row["guard"], judge_on)
        lost.append((om - gm) / om if om else 0.0)
    lost.sort()
    return [sum(lost) / len(lost), lost[int(0.025 * SPLITS)], lost[int(0.975 * SPLITS) - 1]]


def held_out(name: str, shared: Path, seed: int) -> tuple:
    """(preset, train rows, held-out rows) of a task as the bench draws them."""
    from anchortune.data.presets import load_preset

    preset_name, n_train, n_held = TASKS[name][:3]
    points = load(name, shared)
    random.Random(seed).shuffle(points)
    train, held = points[:n_train], points[n_train:n_train + n_held]
    return load_preset(preset_name).resolved_for(train), train, held


def stored_rows(path: Path | None, name: str, seed: int, n_train: int) -> dict:
    """{(step, scale) or "base": the stored row} from an earlier results file's row for this task, drawn with the
    same seed and training rows (so its held-out rows are the first of this draw's); {} where there is none."""
    if path is None or not path.is_file():
        return {}
    row = next((r for r in json.loads(path.read_text())["rows"] if r["task"] == name), None)
    if row is None or row.get("seed", 0) != seed or row["train_rows"] != n_train:
        return {}
    return {"base": row["base"], **{(c["step"], c["scale"], tuple(c["averaged"]) if c.get("averaged") else None): c
                                    for c in row["candidates"]}}


def calibrate(name: str, shared: Path, work: Path, seed: int, scales: list[float], reuse: Path | None = None) -> dict:
    import torch
    from peft import PeftModel, set_peft_model_state_dict
    from peft.helpers import rescale_adapter_scale
    from safetensors.torch import load_file

    from anchortune.evaluate import general
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.engine.precision import choose
    from anchortune.train import averaging

    preset_name, _, _, options, new_tokens = TASKS[name]
    preset, train, held = held_out(name, shared, seed)
    renumber = lambda ps: [AnchorPoint(p.messages, i, p.label) for i, p in enumerate(ps, start=1)]  # noqa: E731
    train_file = save_anchor_points(renumber(train), work / f"{name}-train.jsonl")
    run = work / f"{name}-run"
    started = time.perf_counter()
    if not (run / "summary.json").is_file():
        app_runs.train_run(RunConfig.build(data=str(train_file), task=preset_name, seed=seed, **options), run,
                          force=True)
    summary = json.loads((run / "summary.json").read_text())
    train_wall = time.perf_counter() - started
    cfg = RunConfig.load(run / "config.yaml")
    precision = choose(cfg.precision)
    source = resolve_model(cfg.model)
    tokenizer = load_tokenizer(source)
    material = outside_material(shared, tokenizer)
    mine = general.general_set(tokenizer)
    base_model = load_model(source)
    known = stored_rows(reuse, name, seed, len(train))
    have = known.get("base", {})
    base = {**task_metric(base_model, tokenizer, preset, held, new_tokens, precision, have.get("outputs")),
            **outside(base_model, tokenizer, material, precision, have),
            **guard_measures(base_model, mine, tokenizer.pad_token_id, precision, have)}
    summary = with_average(run, summary)
    model = PeftModel.from_pretrained(base_model, str(run / "adapter"))
    model.eval()
    chosen, diagnosis = current_guard(run, summary)
    checkpoints = sorted((int(p.name.split("-")[1]), p) for p in (run / "checkpoints").glob("checkpoint-*"))
    grid = [(step, None, scale) for step, _ in checkpoints for scale in scales]
    grid += [(c["step"], tuple(c["averaged"]), 1.0) for c in summary["balance"]["candidates"] if c.get("averaged")]
    picked = (chosen["step"], tuple(chosen["averaged"]) if chosen.get("averaged") else None, chosen["scale"])
    if picked not in grid:
        grid.append(picked)
    # the guard's pick first, then the latest checkpoints: a run cut short has scored what the table needs most
    grid.sort(key=lambda g: (g != picked, -g[0], g[1] is None, -g[2]))
    rows = []
    for step, averaged, scale in grid:
        if averaged:
            averaging.load_average(model, run / "checkpoints", list(averaged))
        else:
            set_peft_model_state_dict(model, load_file(str(run / "checkpoints" / f"checkpoint-{step}" /
                                                           "adapter_model.safetensors")))
        have = known.get((step, scale, averaged), {})
        with rescale_adapter_scale(model, scale), torch.inference_mode(False):
            row = {"step": step, "scale": scale, "averaged": list(averaged) if averaged else None,
                   **task_metric(model, tokenizer, preset, held, new_tokens, precision, have.get("outputs")),
                   **outside(model, tokenizer, material, precision, have),
                   **guard_measures(model, mine, tokenizer.pad_token_id, precision, have)}
        row.update({f"{part}_drift": row[f"{part}_loss"] / base[f"{part}_loss"] - 1 for part in OUTSIDE})
        row["wiki_cloze_drop"] = base["wiki_cloze_accuracy"] - row["wiki_cloze_accuracy"]
        row["guard_pick"] = (step, averaged, scale) == picked
        rows.append(row)
        if len(rows) == 1:
            print(f"{name} base: {json.dumps({k: round(v, 4) for k, v in base.items() if isinstance(v, float)})}",
                  flush=True)
        print(f"{name} {step_label(row)}: {json.dumps({k: round(v, 4) for k, v in row.items() if isinstance(v, float)})}",
              flush=True)
    guard = next(r for r in rows if r["guard_pick"])
    intervals = {label: bootstrap_lost(preset, held, guard["outputs"],  # what the guard lost against each oracle
                                       judge({"candidates": rows, "guard": guard}, drifts)["oracle"]["outputs"])
                 for label, drifts in ORACLES.items()}
    crossfit = {label: crossfit_lost(preset, held, {"candidates": rows, "guard": guard}, drifts)
                for label, drifts in ORACLES.items()}
    return {"task": name, "seed": seed, "reused_answers": len(known.get("base", {}).get("outputs") or []),
            "reused_measures": sorted({k for c in known.values() for k in c if k.endswith(("_loss", "_accuracy"))}), "lost_interval": intervals, "crossfit": crossfit, "metric": HEADLINE[preset_name], "train_rows": len(train), "heldout_rows": len(held),
            "train_wall_s": train_wall, "base": base, "candidates": rows, "guard": guard,
            "verdict": diagnosis, "chosen": chosen,
            "stored_choice": [summary["balance"]["chosen"]["step"], summary["balance"]["chosen"]["scale"]],
            "averaged": next((c for c in summary["balance"]["candidates"] if c.get("averaged")), None)}


def with_average(run: Path, summary: dict) -> dict:
    """The run's summary with the guard's averaged candidate (train/averaging.py) among its candidates: a run
    trained before averaging existed gets it measured here by the run session's own code (the base model's
    reference measures, then the average's validation loss, answer style and general measures on the run's
    validation split), stored in the run folder as averaged_candidate.json."""
    if any(c.get("averaged") for c in summary["balance"]["candidates"]):
        return summary
    stored = run / "averaged_candidate.json"
    if not stored.is_file():
        from peft import PeftModel

        from anchortune.data.loading import load_anchor_points
        from anchortune.data.presets import load_preset
        from anchortune.data.tokenize import encode
        from anchortune.recipes import task_run
        from anchortune.train import averaging
        from anchortune.train.session import RunSession

        with RunSession(RunConfig.load(run / "config.yaml")) as session:
            cfg = session.cfg
            points = load_anchor_points(cfg.data)
            preset = load_preset(cfg.task).resolved_for(points)
            valid_set, _ = encode(task_run._held_out(points, cfg)[1], preset, session.tokenizer, cfg.max_length)
            model = session.load_model()
            baseline = session.baseline(model, valid_set)
            model = PeftModel.from_pretrained(model, str(run / "adapter"))
            model.eval()
            steps = averaging.steps_to_average([c["step"] for c in summary["balance"]["candidates"]
                                                if c["scale"] == 1.0])
            averaging.load_average(model, run / "checkpoints", steps)
            candidate = session.candidate(model, steps[-1], baseline, valid_set, averaged=steps)
        stored.write_text(json.dumps(candidate.to_json(), indent=2))
    summary = json.loads(json.dumps(summary))
    summary["balance"]["candidates"].append(json.loads(stored.read_text()))
    return summary


def step_label(c: dict) -> str:
    """'69 x 1.0', or 'mean 48-69 x 1.0' for the average of checkpoints."""
    averaged = c.get("averaged")
    return f"{'mean ' + str(averaged[0]) + '-' if averaged else ''}{c['step']} x {c['scale']}"


def current_guard(run: Path, summary: dict) -> tuple[dict, dict]:
    """The guard's choice and diagnosis as this checkout's evaluate/balance.py makes them from the run's stored
    measures (a reused run folder may have been trained before the guard last changed): (chosen, diagnosis)."""
    from dataclasses import fields

    from anchortune.evaluate import balance

    names = {f.name for f in fields(balance.Candidate)}
    candidates = [balance.Candidate(**{k: v for k, v in c.items() if k in names})
                  for c in summary["balance"]["candidates"]]
    losses, used = summary["losses"], summary["losses"].get("general_measures_used", ["text", "cloze"])
    base = balance.Reference(losses["base_valid"], losses.get("base_probe"),
                             losses.get("base_text") if "text" in used else None,
                             losses.get("base_cloze") if "cloze" in used else None)
    picked, _ = balance.choose(balance.score(candidates, base))
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    full = next((c for c in candidates if c.step == picked.step and c.scale == 1.0), None)
    diagnosis = balance.diagnose([r for r in metrics if "train_loss" in r], [r for r in metrics if "valid_loss" in r],
                                 losses["base_valid"], picked, full)
    return picked.to_json(), diagnosis.to_json()


ORACLES = {"WikiText and the WikiText cloze (general ability)": ("wikitext_drift", "wiki_cloze_drop"),
           "WikiText and MMLU in plain text": ("wikitext_drift", "mmlu_plain_drift"),
           "WikiText and MMLU answer body": ("wikitext_drift", "mmlu_body_drift"),
           "WikiText and MMLU whole answer": ("wikitext_drift", "mmlu_drift"),
           "WikiText alone": ("wikitext_drift",)}


def bound(drift: str) -> float:
    """How far a measure may move before the oracle counts it as general ability lost: the guard's own bounds
    (loss ratios TEXT_BOUND, cloze points CLOZE_BOUND), applied to measures the guard does not use."""
    from anchortune.evaluate.balance import CLOZE_BOUND, TEXT_BOUND

    return CLOZE_BOUND if drift.endswith("_drop") else TEXT_BOUND


def inside(c: dict, drifts: tuple) -> bool:
    return all(c.get(d, 0.0) <= bound(d) for d in drifts)  # older rows lack a column


def judge(row: dict, drifts: tuple) -> dict:
    """The oracle with the outside measures `drifts` (each within its `bound` of the base model), and the guard's
    pick against it: the task metric lost, whether the pick is inside those bounds."""
    kept = [c for c in row["candidates"] if inside(c, drifts)]
    oracle = max(kept or row["candidates"], key=lambda c: c["metric"])  # none inside: the best of all, marked
    guard = row["guard"]
    lost = (oracle["metric"] - guard["metric"]) / oracle["metric"] if oracle["metric"] else 0.0
    return {"oracle": oracle, "metric_lost": lost, "guard_inside": inside(guard, drifts), "none_inside": not kept}


def interval(row: dict, label: str) -> str:
    lo_hi = row.get("lost_interval", {}).get(label)
    return f" ({lo_hi[0]:.1%} to {lo_hi[1]:.1%})" if lo_hi else ""


def crossfit(row: dict, label: str) -> str:
    fit = row.get("crossfit", {}).get(label)
    return f"{fit[0]:.1%} ({fit[1]:.1%} to {fit[2]:.1%})" if fit else "answers not stored"


def markdown(rows: list[dict], machine: str) -> str:
    from anchortune.evaluate.balance import CLOZE_BOUND, TEXT_BOUND

    lines = ["# Balance guard calibration: the guard's choice against an oracle with outside measures", "",
             f"Machine: {machine}. Outside measures (standard engine): held-out task metric, WikiText-2 loss "
             f"(32 x 256 tokens), MMLU gold-answer loss in plain text (100 items as 'Question: ... Answer: <gold "
             f"choice>', only the gold choice scored), accuracy on a WikiText cloze written by this bench ({CLOZE_ITEMS} "
             f"sentences of the excerpt's second half, the last long word against one of its length from another "
             f"paragraph; not the guard's items) and the same "
             f"items in the chat template (the answer written out as 'The answer is X. "
             f"...') against the base model, whole and split: its gold content's first {OPENING} tokens with the end token "
             f"(how an answer starts and where it stops: a task's short answers move these) and the rest of the content "
             f"(the body: what the model knows, given how the answer started). Each oracle keeps the best task metric among the candidates whose named "
             f"measures stay within the guard's bounds of the base model ({TEXT_BOUND:.0%} on a loss, {100 * CLOZE_BOUND:.0f} "
             f"points of cloze accuracy); 'metric lost' is the guard's shortfall "
             f"against it, with the 95 % interval of {RESAMPLES} paired bootstrap resamples of the held-out rows. "
             f"That oracle picks and is scored on the same rows, so the luck of the best of nine noisy scores counts "
             f"as the guard's loss; the cross-fitted oracle picks on a random half of the held-out rows and both picks "
             f"are scored on the other half (mean and 95 % range over {SPLITS} halvings).",
             "",
             "| task | metric | base | guard: step x scale | guard metric | guard WikiText / WikiText cloze / MMLU plain / "
             "whole / body drift | oracle on | oracle: step x scale | oracle metric | metric lost (95 % interval) | "
             "metric lost to the cross-fitted oracle | guard inside the oracle's bounds | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g = r["guard"]
        for label, drifts in ORACLES.items():
            if not all(d in g for d in drifts):  # a row scored before this measure existed
                continue
            j = judge(r, drifts)
            o = j["oracle"]
            lines.append(f"| {r['task']} | {r['metric']} | {r['base']['metric']:.3f} | {step_label(g)} | "
                         f"{g['metric']:.3f} | {g['wikitext_drift']:+.1%} / "
                         f"{-100 * g.get('wiki_cloze_drop', float('nan')):+.0f} pt / "
                         f"{g.get('mmlu_plain_drift', float('nan')):+.1%} / {g['mmlu_drift']:+.1%} / "
                         f"{g.get('mmlu_body_drift', float('nan')):+.1%} | {label} | "
                         f"{step_label(o)}{' (none inside)' if j['none_inside'] else ''} | "
                         f"{o['metric']:.3f} | {j['metric_lost']:.1%}{interval(r, label)} | {crossfit(r, label)} | "
                         f"{'yes' if j['guard_inside'] else 'no'} | {r['verdict']['verdict']} |")
    for r in rows:
        partial = (f"Partial: {len(r['candidates'])} of {r['partial']} candidates scored (the guard's pick and the "
                   f"latest first) before the bench was stopped.") if r.get("partial") else ""
        if r.get("reused_answers") or r.get("reused_measures"):
            partial += (f"{r['heldout_rows']} held-out rows. Taken from an earlier scoring of the same checkpoints "
                        f"(the same weights, greedy decoding): the answers to the first {r.get('reused_answers', 0)} "
                        f"held-out rows and the measures {', '.join(r.get('reused_measures', [])) or 'none'}.")
        lines += ["", f"## {r['task']}: every candidate", "", *([partial, ""] if partial else []),
                  "| step x scale | task metric | WikiText drift | WikiText cloze accuracy | MMLU plain-text drift | "
                  "MMLU drift: whole answer | gold content | its opening and end | its body | shipped text loss | "
                  "cloze accuracy |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in sorted(r["candidates"], key=lambda c: (c["step"], bool(c.get("averaged")), c["scale"])):
            lines.append(f"| {step_label(c)}{' (guard)' if c['guard_pick'] else ''} | {c['metric']:.3f} | "
                         f"{c['wikitext_drift']:+.1%} | {c.get('wiki_cloze_accuracy', float('nan')):.3f} | "
                         f"{c.get('mmlu_plain_drift', float('nan')):+.1%} | "
                         f"{c['mmlu_drift']:+.1%} | "
                         f"{c.get('mmlu_content_drift', float('nan')):+.1%} | "
                         f"{c.get('mmlu_opening_drift', float('nan')):+.1%} | {c.get('mmlu_body_drift', float('nan')):+.1%} | "
                         f"{c.get('text_loss', float('nan')):.4f} | "
                         f"{c.get('cloze_accuracy') or 0:.2f} |")
        b = r["base"]
        lines.append(f"| base | {b['metric']:.3f} | - | {b.get('wiki_cloze_accuracy', float('nan')):.3f} | - | "
                     f"- | - | - | - | {b.get('text_loss', float('nan')):.4f} | "
                     f"{b.get('cloze_accuracy') or 0:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = task_parser(__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1.0,0.5")
    parser.add_argument("--render", action="store_true", help="Write the Markdown again from the stored JSON.")
    parser.add_argument("--reuse", type=Path, help="An earlier balance_calibration.json: the answers and general "
                                                   "measures it stored for the same checkpoints are taken, not "
                                                   "generated and measured again.")
    args = parser.parse_args()
    if args.render:
        stored = json.loads((args.out / "balance_calibration.json").read_text())
        shared = settings.shared_data()
        for r in stored["rows"]:  # rows stored before the cross-fitted oracle existed: computed from their answers
            if "crossfit" not in r and shared.is_dir():
                preset, _, held = held_out(r["task"], shared, args.seed)
                r["crossfit"] = {label: crossfit_lost(preset, held, r, drifts) for label, drifts in ORACLES.items()}
        (args.out / "balance_calibration.json").write_text(json.dumps(stored, indent=2))
        note = f"\nRows: {stored['note']}.\n" if stored.get("note") else ""
        (args.out / "balance_calibration.md").write_text(markdown(stored["rows"], stored["machine"]) + note)
        return 0
    scales = [float(s) for s in args.scales.split(",")]
    return over_tasks(args, "balance_calibration",
                      lambda name, shared, work: calibrate(name, shared, work, args.seed, scales, args.reuse),
                      markdown)


if __name__ == "__main__":
    sys.exit(main())
