"""User-facing errors: one line that names the file and the problem.

The CLI catches :class:`MouseActError`, prints ``error: <message>`` and exits with status 2.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class MouseActError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = str(path) if path is not None else None
        text = f"{self.path}: {message}" if self.path else message
        super().__init__(" ".join(text.split()))  # always one line


class VideoError(MouseActError):
    """A video cannot be opened, is empty, truncated or corrupt."""


class AnnotationError(MouseActError):
    """An annotation file is malformed or does not match its video/project."""


class ModelError(MouseActError):
    """A model directory is missing, for another architecture, or inconsistent."""


class OutputError(MouseActError, OSError):
    """An output (file or folder) cannot be created or written: not writable, under a file, a file
    where a folder is to be written, disk full... Also an ``OSError``, so code that tolerates failed
    writes (caches) keeps doing so; its ``errno`` is the underlying one when there is one."""

    def __init__(self, message: str, path: str | Path | None = None, errno: int | None = None):
        super().__init__(message, path)
        self.errno = errno
