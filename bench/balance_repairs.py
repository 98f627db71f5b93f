"""The balance guard's repairs for a run that drifts in general ability, in order of cost, and what each bought.

    python bench/balance_repairs.py [--option learning_rate=1e-3 --option epochs=4] [--work DIR] [--out bench/results]

One deliberately drifting configuration (the demo's support anchor points, with the given run options; by default
five times the learning rate and twice the epochs) trained three times on the packaged SmolLM2-135M:
- no repair: the guard restricted to full-strength checkpoints (adapter scale 1);
- the adapter-scale sweep (free: the same run, the guard also sees blends at 0.25, 0.5 and 0.75);
- self-replay (`replay=0.1`: 10 % more rows, the base model's own answers to general prompts);
- the KL term to the base model on those answers (`kl_general=0.1`: two forwards and a backward over one short
  row per micro-batch).
Each arm's kept checkpoint is scored by measures outside the guard (standard engine): answer loss on 60 real
support rows from ../shared/datasets (Bitext, written by a third party: the task carried beyond the demo's own
phrasings), WikiText-2 loss (32 x 256 tokens) and MMLU gold-answer loss against the base model. Writes bench/results/balance_repairs.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from balance_calibration import outside, outside_material  # noqa: E402  (the same outside measures)
from outcomes import load  # noqa: E402

from anchortune import settings  # noqa: E402
from anchortune.app import datasets as app_datasets  # noqa: E402
from anchortune.app import runs as app_runs  # noqa: E402
from anchortune.config import RunConfig  # noqa: E402

ARMS = {"none": {}, "scale sweep": {}, "replay 0.1": {"replay": 0.1}, "KL 0.1": {"kl_general": 0.1}}


def kept(summary: dict, full_strength_only: bool) -> dict:
    """The guard's pick; with `full_strength_only`, the pick it makes among the scale-1 checkpoints alone."""
    from anchortune.evaluate import balance

    if not full_strength_only:
        return summary["balance"]["chosen"]
    losses = summary["losses"]
    fields = ("step", "valid_loss", "probe_loss", "scale", "text_loss", "cloze_accuracy")
    candidates = [balance.Candidate(**{k: c[k] for k in fields}) for c in summary["balance"]["candidates"]
                  if c["scale"] == 1.0]
    text, cloze = (losses["base_text"] if "text" in losses["general_measures_used"] else None,
                   losses["base_cloze"] if "cloze" in losses["general_measures_used"] else None)
    reference = balance.Reference(losses["base_valid"], losses["base_probe"], text, cloze)
    return balance.choose(balance.score(candidates, reference))[0].to_json()


def measure(run: Path, pick: dict, material: dict, base_model, tokenizer, precision: str) -> dict:
    """Outside measures of one kept checkpoint x scale."""
    import torch
    from peft import PeftModel, set_peft_model_state_dict
    from peft.helpers import rescale_adapter_scale
    from safetensors.torch import load_file

    from anchortune.engine.loss import answer_loss

    model = PeftModel.from_pretrained(base_model, str(run / "adapter"))
    model.eval()
    state = load_file(str(run / "checkpoints" / f"checkpoint-{pick['step']}" / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, state)
    with rescale_adapter_scale(model, pick["scale"]), torch.inference_mode(False):
        row = {**outside(model, tokenizer, material, precision),
               "heldout_loss": answer_loss(model, material["heldout"], tokenizer.pad_token_id, 8, precision)}
    model.unload()  # the base model's linears back, without the adapter
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="Run option of the drifting configuration (YAML value); repeatable.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="Folder for data and runs (finished runs are scored again).")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    shared = settings.shared_data()
    if not shared.is_dir():
        print(f"skipped: {shared} not found")
        return 0
    import platform

    import torch

    from anchortune.data.presets import load_preset
    from anchortune.data.tokenize import encode
    from anchortune.models.loading import load_model, load_tokenizer, resolve_model
    from anchortune.engine.precision import choose

    options = {"learning_rate": 1e-3, "epochs": 4}
    options.update({k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.option)})
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-repairs-"))
    work.mkdir(parents=True, exist_ok=True)
    data = app_datasets.write_demo_data("support", work / "support.jsonl")
    runs = {}
    for arm, extra in ARMS.items():
        if arm in ("none", "scale sweep"):  # one run serves both: the guard's pick with and without blends
            extra, name = {}, "plain"
        else:
            name = arm.split()[0].lower()
        run = work / name
        if not (run / "summary.json").is_file():
            print(f"training {name} ...", flush=True)
            app_runs.train_run(RunConfig.build(data=str(data), task="support", seed=args.seed, **options, **extra),
                              run, force=True)
        runs[arm] = run
    cfg = RunConfig.load(runs["none"] / "config.yaml")
    precision = choose(cfg.precision)
    source = resolve_model(cfg.model)
    tokenizer = load_tokenizer(source)
    unseen = load("support", shared)  # real customer-support rows (Bitext), written by a third party
    random.Random(args.seed).shuffle(unseen)
    material = {**outside_material(shared, tokenizer),
                "heldout": encode(unseen[:60], load_preset("support"), tokenizer, 512)[0]}
    base_model = load_model(source)
    from anchortune.engine.loss import answer_loss

    base = {**outside(base_model, tokenizer, material, precision),
            "heldout_loss": answer_loss(base_model, material["heldout"], tokenizer.pad_token_id, 8, precision)}
    rows = []
    for arm, run in runs.items():
        summary = json.loads((run / "summary.json").read_text())
        pick = kept(summary, full_strength_only=arm == "none")
        row = {"arm": arm, "step": pick["step"], "scale": pick["scale"], "valid_loss": pick["valid_loss"],
               "guard_text_drift": pick["text_drift"], "guard_cloze_drop": pick["cloze_drop"],
               "verdict": summary["balance"]["diagnosis"]["verdict"] if arm != "none" else None,
               "train_seconds": summary["training"]["train_seconds"],
               **measure(run, pick, material, base_model, tokenizer, precision)}
        row["heldout_gain"] = 1 - row["heldout_loss"] / base["heldout_loss"]
        row["wikitext_drift"] = row["wikitext_loss"] / base["wikitext_loss"] - 1
        row["mmlu_drift"] = row["mmlu_loss"] / base["mmlu_loss"] - 1  # the gold answer written out, whole
        row["mmlu_body_drift"] = row["mmlu_body_loss"] / base["mmlu_body_loss"] - 1  # its body, given how it started
        rows.append(row)
        print(json.dumps(row), flush=True)
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    result = {"machine": machine, "options": options, "heldout_rows": len(material["heldout"]), "base": base,
              "arms": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "balance_repairs.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "balance_repairs.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    base = result["base"]
    lines = ["# Balance guard repairs, in order of cost, on a drifting run", "",
             f"Machine: {result['machine']}. SmolLM2-135M, the demo's support anchor points, run options "
             f"{result['options']}. Outside measures (standard engine): answer loss on {result['heldout_rows']} "
             f"Bitext support rows (base {base['heldout_loss']:.3f}), WikiText-2 loss (base "
             f"{base['wikitext_loss']:.3f}) and MMLU gold-answer loss, whole and its body (base "
             f"{base['mmlu_loss']:.3f} / {base['mmlu_body_loss']:.3f}).", "",
             "| repair | kept step x scale | held-out loss (gain) | WikiText drift | MMLU drift: whole / body | guard's "
             "general-text drift / cloze drop | training s | verdict |", "|---|---|---|---|---|---|---|---|"]
    for r in result["arms"]:
        cloze = f"{100 * r['guard_cloze_drop']:+.0f} pt" if r["guard_cloze_drop"] is not None else "-"
        text = f"{r['guard_text_drift']:+.1%}" if r["guard_text_drift"] is not None else "-"
        lines.append(f"| {r['arm']} | {r['step']} x {r['scale']} | {r['heldout_loss']:.3f} ({r['heldout_gain']:.0%}) | "
                     f"{r['wikitext_drift']:+.1%} | {r['mmlu_drift']:+.1%} / {r['mmlu_body_drift']:+.1%} | "
                     f"{text} / {cloze} | "
                     f"{r['train_seconds']:.0f} | {r['verdict'] or '(not diagnosed)'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
