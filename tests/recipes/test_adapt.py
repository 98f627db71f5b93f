"""Domain adaptation (recipes/adapt.py, data/documents.py): raw documents cleaned, deduplicated and filtered,
continued pretraining on the tiny model lowers the held-out domain loss, the guard reports general ability, and
a task run starts from the adapted model."""

from __future__ import annotations

import json

import pytest

from anchortune.recipes.adapt import adapt_run
from anchortune.recipes.task_run import train_run
from anchortune.config import RunConfig
from anchortune.data.demo_support import support_demo
from anchortune.data.documents import read_corpus
from anchortune.errors import DocumentError, RunError


def _manual(n: int) -> str:
    answers = [p.answer for p in support_demo(n_per_intent=3)]
    return "\n\n".join(answers[i % len(answers)] + f" Section {i} of the manual." for i in range(n))


@pytest.fixture
def documents(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for k in range(4):
        (folder / f"manual-{k}.md").write_text(f"# Manual {k}\n\n" + _manual(12 + k))
    web = _manual(6).replace("manual.", "web page.")
    (folder / "page.html").write_text("<html><head><style>p {color: red}</style><script>var x = 1;</script></head>"
                                      "<body><p>" + web.replace("\n\n", "</p><p>") + "</p></body></html>")
    notes = _manual(3).replace("manual.", "notes.")
    (folder / "notes.txt").write_text("1 2 3 4 5 6 7 8 9 10 11 12\n\n" + notes + "\n\n" + notes)
    return folder


def test_documents_are_cleaned_deduplicated_and_filtered(documents):
    corpus = read_corpus([documents])
    assert len(corpus.documents) == 6 and corpus.duplicates >= 3 and corpus.filtered >= 1
    page = corpus.documents[str(documents / "page.html")]
    assert "color: red" not in page and "var x" not in page and "Section 0 of the web page." in page
    assert "1 2 3 4 5" not in corpus.documents[str(documents / "notes.txt")]


def test_unreadable_documents_are_named(tmp_path):
    with pytest.raises(DocumentError, match="no such file or folder"):
        read_corpus([tmp_path / "missing"])
    (tmp_path / "broken.pdf").write_bytes(b"not a pdf at all")
    with pytest.raises(DocumentError, match="broken.pdf: not a readable PDF"):
        read_corpus([tmp_path / "broken.pdf"])
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DocumentError, match="not a document anchortune reads"):
        read_corpus([tmp_path / "table.csv"])


def test_adaptation_lowers_the_domain_loss_and_a_task_starts_from_it(documents, tmp_path, tiny_model_dir,
                                                                     support_file):
    events = []
    summary = adapt_run([documents], tmp_path / "adapted", str(tiny_model_dir), epochs=3, learning_rate=3e-3,
                        window=64, on_event=events.append)
    run = tmp_path / "adapted"
    assert summary["domain"]["tuned_loss"] < summary["domain"]["base_loss"]
    assert summary["domain"]["tuned_perplexity"] < summary["domain"]["base_perplexity"]
    assert summary["held_out_documents"] >= 1 and summary["windows"]["train"] > summary["windows"]["held_out"] > 0
    listed = json.loads((run / "documents.json").read_text())
    assert set(listed["held_out"]).isdisjoint(listed["trained"]) and len(listed["held_out"]) == 1
    assert (run / "model" / "config.json").is_file() and (run / "README.md").is_file()
    assert summary["balance"]["diagnosis"]["verdict"]
    assert any("held-out domain loss" in e.data.get("message", "") for e in events if e.kind == "info")
    task = train_run(RunConfig.build(data=str(support_file), task="support", model=str(run), batch_size=4,
                                     max_steps=2, eval_every=2, precision="fp32"), tmp_path / "task", force=True)
    assert task.summary["base_model"] == str(run) and (task.folder / "adapter").is_dir()


def test_one_document_cannot_be_held_out_from(tmp_path, tiny_model_dir):
    (tmp_path / "only.md").write_text(_manual(20))
    with pytest.raises(RunError, match="at least two documents"):
        adapt_run([tmp_path / "only.md"], tmp_path / "out", str(tiny_model_dir))
    assert not (tmp_path / "out").exists()
