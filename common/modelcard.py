"""Model artifacts: a directory with ``model_card.json`` plus weight files.

The card is the single home of the label map, the config that built the model, the crop
policy, metrics, package versions and a SHA-256 of every file. Loading checks the kind and
the checksums so a wrong or damaged directory fails with one clear line.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from mouseact import atomic
from mouseact.errors import ModelError

CARD = "model_card.json"
_VERSIONED = ("mouseact", "numpy", "torch", "scikit-learn", "ultralytics", "transformers", "supervisely")


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def save(out_dir: str | Path, kind: str, card: dict[str, Any], write_files: Callable[[Path], None],
         overwrite: bool = True) -> Path:
    """Write an artifact atomically: ``write_files(tmp_dir)`` writes weights, then the card is added."""
    out_dir = Path(out_dir)
    with atomic.directory(out_dir, overwrite=overwrite) as tmp:
        write_files(tmp)
        # every file, also in sub-folders (e.g. a tokenizer dir), keyed by its relative posix path
        files = {p.relative_to(tmp).as_posix(): sha256(p) for p in sorted(tmp.rglob("*"))
                 if p.is_file() and p.relative_to(tmp).as_posix() != CARD}
        full = {
            "kind": kind,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **card,
            "versions": package_versions(),
            "files": files,
        }
        (tmp / CARD).write_text(json.dumps(full, indent=2) + "\n")
    return out_dir


def load(model_dir: str | Path, kind: str | tuple[str, ...], verify: bool = True) -> dict[str, Any]:
    """Read and check a card: it must exist, be of ``kind`` and match its files' checksums."""
    model_dir = Path(model_dir)
    kinds = (kind,) if isinstance(kind, str) else kind
    if not model_dir.is_dir():
        raise ModelError("model directory not found", model_dir)
    card_path = model_dir / CARD
    if not card_path.is_file():
        raise ModelError(f"not a MouseAct model directory (no {CARD})", model_dir)
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{CARD} is not valid JSON: {exc}", model_dir) from None
    if card.get("kind") not in kinds:
        raise ModelError(f"model is a {card.get('kind')!r}, expected {' or '.join(kinds)}", model_dir)
    if verify:
        for name, digest in card.get("files", {}).items():
            p = model_dir / name
            if not p.is_file():
                raise ModelError(f"model file {name} is missing", model_dir)
            if sha256(p) != digest:
                raise ModelError(f"model file {name} does not match its checksum (damaged or replaced)", model_dir)
    return card
