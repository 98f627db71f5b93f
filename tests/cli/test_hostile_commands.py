"""Each case a new user hit with hostile input (issue 38), by name: the tracebacks, the successes that were not, the
input that was lost and the cost that had no bound. tests/cli/test_every_command.py holds the rule they all obey."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import pytest

from anchortune.errors import DataError

GOOD = [{"prompt": f"Where is order {n}?", "completion": f"Order {n} left the warehouse today.", "label": "track"}
        for n in range(6)]


def lines(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def copy_run(tiny_run: Path, where: Path) -> Path:
    return Path(shutil.copytree(tiny_run, where, ignore=shutil.ignore_patterns("checkpoints")))


def no_model_loads(monkeypatch) -> None:
    """Fail the test if any model or tokenizer is loaded (the checks must come first)."""
    from anchortune.models import loading

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the run folder was checked")

    for name in ("load_model", "load_tokenizer", "load_tuned"):
        monkeypatch.setattr(loading, name, refuse)


# tracebacks ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["validate", "check", "train"])
def test_a_chat_where_the_assistant_speaks_first_is_refused_naming_line_and_field(cli, tmp_path, tiny_model_dir,
                                                                                  command):
    data = lines(tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": "q"},
                                                         {"role": "assistant", "content": "a"}]}] * 4 +
                 [{"messages": [{"role": "system", "content": "Be kind."}, {"role": "assistant", "content": "Hi!"},
                                {"role": "user", "content": "Where is my order?"},
                                {"role": "assistant", "content": "On its way."}]}])
    extra = {"validate": [], "check": ["--model", tiny_model_dir],
             "train": ["--model", tiny_model_dir, "--out", tmp_path / "run"]}[command]
    ran = cli(command, data, *extra)
    assert ran.code == 2 and "line 5, field 'messages[1].role'" in ran.err and "user to speak first" in ran.err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("damage", ["truncated", "empty", "nul"])
@pytest.mark.parametrize("command", ["eval", "generate", "chat", "export"])
def test_a_truncated_empty_or_nul_run_config_is_named_by_every_reading_command(cli, tiny_run, tmp_path, monkeypatch,
                                                                               damage, command):
    run = copy_run(tiny_run, tmp_path / "run")
    text = (run / "config.yaml").read_bytes()
    (run / "config.yaml").write_bytes({"truncated": text[: len(text) // 2], "empty": b"",
                                       "nul": text[:40] + b"\x00" + text[40:]}[damage])
    prompts = lines(tmp_path / "p.jsonl", [{"prompt": "hi"}])
    no_model_loads(monkeypatch)
    args = {"eval": [run], "generate": [run, prompts], "chat": [run], "export": [run, "--format", "merged"]}[command]
    ran = cli(command, *args, stdin="hello\n")
    assert ran.code == 4 and f"'{run / 'config.yaml'}' is damaged" in ran.err, ran


@pytest.mark.parametrize("command", ["train", "export"])
def test_out_naming_a_file_is_refused_by_its_flag(cli, tiny_run, support_file, tiny_model_dir, tmp_path, command):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    args = {"train": [support_file, "--model", tiny_model_dir], "export": [tiny_run, "--format", "merged"]}[command]
    for out in (taken, taken / "run"):
        ran = cli(command, *args, "--out", out)
        assert ran.code == 2 and "--out" in ran.err and "is a file" in ran.err, ran
    assert taken.read_text() == "mine"


@pytest.mark.parametrize("flag,value,says", [("--epochs", "inf", "--epochs must be a finite number > 0"),
                                             ("--lr", "inf", "--lr must be a finite number > 0 and <= 1, not inf"),
                                             ("--lr", "nan", "--lr must be a finite number > 0 and <= 1, not nan"),
                                             ("--lr", "1e9", "--lr must be a finite number > 0 and <= 1, not 1000000000.0"),
                                             ("--max-steps", "99999999999", "--max-steps must be a whole number > 0 "
                                                                            "and <= 10000000")])
def test_options_that_cannot_be_trained_with_are_refused_by_their_flag(cli, support_file, tmp_path, flag, value, says):
    ran = cli("train", support_file, flag, value, "--out", tmp_path / "run")
    assert ran.code == 2 and says in ran.err and not (tmp_path / "run").exists(), ran


@pytest.mark.parametrize("tokens", ["0", "-5"])
def test_generate_refuses_max_new_tokens_below_one(cli, tiny_run, tmp_path, monkeypatch, tokens):
    no_model_loads(monkeypatch)
    ran = cli("generate", tiny_run, lines(tmp_path / "p.jsonl", [{"prompt": "hi"}]), "--max-new-tokens", tokens)
    assert ran.code == 2 and f"--max-new-tokens must be a whole number >= 1, not {tokens}" in ran.err


def test_check_outputs_that_cannot_be_written_are_refused_before_any_work(cli, support_file, tmp_path, monkeypatch):
    from anchortune.app import datasets

    monkeypatch.setattr(datasets, "check_data", lambda *a, **k: pytest.fail("checked before the outputs"))
    folder = tmp_path / "reports"
    folder.mkdir()
    html = cli("check", support_file, "--html", folder)
    assert html.code == 2 and "--html" in html.err and "is a folder" in html.err
    assert list(folder.iterdir()) == [] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    unwritable = cli("check", support_file, "--json", "/proc/anchortune-report.json")  # refused even to root
    assert unwritable.code == 2 and "--json" in unwritable.err and "cannot write in '/proc'" in unwritable.err


def test_a_data_file_the_system_refuses_is_named(cli, tmp_path, monkeypatch):
    hidden = tmp_path / "locked" / "data.jsonl"
    hidden.parent.mkdir()
    lines(hidden, GOOD)
    real_stat = Path.stat

    def stat(self, *args, **kwargs):  # a folder without read permission (root ignores permission bits)
        if self == hidden:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    locked = cli("validate", hidden)
    assert locked.code == 2 and f"{hidden}: cannot be read: Permission denied" in locked.err
    monkeypatch.undo()
    for path, says in (("/proc/1/mem", "cannot be read"), (tmp_path, "is a folder"),
                       ("/dev/null", "is not a regular file")):
        ran = cli("validate", path)
        assert ran.code == 2 and f"{path}: {says}" in ran.err, ran


# successes that were not -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [1, 2])
def test_training_on_too_few_rows_names_the_minimum(cli, tmp_path, tiny_model_dir, rows):
    ran = cli("train", lines(tmp_path / "few.jsonl", GOOD[:rows]), "--model", tiny_model_dir, "--out", tmp_path / "run")
    assert ran.code == 2 and (f"{rows} anchor points are too few" if rows > 1 else "1 anchor point is too few") in ran.err and "at least 4 are needed" in ran.err
    assert not (tmp_path / "run").exists()


def test_a_diverging_run_fails_with_the_reason_and_keeps_nothing(cli, support_file, tiny_model_dir, tmp_path,
                                                                 monkeypatch):
    """A learning rate above 1 is refused before anything starts (the parametrised test above); one within bounds
    can still blow the weights up: the run fails with the reason and what to change, and leaves no folder."""
    from anchortune.train.session import RunSession

    trained = RunSession.fine_tune

    def blown_up(*args, **kwargs):  # what a too-high rate does to the adapter's weights
        result = trained(*args, **kwargs)
        for parameter in result.model.parameters():
            if parameter.requires_grad:
                parameter.data.fill_(float("inf"))
        return result

    monkeypatch.setattr(RunSession, "fine_tune", blown_up)
    ran = cli("train", support_file, "--task", "support", "--model", tiny_model_dir, "--out", tmp_path / "run",
              "--lr", "1", "--max-steps", "2", "--eval-every", "1", "--batch-size", "4", "--precision", "fp32",
              "--force")
    assert ran.code == 4 and "training diverged" in ran.err and "lower --lr" in ran.err, ran
    assert not (tmp_path / "run").exists()


def test_weights_left_nan_by_training_fail_the_run(support_file, tiny_model_dir, tmp_path, monkeypatch):
    from anchortune.app import runs
    from anchortune.config import RunConfig
    from anchortune.errors import RunError
    from anchortune.train.session import RunSession

    trained = RunSession.fine_tune

    def poisoned(*args, **kwargs):  # a loss that stayed finite, weights that did not
        result = trained(*args, **kwargs)
        next(p for p in result.model.parameters() if p.requires_grad).data.view(-1)[:3] = float("nan")
        return result

    monkeypatch.setattr(RunSession, "fine_tune", poisoned)
    cfg = RunConfig.build(data=str(support_file), task="support", model=str(tiny_model_dir), max_steps=1,
                          batch_size=4, precision="fp32")
    with pytest.raises(RunError, match=r"training diverged: 3 of [\d,]+ weights are NaN or infinite"):
        runs.train_run(cfg, tmp_path / "run", force=True)
    assert not (tmp_path / "run").exists()


def test_json_the_project_writes_is_valid_even_holding_a_nan(tmp_path):
    from anchortune.run_folder import RunFolder

    folder = RunFolder(tmp_path)
    folder.write_json(tmp_path / "summary.json", {"losses": {"base": float("nan"), "tuned": [float("inf"), 1.5]}})
    folder.append_metric({"step": 1, "train_loss": float("nan")})

    def refuse(constant):
        raise ValueError(constant)

    assert json.loads((tmp_path / "summary.json").read_text(), parse_constant=refuse) == \
        {"losses": {"base": None, "tuned": [None, 1.5]}}
    assert json.loads(folder.metrics.read_text(), parse_constant=refuse) == {"step": 1, "train_loss": None}


@pytest.mark.parametrize("damage,says", [("no model", "has no merged model"),
                                         ("cut weights", "model.safetensors' is damaged"),
                                         ("bad adapter", "adapter_model.safetensors' is damaged"),
                                         ("bad model config", "model/config.json' is damaged"),
                                         ("bad tokenizer", "tokenizer.json' is damaged"),
                                         ("changed data", "support.jsonl' is damaged")])
@pytest.mark.parametrize("command", ["eval", "generate", "chat", "export"])
def test_every_reading_command_names_the_broken_file_before_loading_a_model(cli, tiny_run, tmp_path, monkeypatch,
                                                                            damage, says, command):
    run = copy_run(tiny_run, tmp_path / "run")
    if damage == "no model":
        shutil.rmtree(run / "model")
    elif damage == "cut weights":
        weights = run / "model" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:5000])
    elif damage == "bad adapter":
        (run / "adapter" / "adapter_model.safetensors").write_bytes(b"garbage")
    elif damage == "bad model config":
        (run / "model" / "config.json").write_text('{"model_type": ')
    elif damage == "bad tokenizer":
        (run / "model" / "tokenizer.json").write_bytes(b"\x00" * 100)
    else:
        with (run / "data" / "support.jsonl").open("a") as handle:
            handle.write(json.dumps(GOOD[0]) + "\n")
    no_model_loads(monkeypatch)
    prompts = lines(tmp_path / "p.jsonl", [{"prompt": "hi"}])
    args = {"eval": [run], "generate": [run, prompts], "chat": [run], "export": [run, "--format", "merged"]}[command]
    ran = cli(command, *args, stdin="hello\n")
    assert ran.code == 4 and says in ran.err, ran
    assert not (run / "eval.json").exists() and not (run / "exports").exists()


def test_eval_refuses_a_limit_below_one(cli, tiny_run, monkeypatch):
    no_model_loads(monkeypatch)
    ran = cli("eval", tiny_run, "--limit", "0")
    assert ran.code == 2 and "--limit must be a whole number >= 1, not 0" in ran.err


def test_a_csv_header_naming_a_column_twice_is_refused(cli, tmp_path):
    data = tmp_path / "sheet.csv"
    data.write_text("prompt,answer,prompt\nWhere is it?,On its way.,x\n", encoding="utf-8")
    ran = cli("validate", data)
    assert ran.code == 2 and "line 1, field 'prompt'" in ran.err and "column 'prompt' twice (columns 1 and 3)" in ran.err


def test_extra_cells_in_a_csv_row_are_refused(cli, tmp_path):
    data = tmp_path / "sheet.csv"
    data.write_text("prompt,answer\nWhere is it?,On its way,today\nAnd now?,Here.\n", encoding="utf-8")
    ran = cli("validate", data)
    assert ran.code == 2 and "line 2: the row has 3 cells, the header 2" in ran.err and "'today'" in ran.err


@pytest.mark.parametrize("value", ["0", "-5"])
def test_check_refuses_a_max_length_below_16(cli, support_file, value):
    ran = cli("check", support_file, "--max-length", value)
    assert ran.code == 2 and f"--max-length must be a whole number >= 16 and <= 1048576, not {value}" in ran.err


def test_300_problems_are_counted_as_300(tmp_path):
    data = lines(tmp_path / "bad.jsonl", [{"prompt": n, "completion": "x"} for n in range(300)])
    with pytest.raises(DataError) as caught:
        __import__("anchortune.data.loading", fromlist=["x"]).load_anchor_points(data)
    assert str(caught.value).startswith("300 problems") and "... and 280 more problems" in str(caught.value)


# input lost ------------------------------------------------------------------------------------------------------
def test_check_fix_refuses_to_write_onto_its_input(cli, tmp_path):
    data = lines(tmp_path / "clean.jsonl", GOOD)
    before = data.read_bytes()
    ran = cli("check", data, "--fix", data)
    assert ran.code == 2 and "--fix" in ran.err and "is the file this command reads" in ran.err
    beside = lines(tmp_path / "x.review.jsonl", GOOD)  # --fix x.jsonl would write its review file onto it
    ran = cli("check", beside, "--fix", tmp_path / "x.jsonl")
    assert ran.code == 2 and "review file" in ran.err
    assert data.read_bytes() == before and beside.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.jsonl", "x.review.jsonl"]


# cost ------------------------------------------------------------------------------------------------------------
def test_a_50_mb_line_is_refused_in_bounded_memory(cli, tmp_path):
    from anchortune.data.loading import load_anchor_points

    data = tmp_path / "big.jsonl"
    with data.open("w") as handle:
        handle.write('{"prompt": "' + "x" * 50_000_000 + '", "completion": "y"}\n')
        handle.write(json.dumps(GOOD[0]) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="line 1: the line is 50,000,034 bytes long; at most 1,048,576"):
            load_anchor_points(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak:,} bytes held for a 50 MB line"
    ran = cli("check", data)
    assert ran.code == 2 and "line 1: the line is 50,000,034 bytes long" in ran.err


def test_check_holds_the_rows_it_keeps_not_the_file(cli, tmp_path, tiny_model_dir):
    from anchortune.data.loading import load_anchor_points, sample_anchor_points

    data = lines(tmp_path / "many.jsonl", [{"prompt": f"{g['prompt']} ({n})", "completion": g["completion"]}
                                           for n in range(4000) for g in GOOD[:1]])
    tracemalloc.start()
    try:
        kept, rows = sample_anchor_points(data, 40)
        sampled = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        everything = load_anchor_points(data)
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 4000 and len(kept) == 40 and [p.line for p in kept] == sorted({p.line for p in kept})
    assert sampled * 10 < whole and len(everything) == 4000
    ran = cli("check", data, "--model", tiny_model_dir, "--max-rows", "40", "--json", tmp_path / "r.json")
    assert ran.code in (0, 5) and "judged a seeded sample of 40 of the file's 4,000 rows" in ran.out
    assert json.loads((tmp_path / "r.json").read_text())["size"]["rows_in_file"] == 4000
    refused = cli("check", data, "--model", tiny_model_dir, "--max-rows", "40", "--fix", tmp_path / "fixed.jsonl")
    assert refused.code == 2 and "--fix writes a cleaned copy of every row" in refused.err


def test_a_moved_run_reads_its_own_copy_of_the_data(cli, tiny_run, tmp_path):
    from anchortune.run_folder import RunFolder

    moved = copy_run(tiny_run, tmp_path / "elsewhere" / "run")
    cfg = RunFolder(moved).check_finished()
    assert Path(cfg.data) == moved / "data" / "support.jsonl"
    assert "data: data/support.jsonl" in (moved / "config.yaml").read_text()  # relative to the folder
    ran = cli("export", moved, "--format", "merged", "--no-check", "--out", tmp_path / "served")
    assert ran.code == 0 and (tmp_path / "served" / "config.json").is_file(), ran


def test_a_prompt_longer_than_the_context_is_refused_before_generation(cli, tiny_run, tmp_path):
    prompts = lines(tmp_path / "p.jsonl", [{"prompt": "hi"}, {"prompt": "where is it " * 2000}])
    ran = cli("generate", tiny_run, prompts, "--out", tmp_path / "answers.jsonl")
    assert ran.code == 2 and "line 2: the prompt is" in ran.err and "the model reads 1,024" in ran.err
    assert not (tmp_path / "answers.jsonl").exists()
    chat = cli("chat", tiny_run, stdin="x" * 50_000 + "\nhello\n\n")
    assert chat.code == 0 and "not sent" in chat.err and chat.out.count("model>") == 1


@pytest.mark.parametrize("n", ["-3", "0"])
def test_demo_data_refuses_a_count_below_one(cli, tmp_path, n):
    """Not a traceback (a negative count) nor the default set written silently (zero)."""
    ran = cli("demo-data", "support", tmp_path / "demo.jsonl", "--n", n)
    assert ran.code == 2 and f"--n must be a whole number >= 1, not {n}" in ran.err, ran
    assert not (tmp_path / "demo.jsonl").exists()
