"""User errors in German: every error a person can cause outside the data readers (an option out of range, a model
that is nowhere, a damaged run folder, a grader that does not parse, a run that does not fit) has a catalogue copy of
its English, so `describe("de")` writes it in German, the user's own text in it as it is, and `str()` still gives
the English exactly as the code writes it.

The first test reads the source itself: every message an AnchortuneError (or a subclass, wherever it is declared) or
a Problem is built with, as an f-string or a plain string, is filled with sample values and must come back German
with no catalogue English left. A new message without its catalogue copy fails here, named by module and line."""

from __future__ import annotations

import ast
import itertools
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import anchortune
from anchortune.errors import AnchortuneError, ConfigError, DataError, ModelError, RunError
from anchortune.messages import template, translate, untranslated

PACKAGE = Path(anchortune.__file__).parent
SKIPPED = {"messages"}  # the catalogue itself; the data readers' Problems are scanned here too
SAMPLE = 3  # every value a message places: a number fits a number's placeholder and a text's alike
MAX_VARIANTS = 16

# (module, the message with each value as {}): why it cannot be checked by a sample
ALLOWED = {
    ("evaluate/graders.py", "{}.calculate_output: {}"):
        "only a field name and the formula's own error: no words of its own to translate (the error inside is a "
        "catalogue sentence, see test_a_grader_that_does_not_parse_is_named_in_german)",
    ("train/preflight.py", "this run does not fit: {}. {}"):
        "its values are the preflight estimate (log_preflight's sentence without its head) and the advice, which "
        "a sample cannot stand for (see test_a_run_that_does_not_fit_is_refused_in_german)",
}


def _subclasses(cls: type) -> set[type]:
    return {cls}.union(*(_subclasses(sub) for sub in cls.__subclasses__()))


def _modules() -> dict[str, ast.Module]:
    return {path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py")) if path.relative_to(PACKAGE).parts[0] not in SKIPPED}


def _error_classes(trees) -> set[str]:
    """Names of AnchortuneError and its subclasses: those errors.py declares, and any class statement anywhere in
    the package whose base is one of them (GraderError in evaluate/graders.py)."""
    known = {cls.__name__ for cls in _subclasses(AnchortuneError)}
    bases = {node.name: {_name(b) for b in node.bases} for tree in trees for node in ast.walk(tree)
             if isinstance(node, ast.ClassDef)}
    while True:
        more = {name for name, of in bases.items() if of & known} - known
        if not more:
            return known
        known |= more


def _name(node) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _message(call: ast.Call, classes: set[str]) -> ast.expr | None:
    """The message an error or a Problem is built with, where it is a string or an f-string."""
    name = _name(call.func)
    if name in classes:
        found = call.args[0] if call.args else None
    elif name == "Problem":
        found = call.args[3] if len(call.args) > 3 else next((k.value for k in call.keywords if k.arg == "message"),
                                                             None)
    else:
        return None
    text = isinstance(found, ast.Constant) and isinstance(found.value, str)
    return found if text or isinstance(found, ast.JoinedStr) else None


def _local_texts(function) -> dict[str, ast.expr]:
    """Names a function binds once, by a plain assignment, to a string, an f-string or a choice of them (`more =
    " or pass --resume" if ... else ""`): a message that places such a name is checked with what it holds."""
    if function is None:
        return {}
    stores = [n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    stores += [a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)]
    assigned = {node.targets[0].id: node.value for node in ast.walk(function)
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)}
    return {name: value for name, value in assigned.items() if stores.count(name) == 1 and _texts(value, {})}


def _texts(node, local: dict) -> list | None:
    """The texts an expression can be, where the source says (a string, an f-string, a conditional or `or` between
    them, a local name bound to one, a catalogue sentence by `say`); None where it is a value known only at run
    time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return _fill(node, local)
    if isinstance(node, ast.IfExp) or isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        branches = [node.body, node.orelse] if isinstance(node, ast.IfExp) else node.values
        options = [_texts(branch, local) for branch in branches]
        return [t for found in options for t in (found or [SAMPLE])] if any(options) else None
    if isinstance(node, ast.Name) and node.id in local:
        return _texts(local[node.id], local)
    key = node.args[0] if isinstance(node, ast.Call) and _name(node.func) == "say" and node.args else None
    if isinstance(key, ast.Constant):
        return [re.sub(r"\{\w+\}", str(SAMPLE), template(key.value))]
    return None


def _fill(node: ast.JoinedStr, local: dict) -> list[str]:
    """The f-string with every value a sample (or each text it can be), each conversion and format applied."""
    parts = []
    for part in node.values:
        if isinstance(part, ast.Constant):
            parts.append([part.value])
            continue
        spec = _fill(part.format_spec, local)[0] if part.format_spec is not None else ""
        shown = []
        for value in _texts(part.value, local) or [SAMPLE]:
            value = {ord("r"): repr, ord("a"): ascii, ord("s"): str}.get(part.conversion, lambda v: v)(value)
            try:
                shown.append(format(value, spec))
            except (TypeError, ValueError):
                shown.append(str(value))
        parts.append(shown)
    return list(dict.fromkeys("".join(chosen) for chosen in itertools.islice(itertools.product(*parts), MAX_VARIANTS)))


def _shape(node) -> str:
    """The message with each value as {}: how the allow-list names it (line numbers move, words rarely)."""
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(p.value if isinstance(p, ast.Constant) else "{}" for p in node.values)


def _sites() -> dict[str, tuple[str, list[str]]]:
    """'module:line' -> (the message's shape, its sample English texts) for every error and Problem message."""
    trees = _modules()
    classes = _error_classes(trees.values())
    sites = {}
    for module, tree in trees.items():
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in ast.walk(tree):
            message = _message(node, classes) if isinstance(node, ast.Call) else None
            if message is None:
                continue
            enclosing = min((f for f in functions if f.lineno <= node.lineno <= f.end_lineno),
                            key=lambda f: f.end_lineno - f.lineno, default=None)
            sites[f"{module}:{node.lineno}"] = (_shape(message), _texts(message, _local_texts(enclosing)))
    return sites


SITES = _sites()


def test_the_source_holds_the_messages_this_test_reads():
    assert len(SITES) > 100  # a change in how errors are raised would otherwise leave nothing to check
    shapes = {(site.split(":")[0], shape) for site, (shape, _) in SITES.items()}
    assert set(ALLOWED) <= shapes, set(ALLOWED) - shapes  # an allowed message that is gone leaves the list


CHECKED = sorted(site for site, (shape, _) in SITES.items() if (site.split(":")[0], shape) not in ALLOWED)


@pytest.mark.parametrize("site", CHECKED)  # the allow-list's messages have their own tests below
def test_every_user_error_has_its_german(site):
    _, samples = SITES[site]
    for english in samples:
        german = translate(english, "de")
        assert german != english, f"{site}: no catalogue sentence for {english!r}"
        assert untranslated(german) == [], (site, german, untranslated(german))


def _in_german(error: AnchortuneError) -> str:
    german = error.describe("de")
    assert german != str(error) and untranslated(german) == [], (str(error), german)
    assert error.describe("en") == str(error)
    return german


def test_bad_run_options_are_named_in_german_and_their_english_is_kept():
    from anchortune.config import RunConfig

    with pytest.raises(ConfigError) as refused:
        RunConfig.build(data="x.jsonl", learning_rate=-1)
    assert str(refused.value) == "invalid run options: --lr must be a finite number > 0 and <= 1, not -1"
    assert _in_german(refused.value) == "ungültige Laufoptionen: --lr muss eine endliche Zahl > 0 und <= 1 sein, nicht -1"
    with pytest.raises(ConfigError) as refused:
        RunConfig.build(data="x.jsonl", method="qlora", epochs=0, delimiter="ab", gradient_checkpointing="maybe",
                        bogus=1)
    assert _in_german(refused.value) == (
        "ungültige Laufoptionen: --delimiter muss ein Zeichen sein, nicht 'ab'; --method muss eines von lora, full "
        "sein, nicht 'qlora'; --epochs muss eine endliche Zahl > 0 und <= 1000 sein, nicht 0; "
        "--gradient-checkpointing muss true oder false sein, nicht 'maybe'; unbekannte Option „bogus“")


def test_a_model_that_is_nowhere_is_named_in_german_with_every_place_looked_at():
    from anchortune.models.loading import resolve_model

    with pytest.raises(ModelError) as refused:
        resolve_model("no-such-model")
    assert str(refused.value).startswith("model 'no-such-model' not found; tried catalog name (known: ")
    german = _in_german(refused.value)
    assert german.startswith("Modell „no-such-model“ nicht gefunden; versucht: Katalogname (bekannt: "), german
    assert german.endswith("; lokaler Ordner „no-such-model“ (nicht gefunden); lokale .gguf-Datei (nicht gefunden)")


def test_a_damaged_run_config_is_named_in_german_with_what_is_wrong_inside(tmp_path):
    from anchortune.run_folder import RunFolder

    with pytest.raises(RunError) as refused:
        RunFolder(tmp_path / "nothing").load_config()
    assert _in_german(refused.value).endswith("“ gibt es nicht; erwartet war der Ordner eines Laufs (`anchortune train "
                                              "--out`)")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError) as refused:
        RunFolder(tmp_path / "empty").load_config()
    assert _in_german(refused.value).endswith("“ ist kein Laufordner (keine config.yaml)")
    (tmp_path / "config.yaml").write_text("- a\n- b\n")
    with pytest.raises(RunError) as refused:
        RunFolder(tmp_path).load_config()
    assert "(erwartet waren die Optionen des Laufs, eine je Zeile, gefunden: eine Liste); wiederherstellen oder neu " \
           "trainieren" in _in_german(refused.value)
    (tmp_path / "config.yaml").write_text("data: x.jsonl\nlearning_rate: 0\n")
    with pytest.raises(RunError) as refused:
        RunFolder(tmp_path).load_config()
    assert f"{tmp_path / 'config.yaml'}' is damaged: the run's config cannot be read (invalid run options: " \
           "--lr must be a finite number > 0 and <= 1, not 0); restore it or train again" in str(refused.value)
    assert _in_german(refused.value) == (
        f"„{tmp_path / 'config.yaml'}“ ist beschädigt: die Konfiguration des Laufs lässt sich nicht lesen "
        "(ungültige Laufoptionen: --lr muss eine endliche Zahl > 0 und <= 1 sein, nicht 0); wiederherstellen oder neu "
        "trainieren")


def test_a_grader_that_does_not_parse_is_named_in_german():
    from anchortune.evaluate import graders

    check = {"type": "string_check", "name": "same", "operation": "eq"}
    for spec, german in (({"type": "multi", "graders": {"same": check}, "calculate_output": "same +"},
                          "grader.calculate_output: „same +“ ist keine Formel"),
                         ({"type": "multi", "graders": {"same": {**check, "operation": "is"}}},
                          "grader.graders.same.operation: erwartet eines von eq, ne, like, ilike, erhalten: 'is'"),
                         ('{"type": ', "grader: kein JSON (Expecting value in Zeile 1, Spalte 10)")):
        with pytest.raises(ConfigError) as refused:
            graders.parse(spec)
        assert _in_german(refused.value) == german


def test_bad_multiple_choice_items_are_named_in_german(tmp_path):
    from anchortune.evaluate.retention import read_choices

    two = ["a", "b"]
    items = [[1], {"question": "q"}, {"question": 3, "choices": two, "answer": "A"},
             {"question": "q", "choices": ["a"], "answer": "A"}, {"question": "q", "choices": two, "answer": "C"},
             {"question": "q" * 9000, "choices": two, "answer": "A"}]
    path = tmp_path / "choices.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    with pytest.raises(DataError) as refused:
        read_choices(path, 10)
    assert len(refused.value.problems) == len(items)
    for problem in refused.value.problems:
        german = translate(problem.message, "de")
        assert german != problem.message and untranslated(problem.describe("de")) == [], problem
    _in_german(refused.value)


def test_a_run_that_does_not_fit_is_refused_in_german(monkeypatch):
    from anchortune.config import RunConfig
    from anchortune.data import loading as data_loading
    from anchortune.models import loading as model_loading
    from anchortune.train import preflight

    gib = preflight.GIB
    unfit = preflight.Estimate(10**9, 10**6, 2 * gib, 1 * gib, 40 * gib, 44 * gib, 16 * gib,
                               "CPU (1 process sharing 16 GiB available)", 5400.0, 10**6, 3000.0, 600.0, 300.0)
    point = SimpleNamespace(messages=[{"content": "Where is my order?"}, {"content": "It ships today."}])
    monkeypatch.setattr(model_loading, "resolve_model", lambda spec: "model")
    monkeypatch.setattr(model_loading, "load_tokenizer", lambda source: lambda text: SimpleNamespace(input_ids=[1] * 8))
    monkeypatch.setattr(data_loading, "load_anchor_points", lambda *args, **kwargs: [point] * 10)
    monkeypatch.setattr(preflight, "shape", lambda source: {})
    monkeypatch.setattr(preflight, "estimate", lambda *args, **kwargs: unfit)
    cfg = RunConfig.build(data="x.jsonl", max_length=512, batch_size=8, val_fraction=0.2)
    with pytest.raises(RunError) as refused:
        preflight.refuse_unfit(cfg, SimpleNamespace(devices=1, processes=1), cuda=False)
    assert str(refused.value).startswith("this run does not fit: ~44.0 GiB per device (weights 2.0, ")
    german = _in_german(refused.value)
    assert german.startswith("dieser Lauf passt nicht: ~44,0 GiB je Gerät (Gewichte 2,0, Trainingszustand 1,0, "), \
        german
    assert german.endswith("(grob, auf ~3x genau). Zu versuchen: --gradient-checkpointing, eine kleinere "
                           "--micro-batch-size oder --max-length, --strategy fsdp mit mehr --devices"), german
