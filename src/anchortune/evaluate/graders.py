"""Graders as data: OpenAI's grader JSON shapes (`string_check`, `text_similarity`, `python`, `multi`) and
anchortune's task graders (`json_fields`, `label`, `numeric`), each parsed once into a Grader that scores a model's
sample against a dataset row (`item`) with a number in [0, 1] (a python grader's own range).

Templates are OpenAI's: `{{sample.output_text}}`, `{{sample.output_json.FIELD}}` and `{{item.FIELD}}` (dots reach
into nested objects). A grader that raises, times out or gives something that is not a finite number is a
GraderError naming the grader and the sample; a grader that does not parse is a ConfigError naming its field. The
task metrics are evaluate/metrics.py's, reused: field F1 for json_fields, label extraction for label. A python
grader runs its `grade(sample, item)` in a fresh interpreter with CPU-time and memory limits (`run_python`); who may
use one is the application's to decide. Knows nothing about models or training.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field

from anchortune.errors import ConfigError, RunError
from anchortune.evaluate import metrics
from anchortune.messages import say

TYPES = ("string_check", "text_similarity", "json_fields", "label", "numeric", "python", "multi")
OPERATIONS = ("eq", "ne", "like", "ilike")
SIMILARITY = ("rouge_l", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "fuzzy_match", "cosine")
TEMPLATE = re.compile(r"\{\{\s*(sample|item)\.([A-Za-z0-9_.\-]+)\s*\}\}")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
PYTHON_SECONDS = 10.0  # a python grader's CPU time per sample
PYTHON_MEMORY = 1 << 30  # and the memory its process may map (bytes)


class GraderError(RunError):
    """A grader failed on a sample: it raised, ran out of time or memory, or gave no finite number."""

    code = "grader_error"


@dataclass(frozen=True)
class Grader:
    """One parsed grader; `spec` is the JSON it came from (what a job stores and shows back)."""

    type: str
    name: str
    spec: dict
    input: str = "{{sample.output_text}}"
    reference: str = "{{item.reference_answer}}"
    operation: str = "eq"
    metric: str = "rouge_l"
    fields: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    tolerance: float = 0.0
    source: str = ""
    formula: str = ""
    graders: dict = field(default_factory=dict)

    @property
    def uses_python(self) -> bool:
        return self.type == "python" or any(g.uses_python for g in self.graders.values())

    def score(self, sample: str, item: dict) -> float:
        """The reward of one sample (the model's answer) for one row."""
        return self.score_all([sample], [item])[0]

    def score_all(self, samples: list[str], items: list[dict]) -> list[float]:
        """The rewards of samples for their rows (one python process for the lot); GraderError when the grader
        fails on one."""
        if self.type == "python":
            scores = run_python(self.source, samples, items, self.name)
        elif self.type == "multi":
            parts = {name: g.score_all(samples, items) for name, g in self.graders.items()}
            scores = [_formula(self.formula, {n: v[i] for n, v in parts.items()}, self.name) for i in range(len(samples))]
        else:
            scores = [self._one(s, i) for s, i in zip(samples, items)]
        for sample, value in zip(samples, scores):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                shown = value if isinstance(value, str) else repr(value)  # a python grader's comes as its repr
                raise GraderError(f"grader '{self.name}' gave {shown}, not a finite number, for the sample "
                                  f"{_short(sample)!r}")
        return [float(v) for v in scores]

    def _one(self, sample: str, item: dict) -> float:
        given, wanted = render(self.input, sample, item, self.name), render(self.reference, sample, item, self.name)
        if self.type == "string_check":
            return _string_check(self.operation, given, wanted)
        if self.type == "text_similarity":
            return similarity(self.metric, given, wanted)
        if self.type == "json_fields":
            fields = list(self.fields) or list((metrics.parse_json_answer(wanted) or {}).keys())
            return metrics.json_scores([given], [wanted], fields)["field_f1"] if fields else 0.0
        if self.type == "label":
            labels = list(self.labels) or [wanted]
            return float(metrics.extract_label(given, labels) == (metrics.extract_label(wanted, labels) or wanted))
        return numeric_match(given, wanted, self.tolerance)

    def to_json(self) -> dict:
        return dict(self.spec)


def parse(spec, where: str = "grader", allow_python: bool = True) -> Grader:
    """A Grader from OpenAI's JSON shape (a dict, or JSON text); ConfigError naming the field (`grader.operation`)
    and what it takes."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
                              param=where) from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a JSON object with type and name, got {type(spec).__name__}", param=where)
    kind = spec.get("type")
    if kind not in TYPES:
        raise ConfigError(f"{where}.type: expected one of {', '.join(TYPES)}, got {kind!r}", param=f"{where}.type")
    name = _text(spec, "name", where, default=kind)
    common = dict(type=kind, name=name, spec=spec)
    if kind == "python":
        if not allow_python:
            raise ConfigError(f"{where}: {say('e_grader_python_off')}", param=f"{where}.type")
        source = _text(spec, "source", where)
        try:
            tree = compile(source, f"<grader {name}>", "exec", ast.PyCF_ONLY_AST)
        except SyntaxError as exc:
            raise ConfigError(f"{where}.source: line {exc.lineno}: {exc.msg}", param=f"{where}.source") from None
        if not any(isinstance(n, ast.FunctionDef) and n.name == "grade" for n in tree.body):
            raise ConfigError(f"{where}.source: expected a function grade(sample, item) returning a number",
                              param=f"{where}.source")
        return Grader(**common, source=source)
    if kind == "multi":
        return _multi(spec, where, common, allow_python)
    texts = dict(input=_text(spec, "input", where, "{{sample.output_text}}"),
                 reference=_text(spec, "reference", where, "{{item.reference_answer}}"))
    for key, value in texts.items():
        for namespace, path in TEMPLATE.findall(value):
            if namespace == "sample" and path.split(".")[0] not in ("output_text", "output_json"):
                raise ConfigError(f"{where}.{key}: {{{{sample.{path}}}}} is not a sample variable; use "
                                  "{{sample.output_text}} or {{sample.output_json.FIELD}}", param=f"{where}.{key}")
    if kind == "string_check":
        return Grader(**common, **texts, operation=_choice(spec, "operation", OPERATIONS, where))
    if kind == "text_similarity":
        return Grader(**common, **texts, metric=_choice(spec, "evaluation_metric", SIMILARITY, where))
    if kind == "numeric":
        tolerance = spec.get("tolerance", 0.0)
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < math.inf:
            raise ConfigError(f"{where}.tolerance: expected a number >= 0, got {tolerance!r}", param=f"{where}.tolerance")
        return Grader(**common, **texts, tolerance=float(tolerance))
    key = "fields" if kind == "json_fields" else "labels"
    values = spec.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{where}.{key}: expected a list of names, got {values!r}", param=f"{where}.{key}")
    return Grader(**common, **texts, **{key: tuple(values)})


def read_file(path) -> dict:
    """A grader's JSON from a file, checked (`parse`); ConfigError naming the file, and line and column where its
    JSON breaks."""
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--grader '{path}': cannot be read ({type(exc).__name__})", param="grader") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--grader '{path}', line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})",
                          param="grader") from None
    parse(spec, f"grader ({path.name})")
    return spec


def _multi(spec: dict, where: str, common: dict, allow_python: bool) -> Grader:
    graders = spec.get("graders")
    if isinstance(graders, list):  # anchortune also takes a list of named graders
        graders = {g.get("name", f"g{i}") if isinstance(g, dict) else f"g{i}": g for i, g in enumerate(graders)}
    if not isinstance(graders, dict) or not graders:
        raise ConfigError(f"{where}.graders: expected an object of named graders, e.g. {{\"fields\": {{...}}}}",
                          param=f"{where}.graders")
    parsed = {}
    for key, sub in graders.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"{where}.graders.{key}: a grader's key must be a name (letters, digits, _)",
                              param=f"{where}.graders")
        parsed[key] = parse(sub, f"{where}.graders.{key}", allow_python)
    formula = _text(spec, "calculate_output", where, default=" + ".join(parsed) if len(parsed) == 1 else
                    "(" + " + ".join(parsed) + f") / {len(parsed)}")
    try:
        _formula(formula, dict.fromkeys(parsed, 1.0), common["name"])
    except GraderError as exc:
        raise ConfigError(f"{where}.calculate_output: {exc}", param=f"{where}.calculate_output") from None
    return Grader(**common, formula=formula, graders=parsed)


def _text(spec: dict, key: str, where: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key}: expected text, got {value!r}", param=f"{where}.{key}")
    return value


def _choice(spec: dict, key: str, choices: tuple, where: str) -> str:
    value = spec.get(key)
    if value not in choices:
        raise ConfigError(f"{where}.{key}: expected one of {', '.join(choices)}, got {value!r}", param=f"{where}.{key}")
    return value


# templates and measures ------------------------------------------------------------------------------------------
def render(template: str, sample: str, item: dict, name: str = "grader") -> str:
    """A template with its {{sample.*}} and {{item.*}} variables filled in (objects as JSON)."""

    def value(match) -> str:
        namespace, path = match.groups()
        keys = path.split(".")
        if namespace == "sample":
            current = sample if keys[0] == "output_text" else metrics.parse_json_answer(sample) or {}
            keys = keys[1:]
        else:
            current = item
        for key in keys:
            if not isinstance(current, dict) or key not in current:
                if namespace == "item":
                    raise GraderError(f"grader '{name}': {{{{item.{path}}}}} names a field the row does not have "
                                      f"(it has {', '.join(sorted(item)) or 'none'})")
                return ""
            current = current[key]
        return current if isinstance(current, str) else "" if current is None else json.dumps(current)

    return TEMPLATE.sub(value, template)


def _string_check(operation: str, given: str, wanted: str) -> float:
    if operation in ("eq", "ne"):
        return float((given == wanted) == (operation == "eq"))
    if operation == "ilike":
        given, wanted = given.lower(), wanted.lower()
    return float(wanted in given)


def similarity(metric: str, given: str, wanted: str) -> float:
    """text_similarity's measures: ROUGE-L and ROUGE-N F-measure, difflib's fuzzy ratio, embedding cosine."""
    if metric == "rouge_l":
        return metrics.rouge_l(given, wanted)
    if metric.startswith("rouge_"):
        return _rouge_n(given, wanted, int(metric[-1]))
    if metric == "fuzzy_match":
        from difflib import SequenceMatcher

        return SequenceMatcher(None, given, wanted).ratio()
    from anchortune.quality.embeddings import load_embedder

    vectors = load_embedder().embed([given, wanted])
    return max(0.0, float(vectors[0] @ vectors[1]))


def _rouge_n(given: str, wanted: str, n: int) -> float:
    from collections import Counter

    def grams(text):
        tokens = re.findall(r"\w+", text.lower())
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))

    a, b = grams(given), grams(wanted)
    overlap = sum((a & b).values())
    if not overlap:
        return float(not a and not b)
    precision, recall = overlap / sum(a.values()), overlap / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def final_number(text: str) -> float | None:
    """The answer's number: the first after GSM8K's last '####' where there is one, else the last in the text."""
    marked = "####" in text
    found = NUMBER.findall(text.rsplit("####", 1)[1] if marked else text)
    if not found:
        return None
    try:
        return float(found[0 if marked else -1].replace(",", ""))
    except ValueError:
        return None


def numeric_match(given: str, wanted: str, tolerance: float = 0.0) -> float:
    """1 when the sample's final number equals the reference's (within `tolerance`), else 0."""
    a, b = final_number(given), final_number(wanted)
    return float(a is not None and b is not None and abs(a - b) <= tolerance + 1e-9 * max(1.0, abs(b)))


def _formula(formula: str, values: dict, name: str) -> float:
    """A multi grader's calculate_output: + - * / and parentheses over numbers and its graders' names."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError:
        raise GraderError(f"'{formula}' is not a formula") from None

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in values:
            return values[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            right = walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise GraderError(f"grader '{name}': '{formula}' divides by zero")
            return OPERATORS[type(node.op)](walk(node.left), right)
        shown = node.id if isinstance(node, ast.Name) else type(node).__name__
        raise GraderError(f"'{formula}' uses {shown}; a formula takes numbers, + - * / and the names "
                          f"{', '.join(values)}")

    return walk(tree)


OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
             ast.Div: lambda a, b: a / b}


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# the python grader's own process --------------------------------------------------------------------------------
CHILD = """
import json, math, resource, sys
seconds, memory = float(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(seconds), math.ceil(seconds) + 1))
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
job = json.loads(sys.stdin.read())
out, sys.stdout = sys.stdout, sys.stderr  # what the grader prints is not its scores
space = {"__name__": "grader"}
exec(compile(job["source"], "<grader>", "exec"), space)
scores = []
for sample, item in zip(job["samples"], job["items"]):
    value = space["grade"]({"output_text": sample}, item)
    scores.append(value if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value))
out.write(json.dumps(scores))
"""


def run_python(source: str, samples: list[str], items: list[dict], name: str = "python",
               seconds: float = PYTHON_SECONDS, memory: int = PYTHON_MEMORY) -> list:
    """`grade(sample, item)` of a python grader's source over the samples, in a fresh interpreter (isolated mode:
    no user site, no environment paths) limited to `seconds` of CPU per sample and `memory` bytes; GraderError
    with the grader's own last error line when it raises, runs out of time or memory, or prints no scores."""
    import signal
    import subprocess
    import sys

    limit = seconds * max(1, len(samples))
    payload = json.dumps({"source": source, "samples": samples, "items": items})
    try:
        done = subprocess.run([sys.executable, "-I", "-c", CHILD, str(limit), str(memory)], input=payload,
                              capture_output=True, text=True, timeout=limit + 5)
    except subprocess.TimeoutExpired:
        raise GraderError(say("x_graders_time_limit", name=name, limit=f"{limit:g}", n=len(samples),
                              value=f"{seconds:g}")) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {done.returncode}"
        if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            why = "it ran out of CPU time"
        if done.returncode < 0 or "MemoryError" in why:
            why += f" (limits: {limit:g} s of CPU, {memory >> 20} MiB)"
        raise GraderError(f"grader '{name}' failed: {why}")
    try:
        scores = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise GraderError(f"grader '{name}' printed something other than its scores: {_short(done.stdout)!r}") \
            from None
    return scores
