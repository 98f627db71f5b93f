"""The command line in German: --lang de, ANCHORTUNE_LANG or a German locale, for what a command prints (progress,
verdict, the gate's report, errors), with nothing of the catalogue's English left."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from anchortune.cli import console as cli_console
from anchortune.cli.main import app
from anchortune.messages import untranslated

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anchortune", *args], capture_output=True, text=True, timeout=300)


def test_a_training_run_reports_its_progress_and_verdict_in_german(support_file, tiny_model_dir, tmp_path):
    result = runner.invoke(app, ["--lang", "de", "train", str(support_file), "--task", "support", "--model",
                                 str(tiny_model_dir), "--out", str(tmp_path / "run"), "--max-steps", "2",
                                 "--eval-every", "2", "--batch-size", "4", "--precision", "fp32", "--force"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Training mit fp32-Rechnung, 2 Schritte" in out
    assert "Schritt 2: Validierungsverlust" in out  # an evaluation line
    assert "Antwortverlust auf zurückgehaltenen Daten: Basis" in out and "Urteil: " in out
    assert "Laufordner: " in out
    assert out.count("Urteil: ") == 1, out  # the verdict once, in the outcome (not also as a progress line)
    assert untranslated(out) == [], untranslated(out)
    run = tmp_path / "run"
    assert run_language(run / "config.yaml") == "de"  # the run remembers whom it writes for
    report, card = (run / "report.md").read_text(encoding="utf-8"), (run / "README.md").read_text(encoding="utf-8")
    page = (run / "report.html").read_text(encoding="utf-8")
    assert report.startswith("# Laufbericht: support") and "**Urteil: " in report and "| gewählt | " in report
    assert card.startswith("# support-Modell, mit anchortune feinabgestimmt") and "## Herkunft der Daten" in card
    assert "Verlust je Antwort-Token" in card and "Qualitätsprüfung: **" in card
    assert '<html lang="de">' in page and "Belege darunter: die Verluste" in page
    gate = (run / "quality.html").read_text(encoding="utf-8")
    assert '<html lang="de">' in gate and "<h2>Warum</h2>" in gate
    for text in (report, card, page, gate):
        assert untranslated(text) == [], untranslated(text)
    evaluated = runner.invoke(app, ["--lang", "de", "eval", str(run)], env={"COLUMNS": "200"})
    assert evaluated.exit_code == 0, evaluated.output
    assert "Basismodell und feinabgestimmtes Modell werden bewertet" in evaluated.stderr  # piped: a line, no spinner
    written = (run / "eval.md").read_text(encoding="utf-8")
    assert written.startswith("# Auswertung: support auf ") and "| Messgröße | Basis | feinabgestimmt |" in written
    assert "## Was als Nächstes zu schreiben ist" in written and untranslated(written) == [], untranslated(written)
    english = runner.invoke(app, ["validate", str(support_file)])
    assert english.exit_code == 0 and "36 anchor points" in english.output  # the choice lasts one command


def run_language(path) -> str:
    """The language a run folder's config.yaml names."""
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))["language"]


def test_the_files_of_an_english_run_stay_english(support_file, tiny_model_dir, tmp_path):
    """Without --lang a run's files are written as before (report.md, the model card, eval.md)."""
    result = runner.invoke(app, ["train", str(support_file), "--task", "support", "--model", str(tiny_model_dir),
                                 "--out", str(tmp_path / "run"), "--max-steps", "1", "--eval-every", "1",
                                 "--batch-size", "4", "--precision", "fp32", "--force"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    assert run_language(run / "config.yaml") == "en"
    assert (run / "report.md").read_text(encoding="utf-8").startswith("# Run report: support")
    card = (run / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# support model fine-tuned with anchortune") and "## Data lineage" in card
    assert "| base | " in card and "loss per answer token" in card


def test_the_gate_report_its_page_and_a_data_error_are_german(support_file, write_lines, tmp_path):
    page = tmp_path / "report.html"
    report = runner.invoke(app, ["--lang", "de", "check", str(support_file), "--task", "support", "--html", str(page)],
                           env={"COLUMNS": "200"})
    assert report.exit_code == 0, report.output
    assert "Beispiele; Relevanz" in report.output and "was zu tun ist:" in report.output
    assert "HTML-Bericht: " in report.output
    assert untranslated(report.output) == [], untranslated(report.output)
    html = page.read_text(encoding="utf-8")
    assert '<html lang="de">' in html and "<h2>Warum</h2>" in html and "Verteilung nach Label" in html
    assert untranslated(html) == [], untranslated(html)
    bad = write_lines("bad.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": ["x"], "completion": "b"}])
    refused = run_cli("--lang", "de", "validate", str(bad))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "Fehler: 1 Problem in den Ankerpunkten; nichts wurde übernommen" in refused.stderr
    assert "Zeile 2, Feld „prompt“" in refused.stderr


@pytest.mark.parametrize("env, expected", [({"ANCHORTUNE_LANG": "de"}, "de"), ({"LANG": "de_DE.UTF-8"}, "de"),
                                           ({"ANCHORTUNE_LANG": "de_DE.UTF-8"}, "de"), ({"ANCHORTUNE_LANG": "fr"}, "en"),
                                           ({"LC_ALL": "C.UTF-8", "LANG": "de_DE.UTF-8"}, "en"),
                                           ({"LANG": "en_GB.UTF-8"}, "en"), ({}, "en"),
                                           ({"LANG": "en_US.UTF-8", "LANGUAGE": "de:en"}, "de"),  # as gettext
                                           ({"LC_ALL": "C", "LANGUAGE": "de"}, "en"), ({"LANGUAGE": "de"}, "en")])
def test_the_language_comes_from_the_environment_when_not_given(monkeypatch, env, expected):
    for name in ("ANCHORTUNE_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cli_console.choose_language(None)
    assert cli_console.language() == expected


@pytest.mark.parametrize("given", ["de", "DE", "de-DE", "de_DE.UTF-8"])
def test_the_lang_option_takes_a_language_as_people_write_it(given):
    cli_console.choose_language(given)
    try:
        assert cli_console.language() == "de"
    finally:
        cli_console.choose_language(None)


def test_an_unknown_language_is_a_readable_error(support_file):
    result = run_cli("--lang", "fr", "validate", str(support_file))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: --lang: expected en or de, not 'fr'" in result.stderr


@pytest.mark.parametrize("args, german, english", [
    (["train", "x.jsonl", "--epochs", "abc"],
     "Fehler: Ungültiger Wert für '--epochs': Erwartet wird eine Zahl mit Dezimalpunkt (0.1, nicht 0,1); der Text "
     "lässt sich nicht als Zahl lesen",
     "error: Invalid value for '--epochs': Input should be a valid number"),
    (["train", "x.jsonl", "--epocs", "3"], "Fehler: Unbekannte Option: --epocs (mögliche Optionen: ",
     "error: No such option: --epocs (Possible options: "),
    (["trian"], "Fehler: Unbekannter Befehl 'trian'. Meinten Sie 'train'?",
     "error: No such command 'trian'. Did you mean 'train'?"),
    (["train"], "Fehler: Es fehlt das Argument 'data'.", "error: Missing argument 'data'."),
    (["train", "x.jsonl", "--max-steps"], "Fehler: Die Option '--max-steps' braucht einen Wert.",
     "error: Option '--max-steps' requires an argument."),
    (["--bogus"], "Fehler: Unbekannte Option: --bogus", "error: No such option: --bogus")])
def test_the_command_lines_own_usage_errors_are_german_too(cli, args, german, english):
    """Click's and Typer's usage errors, found before anchortune runs, said in the chosen language with the usage
    and where the help is; exit code 2 in either language."""
    said = cli("--lang", "de", *args)
    assert said.code == 2 and german in said.err and "Traceback" not in said.err, said
    assert untranslated(said.err) == [], untranslated(said.err)
    usage = args[-1] != "--max-steps"  # Click names no command where an option's value is missing
    # (an unknown option of the program itself, before any command, is German too: --lang is read ahead of Click)
    assert not usage or ("Aufruf: anchortune " in said.err and "Hilfe: 'anchortune " in said.err)
    plain = cli(*args)
    assert plain.code == 2 and english in plain.err and (not usage or "Usage: anchortune " in plain.err), plain



def test_every_help_text_has_its_german():
    """A new command or option without German in messages/help.yaml fails here, with its English named."""
    import typer

    from anchortune.cli import help_language
    from anchortune.messages import help_texts

    command = typer.main.get_command(app)  # as the code writes its texts (in_language has not touched it)
    english = [text for each in help_language._commands(command)
               for text in (each.help, each.short_help,
                            *(p.help for p in [*each.params, each.get_help_option(typer.Context(each))]))
               if text]
    assert len(english) > 100
    assert [text for text in english if text not in help_texts()] == []


def test_help_is_german_with_lang_or_the_environment_and_english_otherwise(cli, monkeypatch):
    german = cli("--lang", "de", "train", "--help")
    assert german.code == 0 and "Optionen" in german.out and "[erforderlich]" in german.out, german
    assert "Laufordner, der angelegt wird" in german.out and "Run folder to create" not in german.out
    english = cli("train", "--help")  # the same process: nothing of the German left behind
    assert english.code == 0 and "Options" in english.out and "Run folder to create" in english.out, english
    assert "Optionen" not in english.out and "[required]" in english.out
    assert "Aufruf: anchortune train [OPTIONEN]" in german.out and "Usage:" not in german.out  # the usage line too
    assert "[Vorgabe: runs/latest]" in german.out and "Standard:" not in german.out  # one word for a default
    assert "Usage: anchortune train [OPTIONS]" in english.out
    assert "'anchortune[track]'" in english.out and "'anchortune[track]'" in german.out  # text, not Rich markup
    short = cli("--lang", "de", "train", "-h")  # -h as most command-line tools take it, on every command
    assert short.code == 0 and short.out == german.out, short
    assert cli("models", "list", "-h").code == 0
    monkeypatch.setenv("ANCHORTUNE_LANG", "de")
    top = cli("--help")
    assert top.code == 0 and "Befehle" in top.out and "feinabstimmen" in top.out, top
    assert "Aufruf: anchortune [OPTIONEN] BEFEHL [ARGUMENTE]..." in top.out
    assert cli("-h").out == top.out


def test_the_gate_names_its_findings_in_german_and_keeps_the_codes_in_english(write_lines, support_file, tmp_path):
    """The reason column: the finding's German name with --lang de, its code (as in the JSON report) in English."""
    rows = [json.loads(l) for l in support_file.read_text(encoding="utf-8").splitlines()[:20]]
    data = write_lines("twice.jsonl", [*rows, rows[3]])  # line 21: line 4 again
    german = runner.invoke(app, ["--lang", "de", "check", str(data), "--task", "support",
                                 "--html", str(tmp_path / "q.html")], env={"COLUMNS": "200"})
    assert "exaktes Duplikat" in german.output and "exact_duplicate" not in german.output, german.output
    assert "exaktes Duplikat" in (tmp_path / "q.html").read_text(encoding="utf-8")
    english = runner.invoke(app, ["check", str(data), "--task", "support"], env={"COLUMNS": "200"})
    assert "exact_duplicate" in english.output, english.output


def test_a_language_anchortune_does_not_write_is_said_once_and_the_locale_decides(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANGUAGE")}
    for locale, said, listed in (("de_DE.UTF-8", "die Ausgabe folgt dem Gebietsschema (de)", "(Standard)"),
                                 ("C.UTF-8", "it follows the locale (en)", "(default)")):
        done = subprocess.run([sys.executable, "-m", "anchortune", "models", "list"], capture_output=True, text=True,
                              timeout=300, env={**env, "ANCHORTUNE_LANG": "fr", "LANG": locale})
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("ANCHORTUNE_LANG=fr: ") == 1 and said in done.stderr, done.stderr
        assert listed in done.stdout
