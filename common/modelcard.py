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
        if not files:  # load() refuses a card without files: fail here, before anything is in place
            raise ValueError(f"modelcard.save({out_dir}): write_files wrote no files")
        full = {
            "kind": kind,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **card,
            "versions": package_versions(),
            "files": files,
        }
        (tmp / CARD).write_text(json.dumps(full, indent=2) + "\n")
    return out_dir


def _file_name_ok(name: object) -> bool:
    """A card's file name: a relative path inside the model directory (no ``..``, not absolute)."""
    if not isinstance(name, str) or not name or "\\" in name:
        return False
    parts = name.split("/")
    return not name.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def _is_sha256(digest: object) -> bool:
    return (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest.lower()))


def load(model_dir: str | Path, kind: str | tuple[str, ...], verify: bool = True) -> dict[str, Any]:
    """Read and check a card: it must exist, be of ``kind`` and match its files' checksums.

    The card must be a JSON object whose ``"files"`` is a non-empty mapping of file name (relative
    path inside the directory) -> SHA-256 hex digest: every model MouseAct writes has weight files, so
    a card without them (hand-edited, truncated, from another tool) is refused rather than trusted
    unchecked. With ``verify`` every listed file must exist and match its digest. Any problem is a
    one-line :class:`ModelError` naming the directory.
    """
    model_dir = Path(model_dir)
    kinds = (kind,) if isinstance(kind, str) else kind
    if not model_dir.is_dir():
        raise ModelError("model directory not found", model_dir)
    card_path = model_dir / CARD
    if not card_path.is_file():
        raise ModelError(f"not a MouseAct model directory (no {CARD})", model_dir)
    try:
        card = json.loads(card_path.read_bytes())
    except OSError as exc:
        raise ModelError(f"cannot read {CARD}: {exc.strerror or exc}", model_dir) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{CARD} is not valid JSON: {exc}", model_dir) from None
    if not isinstance(card, dict):
        raise ModelError(f"{CARD} must be a JSON object, not a {type(card).__name__}", model_dir)
    if card.get("kind") not in kinds:
        raise ModelError(f"model is a {card.get('kind')!r}, expected {' or '.join(kinds)}", model_dir)
    files = card.get("files")
    if files is None:
        raise ModelError(f"{CARD} has no 'files' (the weight files and their SHA-256 checksums): damaged, "
                         "edited or not written by MouseAct", model_dir)
    if not isinstance(files, dict) or not files:
        got = "is empty" if isinstance(files, dict) else f"is a {type(files).__name__}"
        raise ModelError(f"{CARD}: 'files' {got}; it must map each weight file to its SHA-256 checksum",
                         model_dir)
    for name, digest in files.items():
        if not _file_name_ok(name):
            raise ModelError(f"{CARD} lists a file {name!r} outside the model directory", model_dir)
        if not _is_sha256(digest):
            raise ModelError(f"{CARD} gives model file {name} no valid SHA-256 checksum ({repr(digest)[:80]})",
                             model_dir)
    if verify:
        for name, digest in files.items():
            p = model_dir / name
            if not p.is_file():
                raise ModelError(f"model file {name} is missing", model_dir)
            try:
                actual = sha256(p)
            except OSError as exc:
                raise ModelError(f"cannot read model file {name}: {exc.strerror or exc}", model_dir) from None
            if actual != digest.lower():
                raise ModelError(f"model file {name} does not match its checksum (damaged or replaced)",
                                 model_dir)
    return card


def require_listed(card: dict[str, Any], names, model_dir: str | Path) -> None:
    """Every file a loader is about to read must be one the card checksums (``load`` checks only what
    the card lists: a weight file left out of ``files`` would be read unchecked -- and a pickled one
    could run code)."""
    listed = set(card.get("files") or {})
    missing = [n for n in names if n not in listed]
    if missing:
        raise ModelError(f"{CARD} does not list {', '.join(missing)} among its checksummed files: damaged, "
                         "edited or not written by MouseAct", model_dir)
