"""Write outputs so that a crash never leaves a half-written file or directory.

Every output goes to a temporary sibling first and is renamed into place when complete;
``os.replace`` is atomic on one file system.

An output that cannot be made (not writable, a file where a folder goes or in its path, disk full)
is an :class:`OutputError`: one line naming the output and the reason, raised before the caller's
work where it can be known then. Commands call :func:`check_output_dir` on ``--out`` first thing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from mouseact.errors import MouseActError, OutputError

__all__ = ["OutputError", "OutputExistsError", "check_output_dir", "directory", "file", "remove_stale",
           "write_bytes", "write_json", "write_text"]


class OutputExistsError(OutputError, FileExistsError):
    """The output exists and overwriting was not asked for (a user error: one line, exit 2)."""


# --- turning the OS's refusals into one line that names the output -----------------------------------

def _blocking_file(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` (or ``path`` itself) that is not a folder."""
    for p in (*reversed(path.parents), path):
        if os.path.lexists(p) and not os.path.isdir(p):
            return p
        if not os.path.lexists(p):
            return None
    return None


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if os.path.lexists(p):
            return p
    return Path(".")


def _output_error(path: Path, exc: OSError, want_dir: bool) -> OutputError:
    """One line for an ``OSError`` met while creating the output ``path`` (a folder if ``want_dir``)."""
    code = exc.errno
    blocker = _blocking_file(path)  # a file in the way explains ENOTDIR, EEXIST, ... whatever the OS said
    if blocker is not None and blocker != path:
        return OutputError(f"cannot create the output: {blocker} is a file, not a folder", path, code)
    if blocker == path and want_dir:
        return OutputError("the output is a file, not a folder", path, code)
    if not want_dir and (code == errno.EISDIR or os.path.isdir(path)):
        return OutputError("the output is a folder, not a file", path, code)
    reason = exc.strerror or str(exc)
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = _nearest_existing(path.parent)  # temporaries and new folders are made in the parent
        return OutputError(f"cannot create the output: {where} is not writable ({reason})", path, code)
    return OutputError(f"cannot write the output: {reason}", path, code)


def _make_dirs(folder: Path, output: Path, want_dir: bool) -> list[Path]:
    """``mkdir -p folder``; returns the folders it made (outermost first) so a failure can remove them.
    An ``OSError`` becomes an :class:`OutputError` naming ``output``."""
    missing = []
    p = folder
    while not os.path.isdir(p) and p.parent != p:
        missing.append(p)
        p = p.parent
    made: list[Path] = []
    try:
        for p in reversed(missing):
            try:
                p.mkdir()
            except FileExistsError:
                if not os.path.isdir(p):
                    raise
                continue  # made meanwhile by another writer
            made.append(p)
    except OSError as exc:
        _remove_empty(made)
        raise _output_error(output, exc, want_dir) from None
    return made


def _remove_empty(made: list[Path]) -> None:
    """Remove the folders :func:`_make_dirs` made, innermost first, as long as they are empty."""
    for p in reversed(made):
        try:
            p.rmdir()
        except OSError:
            return


def _check_is_file_target(path: Path) -> None:
    if os.path.isdir(path):
        raise OutputError("the output is a folder, not a file", path, errno.EISDIR)
    blocker = _blocking_file(path.parent)
    if blocker is not None:
        raise OutputError(f"cannot create the output: {blocker} is a file, not a folder", path, errno.ENOTDIR)


def _check_is_dir_target(path: Path) -> None:
    blocker = _blocking_file(path)
    if blocker == path:
        raise OutputError("the output is a file, not a folder", path, errno.ENOTDIR)
    if blocker is not None:
        raise OutputError(f"cannot create the output: {blocker} is a file, not a folder", path, errno.ENOTDIR)


def check_output_dir(path: str | Path, overwrite: bool = True) -> Path:
    """Fail now, in one line, if ``path`` cannot be an output folder; call it first thing in a command.

    Commands that write a folder (``--out DIR``) call this before any long work (reading videos,
    training), so a mistyped ``--out`` fails in a second rather than after an hour::

        out = atomic.check_output_dir(args.out, overwrite=args.overwrite)

    It raises :class:`OutputError` (a ``MouseActError``: the CLI prints ``error: <path>: <problem>``
    and exits 2) when

    - ``path`` is an existing file ("the output is a file, not a folder"),
    - a parent of ``path`` is a file ("cannot create the output: <parent> is a file, not a folder"),
    - nothing can be created where the folder goes or inside it ("<folder> is not writable (...)"):
      an existing ``path`` is tried inside, a new one in its nearest existing parent;

    and :class:`OutputExistsError` when ``path`` exists and ``overwrite`` is false (the check
    :func:`directory` makes; leave ``overwrite=True`` when the command writes into an existing folder).
    It creates nothing: writability is probed with an empty temporary folder that is removed at once.
    Returns ``Path(path)``. (Replacing an existing folder with :func:`directory` also needs its parent
    to be writable; ``directory`` reports that itself, before the work.)
    """
    path = Path(path)
    _check_is_dir_target(path)
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError("already exists (not overwritten)", path)
    where = path if os.path.isdir(path) else _nearest_existing(path.parent)
    try:
        probe = tempfile.mkdtemp(prefix=".mouseact-write-check.", dir=where)
    except OSError as exc:
        raise OutputError(f"cannot create the output: {where} is not writable ({exc.strerror or exc})",
                          path, exc.errno) from None
    os.rmdir(probe)
    return path


# --- writers ------------------------------------------------------------------------------------------

def _umask() -> int:
    # mkstemp/mkdtemp create 0600/0700 entries (private temp files); outputs must get the
    # permissions a plain open()/mkdir() would give, or colleagues and containers running as
    # another user cannot read them.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _public(path: Path, is_dir: bool) -> None:
    os.chmod(path, (0o777 if is_dir else 0o666) & ~_umask())


def _tmp_file(path: Path, prefix: str, suffix: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        _public(Path(tmp), is_dir=False)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


@contextlib.contextmanager
def _file(path: Path, prefix: str, suffix: str) -> Iterator[Path]:
    _check_is_file_target(path)
    made = _make_dirs(path.parent, path, want_dir=False)
    try:
        tmp = _tmp_file(path, prefix, suffix)
    except OSError as exc:
        _remove_empty(made)
        raise _output_error(path, exc, want_dir=False) from None
    done = False
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _output_error(path, exc, want_dir=False) from None
        done = True
    finally:
        tmp.unlink(missing_ok=True)
        if not done:
            _remove_empty(made)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (parents made as needed) through a temporary sibling; an output that
    cannot be written (not writable, under a file, a folder in the way, disk full) is an
    :class:`OutputError` naming ``path``, and nothing is left behind."""
    path = Path(path)
    with _file(path, prefix=f".{path.name}.", suffix=".tmp") as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise _output_error(path, exc, want_dir=False) from None
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def file(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write to (by any library); renamed to ``path`` on success.

    ``suffix`` keeps the extension visible to writers that choose the format by it
    (matplotlib, video encoders). Failing to create the temporary file or to rename it into place
    is an :class:`OutputError` naming ``path`` (the first before the block runs); errors raised in
    the block are the caller's and pass through unchanged.
    """
    path = Path(path)
    with _file(path, prefix=f".{path.stem}.", suffix=suffix or path.suffix) as tmp:
        yield tmp


@contextlib.contextmanager
def directory(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` only if the block succeeds.

    On any exception the temporary directory is removed and ``path`` is untouched.
    With ``overwrite`` an existing ``path`` is replaced (moved aside, then deleted); without it
    an existing ``path`` raises :class:`OutputExistsError` (a ``MouseActError`` and a
    ``FileExistsError``). An existing *file* at ``path`` is never replaced. Where the folder
    cannot be made (a file in the way, not writable, ...) an :class:`OutputError` naming ``path``
    is raised before the block runs.
    """
    path = Path(path)
    _check_is_dir_target(path)
    if os.path.lexists(path) and not overwrite:  # fail before the work, not after it
        raise OutputExistsError("already exists (not overwritten)", path)
    made = _make_dirs(path.parent, path, want_dir=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    except OSError as exc:
        _remove_empty(made)
        raise _output_error(path, exc, want_dir=True) from None
    done = False
    try:
        _public(tmp, is_dir=True)
        yield tmp
        try:
            _put_in_place(tmp, path, overwrite)
        except MouseActError:
            raise
        except OSError as exc:
            raise _output_error(path, exc, want_dir=True) from None
        done = True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if not done:
            _remove_empty(made)


def _put_in_place(tmp: Path, path: Path, overwrite: bool) -> None:
    if not os.path.lexists(path):
        os.replace(tmp, path)
        return
    _check_is_dir_target(path)  # a file appeared meanwhile: never replaced by a folder
    if not overwrite:
        raise OutputExistsError("already exists (not overwritten)", path)
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    try:
        os.replace(path, old / "x")
        try:
            os.replace(tmp, path)
        except OSError:
            os.replace(old / "x", path)  # put the previous output back
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


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
