"""Write outputs so that a crash never leaves a half-written file or directory.

Every output goes to a temporary sibling first and is renamed into place when complete;
``os.replace`` is atomic on one file system.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from mouseact.errors import MouseActError


class OutputExistsError(MouseActError, FileExistsError):
    """The output exists and overwriting was not asked for (a user error: one line, exit 2)."""


def _umask() -> int:
    # mkstemp/mkdtemp create 0600/0700 entries (private temp files); outputs must get the
    # permissions a plain open()/mkdir() would give, or colleagues and containers running as
    # another user cannot read them.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _public(path: Path, is_dir: bool) -> None:
    os.chmod(path, (0o777 if is_dir else 0o666) & ~_umask())


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    _public(Path(tmp), is_dir=False)
    return Path(tmp)


def write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def file(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write to (by any library); renamed to ``path`` on success.

    ``suffix`` keeps the extension visible to writers that choose the format by it
    (matplotlib, video encoders).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    _public(tmp, is_dir=False)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def directory(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` only if the block succeeds.

    On any exception the temporary directory is removed and ``path`` is untouched.
    With ``overwrite`` an existing ``path`` is replaced (moved aside, then deleted); without it
    an existing ``path`` raises :class:`OutputExistsError` (a ``MouseActError`` and a
    ``FileExistsError``).
    """
    path = Path(path)
    if path.exists() and not overwrite:  # fail before the work, not after it
        raise OutputExistsError("already exists (not overwritten)", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    _public(tmp, is_dir=True)
    try:
        yield tmp
        if path.exists():
            if not overwrite:
                raise OutputExistsError("already exists (not overwritten)", path)
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale(out_dir: str | Path, names, written) -> list[Path]:
    """Delete the files among ``names`` (relative to ``out_dir``) that this run did not write (``written``:
    paths), so an output folder used again never mixes an earlier run's files with this one's."""
    out_dir = Path(out_dir)
    keep = {Path(p).resolve() for p in written}
    removed = []
    for name in names:
        p = out_dir / name
        if p.is_file() and p.resolve() not in keep:
            p.unlink()
            removed.append(p)
    return removed
