"""The exception tree: every error a user can cause is an AnchortuneError with a message a person reads.

The CLI prints these as one or a few lines and exits non-zero; anything else is a bug and may traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class AnchortuneError(Exception):
    """A problem the user can fix (bad input, missing model, bad option); `code` names its kind on the wire (the
    `code` of an OpenAI-style error, a failed job's error code)."""

    exit_code = 1
    code = "invalid_request"

    def describe(self, lang: str = "en") -> str:
        """The message in `lang` (the catalogue's translation of its English, messages/)."""
        from anchortune.messages import translate

        return translate(str(self), lang)


@dataclass(frozen=True)
class Problem:
    """One defect in an input file: where it is and what was expected."""

    file: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        return self.describe()

    def describe(self, lang: str = "en") -> str:
        """'FILE, line N, field 'F': what is wrong' in `lang` (the message translated where the catalogue has it)."""
        from anchortune.messages import say_in

        key = "problem_" + ("line" if self.line else "file") + ("_field" if self.field else "")
        return say_in(key, lang, file=self.file, line=self.line, name=self.field or "", message=self.message)


class DocumentError(AnchortuneError):
    """Raw documents (for domain adaptation) that cannot be read or hold no usable text; names the file."""

    exit_code = 2
    code = "invalid_document"


class DataError(AnchortuneError):
    """Anchor points that cannot be used; carries every problem found, not just the first."""

    exit_code = 2
    code = "invalid_file"
    shown = 20

    def __init__(self, problems: list[Problem], total: int | None = None, subject: str = "points"):
        """`problems` as kept (a reader keeps the first few hundred); `total`, when larger, how many it found;
        `subject`, what the file was to hold ("points": anchor points, "pairs": preference pairs) for the heading."""
        self.problems = list(problems)
        self.total = max(total or 0, len(self.problems))
        self.subject = subject
        super().__init__(self.describe())

    def describe(self, lang: str = "en") -> str:
        """The count, the first `shown` problems one a line, and how many more, in `lang`."""
        from anchortune.messages import say_in

        lines = [p.describe(lang) for p in self.problems[: self.shown]]
        more = self.total - min(self.shown, len(self.problems))
        if more > 0:
            lines.append(say_in("e_more_problems", lang, n=more))
        heading = "e_upload_problems" if self.subject == "points" else f"e_upload_problems_{self.subject}"
        return "\n".join([say_in(heading, lang, n=self.total), *lines])


class ModelError(AnchortuneError):
    """A model that cannot be found, prepared or loaded."""

    exit_code = 3
    code = "model_unavailable"


class ConfigError(AnchortuneError):
    """An option or config value that is not allowed; `param` names the field where one is to blame."""

    exit_code = 2
    code = "invalid_value"

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class RunError(AnchortuneError):
    """A run folder that is missing, incomplete or cannot be resumed."""

    exit_code = 4
    code = "run_error"


class QualityError(AnchortuneError):
    """Anchor points judged poor by the quality gate; training did not start. `override` says how to train anyway
    (the command line's flag; the studio offers a button instead and leaves it out)."""

    exit_code = 5
    code = "poor_data"

    def __init__(self, reasons: list[str], advice: list[str], override: str | None = "--force trains anyway"):
        self.reasons, self.advice = reasons, advice
        lines = [f"the anchor points look poor; training did not start{f' ({override})' if override else ''}:"]
        lines += [f"  - {r}" for r in reasons] + ["what to do:"] + [f"  {i}. {a}" for i, a in enumerate(advice, 1)]
        super().__init__("\n".join(lines))


class NotFoundError(AnchortuneError):
    """A file, job or model id the studio does not know."""

    exit_code = 6
    code = "not_found"


class ConflictError(AnchortuneError):
    """An action the current state does not allow (deleting a file a running job reads)."""

    exit_code = 7
    code = "conflict"


class TooLargeError(AnchortuneError):
    """An upload over the studio's size limit."""

    exit_code = 8
    code = "file_too_large"


class StateError(AnchortuneError):
    """An action a job's state does not allow any more (cancelling a job that finished): refused, nothing done."""

    exit_code = 7
    code = "invalid_state"
