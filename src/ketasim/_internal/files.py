"""Atomic file writing: a crash or Ctrl-C never leaves a half-written result file.

Every result file the package writes (JSON, SBML, figures, Parquet, README tables) goes through
``atomic_path``: the content is written to a hidden temporary file beside the target and renamed onto
it only when complete, with the permissions a new file gets under the user's umask (an existing file
keeps its mode). A failure to write (read-only file system, disk full, a folder in the way) is an
``OutputError`` naming the path, and leaves neither the file nor the temporary behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ketasim.errors import OutputError

__all__ = ["atomic_path", "atomic_write_text"]


def _umask() -> int:
    """The process's umask now (the user may change it after import): from /proc where Linux shows it,
    which is safe beside other threads; else set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "x.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('done', ['x.txt'])
    """
    path = Path(path)
    if str(path) in ("", ".") or path.is_dir():
        raise OutputError(path, "is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(path, _reason(exc)) from None
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); a result file gets the permissions any new file would
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:  # disk full while writing, the file system turned read-only, ...
        raise OutputError(path, _reason(exc)) from None
    finally:
        with contextlib.suppress(OSError):
            if os.path.exists(tmp):
                os.unlink(tmp)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
