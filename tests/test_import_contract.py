"""The import contract in .importlinter holds: shells (cli, api) -> app -> recipes -> domain -> config, settings,
errors, with no cycles between the layers, and the shells reach the recipes and the domain only through the
application layer. Beyond what import-linter reads: no module of src/ is in an import circle (imports inside
functions count), the domain never imports or launches the application layer or a recipe (not even through a
module string handed to `python -m`), and the run session is the only module that enters the engine."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "anchortune"
UPPER = ("anchortune.app", "anchortune.recipes")
SHELLS = ("cli", "api", "app", "recipes", "__main__.py")  # what the domain sits below


def test_the_import_contract_is_kept():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint, "--config", str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_no_second_application_layer_remains():
    package = ROOT / "src" / "anchortune"
    assert not (package / "studio.py").exists() and not (package / "service.py").exists()
    assert not (package / "export" / "run_folder.py").exists() and (package / "run_folder.py").is_file()


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The anchortune modules `path` imports, at its top or inside its functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def test_no_module_is_in_an_import_circle():
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for name in graph:
        if name not in index:
            visit(name)
    assert circles == []


def _domain_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in SHELLS]


def _naming_upper(path: Path) -> list[str]:
    """Imports of, and strings naming, the application layer or a recipe in one file (a `python -m` target too)."""
    named = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named += [a.name for a in node.names if a.name.startswith(UPPER)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(UPPER):
            named.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and any(u in node.value for u in UPPER):
            named.append(node.value[:80])
    return named


def test_the_domain_never_imports_or_launches_the_application_layer_or_a_recipe():
    offences = {str(p.relative_to(PACKAGE)): found for p in _domain_files() if (found := _naming_upper(p))}
    assert offences == {}
    assert len(_domain_files()) > 60  # the whole domain was read


def test_a_domain_module_naming_a_recipe_would_be_caught(tmp_path):
    launcher = tmp_path / "launcher.py"
    launcher.write_text('import subprocess, sys\n'
                        'def run(spec):\n'
                        '    subprocess.run([sys.executable, "-m", "anchortune.recipes.launched", spec])\n')
    importer = tmp_path / "importer.py"
    importer.write_text("def f():\n    from anchortune.app.runs import train_run\n    return train_run\n")
    assert _naming_upper(launcher) == ["anchortune.recipes.launched"]
    assert _naming_upper(importer) == ["anchortune.app.runs"]


def test_only_the_run_session_enters_the_engine():
    entering = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "engaged":
                entering.add(str(path.relative_to(PACKAGE)))
    assert entering == {"train/session.py"}
