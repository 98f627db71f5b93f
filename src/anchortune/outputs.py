"""Where a command writes, checked before any work, each refusal naming its flag and what it expected.

An output file is no folder and none of the command's inputs (a command never writes onto what it reads), and its
folder can be written; an output folder is no file and can be created. Knows nothing about what is written there.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from anchortune.errors import ConfigError


def output_file(path: str | Path, flag: str, inputs: Iterable[str | Path | None] = ()) -> Path:
    """`path` as a file the command may write: ConfigError naming `flag` when it is a folder, one of `inputs`, or in
    a folder that cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} '{path}' is a folder; expected a file name to write")
    for given in inputs:
        if given is not None and same_file(path, Path(given)):
            raise ConfigError(f"{flag} '{path}' is the file this command reads; it is never overwritten: name another "
                              "file")
    _writable(path.parent, flag, path)
    return path


def output_folder(path: str | Path, flag: str) -> Path:
    """`path` as a folder the command may create or fill: ConfigError naming `flag` when it is a file or cannot be
    created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} '{path}' is a file; expected a folder to write (absent or empty)")
    _writable(path if path.is_dir() else path.parent, flag, path)
    return path


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (the same path after resolving links and '..', or one file reached twice)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _writable(folder: Path, flag: str, path: Path) -> None:
    """The nearest existing folder on the way to `folder` takes a new file (tried, not guessed from permission
    bits: a read-only file system or a pseudo-file system refuses what the bits allow)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{flag} '{path}': '{existing}' is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".anchortune-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{flag} '{path}': cannot write in '{existing}' ({exc.strerror or exc})") from None
