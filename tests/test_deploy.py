"""The deployment files (deploy/compose.yaml, deploy/Dockerfile) say what the code does: every command a service
runs is an anchortune command with options it has, every ANCHORTUNE_ variable is one the studio reads, and the
store URL names the driver the postgres extra installs. (No container runtime here: compose itself is not run.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _options(command: list[str]) -> set[str]:
    import typer

    from anchortune.cli.main import app

    group = typer.main.get_command(app)
    sub = group.commands[command[1]]
    return {opt for param in sub.params for opt in getattr(param, "opts", [])}


def test_every_service_runs_an_anchortune_command_with_options_it_has():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    commands = [s["command"] for s in compose["services"].values() if "command" in s]
    assert commands and all(c[0] == "anchortune" for c in commands)
    for command in commands:
        known = _options(command)
        used = {part for part in command[2:] if part.startswith("--")}
        assert used <= known, f"{command}: {sorted(used - known)} unknown"
    docker_cmd = re.search(r'^CMD (\[.*\])$', (ROOT / "deploy" / "Dockerfile").read_text(), re.M).group(1)
    command = yaml.safe_load(docker_cmd)
    assert {p for p in command[2:] if p.startswith("--")} <= _options(command)


def test_the_environment_is_what_the_studio_reads_and_the_store_is_postgresql():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    settings = (ROOT / "src" / "anchortune" / "settings.py").read_text()
    for service in ("studio", "worker"):
        env = compose["services"][service]["environment"]
        assert env and all(name in settings for name in env if name.startswith("ANCHORTUNE_"))
        assert env["ANCHORTUNE_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert compose["services"][service]["volumes"] == ["data:/data"] and env["ANCHORTUNE_DATA"] == "/data"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^postgres = \["psycopg', pyproject, re.M)
    assert "'.[postgres,cluster]'" in (ROOT / "deploy" / "Dockerfile").read_text()
