"""One rule for every command, checked over generated input (Hypothesis): whatever anchor-point files, option values
and broken run folders a user hands `validate`, `check`, `train`, `eval`, `generate`, `chat` and `export`, the command
ends with an exit code the README documents, no traceback reaches the user, nothing half-written remains, and no
input is modified.

The examples are drawn the same on every run (a fixed seed, no example database) and bounded in number (80, about
10 s on one core), and a failure is reported as drawn, not shrunk; the run folder the reading commands get is a copy
of one tiny run trained once per session, broken file by file. `--hypothesis-show-statistics` shows which exit codes
each command took.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, event, given, seed, settings
from hypothesis import strategies as st

from anchortune.data.demo_support import support_demo

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("validate", "check", "train", "eval", "generate", "chat", "export")
GOOD_ROWS = [{"prompt": p.prompt, "completion": p.answer, "label": p.label} for p in support_demo(n_per_intent=3)]
INTS = ["0", "-5", "1", "2", "abc", "1e3", "99999999999999999999"]
FLOATS = ["0", "-1", "inf", "-inf", "nan", "1e309", "1e-3", "0.5", "1e30", "abc"]
RUN_FILES = ["config.yaml", "sha256.json", "data/support.jsonl", "model/config.json", "model/model.safetensors",
             "model/tokenizer.json", "model/tokenizer_config.json", "model/chat_template.jinja",
             "adapter/adapter_config.json", "adapter/adapter_model.safetensors", "summary.json"]
DAMAGES = ["delete", "empty", "truncate", "nul", "append", "json"]


def documented_exit_codes() -> set[int]:
    """The codes in the README's exit-code table."""
    table = (ROOT / "README.md").read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(code) for row in re.findall(r"^\| ([\d, ]+) \|", table, re.M) for code in row.split(",")}


# what the user hands the command -----------------------------------------------------------------------------------
json_rows = st.one_of(
    st.sampled_from(GOOD_ROWS),
    st.fixed_dictionaries({"prompt": st.text(max_size=30), "completion": st.text(max_size=30)}),
    st.fixed_dictionaries({"messages": st.just([{"role": "assistant", "content": "Hello!"},
                                                {"role": "user", "content": "Where is my order?"},
                                                {"role": "assistant", "content": "On its way."}])}),
    st.fixed_dictionaries({"text": st.text(max_size=20), "label": st.sampled_from(["a", "b", 3, None, []])}),
    st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=3), st.text(max_size=10)),
)
csv_cells = st.text(alphabet=st.sampled_from(list('ab ,;"\n\tß')), max_size=12)


OUTPUTS = ["@out/FILE", "INPUT", "@afolder", "/proc/FILE", "@afile/FILE"]  # fresh, the input, a folder, unwritable
PROMPTS = st.lists(st.one_of(st.fixed_dictionaries({"prompt": st.text(max_size=20)}),
                             st.just({"messages": [{"role": "assistant", "content": "hi"}]}),
                             st.just({"prompt": "x " * 300_000}), st.integers()), min_size=1, max_size=3)
CHOICES = [b'{"question": "2+2?", "choices": ["3", "4"], "answer": "B"}\n',
           b'{"question": "2+2?", "choices": "34", "answer": "Z"}\n', b"[1]\n", b"\xff\n"]
# per command: its arguments when all is well, and what a user may type instead, flag by flag
BASE = {"validate": ["DATA"], "check": ["DATA", "--model", "TINY"],
        "train": ["DATA", "--model", "TINY", "--precision", "fp32", "--out", "@out/run", "--max-steps", "1",
                  "--batch-size", "4"],
        "eval": ["@run", "--limit", "1"], "generate": ["@run", "@prompts.jsonl", "--max-new-tokens", "2"],
        "chat": ["@run"], "export": ["@run", "--format", "merged", "--no-check"]}
TWISTS = {
    "validate": {"--delimiter": [",", ";", "tab", ";;"], "--input-col": ["prompt", "nope"]},
    "check": {"--task": ["support", "nope"], "--max-length": INTS + ["16", "1048577"], "--max-rows": INTS + ["5"],
              "--json": OUTPUTS, "--html": OUTPUTS, "--fix": OUTPUTS, "--model": ["@afolder", "@afile", "nope"]},
    "train": {"--lr": FLOATS, "--epochs": FLOATS, "--batch-size": INTS + ["4097"], "--max-length": INTS + ["16"],
              "--seed": INTS, "--method": ["full", "qlora"], "--max-steps": ["0", "-1", "abc", "10000001"],
              "--out": ["@afile", "@full", "@afile/run", "@empty"], "--force": [""],
              "--model": ["@afolder", "@afile", "nope"]},
    "eval": {"--limit": ["0", "-3", "abc", "2"], "--data": ["DATA"], "--choices": ["@choices.jsonl"],
             "--general-text": ["@afolder", "/proc/1/mem", "@missing.txt", "@choices.jsonl"]},
    "generate": {"--max-new-tokens": ["0", "-5", "abc", "100000"], "--out": OUTPUTS, "--task": ["support", "nope"]},
    "chat": {"--task": ["support", "nope"]},
    "export": {"--format": ["onnx", ""], "--quant": ["f16", "bf16", "q8_0", "zz"],
               "--out": ["@out/export", "@afile", "@full"]},
}
DATA_KINDS = ["good", "good", "good", "jsonl", "jsonl", "csv", "few", "empty", "long", "bytes", "folder", "path"]


@st.composite
def anchor_file(draw) -> tuple[str, bytes | None]:
    """(name, content) of an anchor-point file in the sandbox; content None: a folder of that name; a name starting
    with '/': a path of the system (content unused)."""
    kind = draw(st.sampled_from(DATA_KINDS))
    if kind == "good":
        return "data.jsonl", "".join(json.dumps(r) + "\n" for r in GOOD_ROWS).encode()
    if kind in ("jsonl", "few"):
        rows = draw(st.lists(json_rows, min_size=1, max_size=3 if kind == "few" else 12))
        good = GOOD_ROWS if kind == "jsonl" and draw(st.booleans()) else []
        return "data.jsonl", "".join(json.dumps(r) + "\n" for r in good + rows).encode()
    if kind == "csv":
        header = draw(st.lists(st.sampled_from(["prompt", "answer", "label", "x", ""]), min_size=1, max_size=4))
        rows = draw(st.lists(st.lists(csv_cells, max_size=5), max_size=6))
        return "data.csv", "\n".join(",".join(r) for r in [header, *rows]).encode()
    if kind == "empty":
        return "data.jsonl", draw(st.sampled_from([b"", b"\n \n", b"\xef\xbb\xbf"]))
    if kind == "long":  # one line past the 1 MiB bound among good ones
        return "data.jsonl", (json.dumps({"prompt": "x" * (1 << 20), "completion": "y"}) + "\n").encode() + \
            "".join(json.dumps(r) + "\n" for r in GOOD_ROWS[:6]).encode()
    if kind == "bytes":
        return "data.jsonl", draw(st.binary(max_size=60))
    if kind == "folder":
        return "data.jsonl", None
    return draw(st.sampled_from(["/proc/1/mem", "/dev/null", "/nonexistent/data.jsonl"])), b""


@dataclass
class Case:
    """A command with its arguments ('@name': a path in the sandbox, 'TINY': the tiny model), the files it is
    handed, the damages done to its copy of the tiny run, what it reads from stdin, and the files inside the run it
    may change when it succeeds."""

    command: str
    args: list = field(default_factory=list)
    files: dict = field(default_factory=dict)  # name in the sandbox -> bytes, or None for a folder
    run: list = field(default_factory=list)  # [(file in the run, damage)]
    stdin: str = ""
    writes: tuple = ()

    def __repr__(self) -> str:  # the files by their start: a failing example reads in a few lines
        files = {n: None if c is None else c[:120] + (b"..." if len(c) > 120 else b"") for n, c in self.files.items()}
        return f"Case({self.args}, files={files}, run damages={self.run}, stdin={self.stdin[:80]!r})"


@st.composite
def cases(draw) -> Case:
    """A command as a user might run it: the arguments that work, a few of them (or none) replaced by what a user
    may type, over a generated anchor-point file or a copy of the tiny run with generated damage. Only what the
    command reads is drawn, so that no two examples differ in what it never sees."""
    command = draw(st.sampled_from(COMMANDS))
    args = [command, *BASE[command]]
    for flag in draw(st.lists(st.sampled_from(sorted(TWISTS[command])), max_size=2, unique=True)):
        value = draw(st.sampled_from(TWISTS[command][flag]))
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag] if flag == "--force" else [flag, value]
    files: dict = {}
    if "DATA" in args:
        name, content = draw(anchor_file())
        data = name if name.startswith("/") else "@" + name
        files.update({} if name.startswith("/") else {name: content})
        kinds = {"--json": "json", "--html": "html"}  # --fix and generate's --out write JSONL
        args = [data if a == "DATA" else a.replace("FILE", f"out-{i}.{kinds.get(args[i - 1], 'jsonl')}")
                .replace("INPUT", data) if "FILE" in a or a == "INPUT" else a for i, a in enumerate(args)]
    damages, stdin = [], ""
    if command in ("eval", "generate", "chat", "export"):
        args[1] = draw(st.sampled_from(["@run"] * 8 + ["@empty", "@missing", "@afile"]))
        if args[1] == "@run":
            damages = draw(st.one_of(st.just([]), st.lists(st.tuples(st.sampled_from(RUN_FILES),
                                                                     st.sampled_from(DAMAGES)), min_size=1,
                                                           max_size=2)))
    if "@choices.jsonl" in args:
        files["choices.jsonl"] = draw(st.sampled_from(CHOICES))
    if command == "generate":
        files["prompts.jsonl"] = "".join(json.dumps(p) + "\n" for p in draw(PROMPTS)).encode()
        args = [a.replace("FILE", "answers.jsonl").replace("INPUT", "@prompts.jsonl") for a in args]
    if command == "chat":
        lines = draw(st.lists(st.one_of(st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=20),
                                        st.just("x" * 10_000)), max_size=2))
        stdin = "\n".join(lines) + "\n"
    writes = {"eval": ("eval.json", "eval.md"), "export": ("exports.json",)}.get(command, ())
    return Case(command, args, files, damages, stdin, writes)


# what must hold after it ----------------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, str]:
    """Every path under root: a file by its SHA-256, a folder as 'folder'."""
    return {str(p.relative_to(root)): "folder" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def damage(path: Path, how: str) -> None:
    if not path.exists():
        return
    if how == "delete":
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "nul":
        path.write_bytes(b"\x00" * max(1, path.stat().st_size))
    elif how == "append":
        path.write_bytes(path.read_bytes() + b"\x00garbage")
    else:
        path.write_bytes(b"{}")


def strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def prepare(case: Case, root: Path, tiny_run: Path, tiny_model: Path) -> list[str]:
    """Lay the case's files out in the sandbox `root` (beside a file, a folder with a file and an empty folder that
    outputs may name); its arguments with sandbox and model paths filled in."""
    (root / "afolder").mkdir()
    (root / "afolder" / "keep.txt").write_text("someone's file")
    (root / "afile").write_text("someone's file")
    (root / "full").mkdir()
    (root / "full" / "keep.txt").write_text("someone's file")
    (root / "empty").mkdir()
    for name, content in case.files.items():
        (root / name).mkdir() if content is None else (root / name).write_bytes(content)
    shutil.copytree(tiny_run, root / "run", ignore=shutil.ignore_patterns("checkpoints"))
    for name, how in case.run:
        damage(root / "run" / name, how)
    return [str(tiny_model) if a == "TINY" else str(root / a[1:]) if a.startswith("@") else a for a in case.args]


@seed(38)
@settings(max_examples=80, derandomize=False, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(case=cases())
def test_every_command_ends_in_a_documented_code_without_traceback_damage_or_leftovers(case, cli, tiny_run,
                                                                                       tiny_model_dir,
                                                                                       tmp_path_factory):
    root = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp(), prefix="case-"))
    try:
        args = prepare(case, root, tiny_run, tiny_model_dir)
        before = snapshot(root)
        ran = cli(*args, stdin=case.stdin)  # an exception escaping the command fails here: a user's traceback
        after = snapshot(root)
        event(f"{case.command} exits {ran.code}")
        assert ran.code in documented_exit_codes(), (args, ran)
        assert "Traceback" not in ran.out + ran.err, (args, ran)
        allowed = {f"run/{name}" for name in case.writes} if ran.code == 0 else set()
        changed = [p for p, digest in before.items() if after.get(p) != digest and p not in allowed]
        assert not changed, f"{args}: changed or removed what it was handed: {changed}\n{ran}"
        new = [p for p in after if p not in before]
        if ran.code != 0:
            assert not new, f"{args}: failed ({ran.code}) and left {new}\n{ran}"
        assert not [p for p in new if Path(p).name.startswith(".")], f"{args}: left temporary files {new}"
        for p in new:  # what a command writes is whole: JSON that every reader takes
            if p.endswith(".json"):
                strict_json((root / p).read_text())
            elif p.endswith(".jsonl"):
                [strict_json(line) for line in (root / p).read_text().splitlines() if line.strip()]
    finally:
        shutil.rmtree(root, ignore_errors=True)
