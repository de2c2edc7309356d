"""Where MouseAct keeps its per-user caches (embeddings, training features, ultralytics settings)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(kind: str) -> Path:
    """``$XDG_CACHE_HOME/mouseact/<kind>``, else ``~/.cache/mouseact/<kind>``. Read when called,
    never at import, so a service or test can point it elsewhere."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mouseact" / kind
