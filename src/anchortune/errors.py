"""The exception tree: every error a user can cause is an AnchortuneError with a message a person reads.

The CLI prints these as one or a few lines and exits non-zero; anything else is a bug and may traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class AnchortuneError(Exception):
    """A problem the user can fix (bad input, missing model, bad option)."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One defect in an input file: where it is and what was expected."""

    file: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        field = f", field '{self.field}'" if self.field else ""
        return f"{where}{field}: {self.message}"


class DocumentError(AnchortuneError):
    """Raw documents (for domain adaptation) that cannot be read or hold no usable text; names the file."""

    exit_code = 2


class DataError(AnchortuneError):
    """Anchor points that cannot be used; carries every problem found, not just the first."""

    exit_code = 2
    shown = 20

    def __init__(self, problems: list[Problem], total: int | None = None):
        """`problems` as kept (a reader keeps the first few hundred); `total`, when larger, how many it found."""
        self.problems = list(problems)
        self.total = max(total or 0, len(self.problems))
        lines = [str(p) for p in self.problems[: self.shown]]
        more = self.total - min(self.shown, len(self.problems))
        if more > 0:
            lines.append(f"... and {more} more problem(s)")
        head = f"{self.total} problem(s) in the anchor points; nothing was imported:"
        super().__init__("\n".join([head, *lines]))


class ModelError(AnchortuneError):
    """A model that cannot be found, prepared or loaded."""

    exit_code = 3


class ConfigError(AnchortuneError):
    """An option or config value that is not allowed."""

    exit_code = 2


class RunError(AnchortuneError):
    """A run folder that is missing, incomplete or cannot be resumed."""

    exit_code = 4


class QualityError(AnchortuneError):
    """Anchor points judged poor by the quality gate; training did not start."""

    exit_code = 5

    def __init__(self, reasons: list[str], advice: list[str]):
        self.reasons, self.advice = reasons, advice
        lines = ["the anchor points look poor; training did not start (--force trains anyway):"]
        lines += [f"  - {r}" for r in reasons] + ["what to do:"] + [f"  {i}. {a}" for i, a in enumerate(advice, 1)]
        super().__init__("\n".join(lines))


class NotFoundError(AnchortuneError):
    """A file, job or model id the studio does not know."""

    exit_code = 6


class ConflictError(AnchortuneError):
    """An action the current state does not allow (deleting a file a running job reads)."""

    exit_code = 7


class TooLargeError(AnchortuneError):
    """An upload over the studio's size limit."""

    exit_code = 8
