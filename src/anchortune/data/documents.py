"""Raw domain text for continued pretraining: reading documents, cleaning, deduplicating, filtering and cutting
them into token windows.

Formats: .txt and .md as they are (Markdown kept: its headings and lists are how such text is written), .html and
.htm through the standard library's HTML parser (text of the body, scripts and styles dropped, block elements
as line breaks), .pdf through pypdf's text extraction (a maintained, pure-Python extractor; scanned PDFs without
a text layer yield nothing and are reported). A folder is read recursively.
Paragraphs (blank-line separated) are the unit of cleaning: whitespace folded, exact duplicates (after folding
case and whitespace) kept once across all documents, and a paragraph dropped when it has fewer than MIN_WORDS
words or less than MIN_LETTERS of its characters are letters (tables of numbers, navigation, OCR noise: the
quality gate's idea of an unreadable example, applied to prose). Documents are held out whole (HOLD_OUT of them,
seeded), so the domain perplexity is measured on text the model never saw. Windows are `window` tokens of one
document's running text, every token a training target.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from anchortune.errors import DocumentError
from anchortune.messages import say

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MIN_WORDS = 5
MIN_LETTERS = 0.6
HOLD_OUT = 0.1


@dataclass
class Corpus:
    """Cleaned documents and what cleaning did."""

    documents: dict[str, str]  # path -> cleaned text
    paragraphs: int = 0
    duplicates: int = 0
    filtered: int = 0
    empty: list[str] = field(default_factory=list)  # documents with no text left (e.g. a scanned PDF)

    def summary(self) -> str:
        return (f"{len(self.documents)} documents, {self.paragraphs} paragraphs kept, {self.duplicates} duplicate "
                f"and {self.filtered} low-quality paragraphs dropped"
                + (f"; no text in {', '.join(Path(e).name for e in self.empty)}" if self.empty else ""))


def read_corpus(paths: list[str | Path]) -> Corpus:
    """Every readable document under `paths`, cleaned; DocumentError naming what could not be read."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise DocumentError(f"{path}: not a document anchortune reads (expected {', '.join(SUFFIXES)})")
            files.append(path)
        else:
            raise DocumentError(f"{path}: no such file or folder")
    if not files:
        raise DocumentError(f"no document ({', '.join(SUFFIXES)}) under {', '.join(map(str, paths))}")
    corpus, seen = Corpus({}), set()
    for path in files:
        kept = []
        for paragraph in re.split(r"\n\s*\n", _text(path)):
            text = " ".join(paragraph.split())
            if not text:
                continue
            key = text.lower()
            if key in seen:
                corpus.duplicates += 1
                continue
            seen.add(key)
            letters = sum(c.isalpha() for c in text) / len(text)
            if len(text.split()) < MIN_WORDS or letters < MIN_LETTERS:
                corpus.filtered += 1
                continue
            kept.append(text)
        if kept:
            corpus.documents[str(path)] = "\n\n".join(kept)
            corpus.paragraphs += len(kept)
        else:
            corpus.empty.append(str(path))
    if not corpus.documents:
        raise DocumentError(say("d_doc_no_text", n=len(files), summary=corpus.summary()))
    return corpus


def split_documents(corpus: Corpus, seed: int, hold_out: float = HOLD_OUT) -> tuple[list[str], list[str]]:
    """(training texts, held-out texts): whole documents held out, at least one where there are two or more."""
    names = sorted(corpus.documents)
    random.Random(seed).shuffle(names)
    count = min(len(names) - 1, max(1, round(hold_out * len(names)))) if len(names) > 1 else 0
    return [corpus.documents[n] for n in names[count:]], [corpus.documents[n] for n in names[:count]]


def windows(texts: list[str], tokenizer, window: int) -> list[dict]:
    """Token windows of each text (its last, shorter window kept when it has a quarter of a window), every token a
    target; a window never spans two documents."""
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), window):
            piece = ids[start:start + window]
            if len(piece) >= max(8, window // 4):
                out.append({"input_ids": piece, "labels": list(piece), "line": len(out) + 1})
    return out


def _text(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        try:
            from pypdf import PdfReader
        except ImportError:
            raise DocumentError(f"{path}: reading PDF needs pypdf (pip install pypdf)") from None
        try:
            return "\n\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
        except Exception as exc:  # a damaged PDF: said with its name
            raise DocumentError(f"{path}: not a readable PDF ({exc})") from None
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        parser = _Paragraphs()
        parser.feed(text)
        return parser.text()
    return text


class _Paragraphs(HTMLParser):
    """An HTML page's text: block elements end paragraphs, script and style are skipped."""

    BLOCKS = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "br", "section", "article", "pre",
              "blockquote", "td", "th"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    def text(self) -> str:
        return "".join(self.parts)
