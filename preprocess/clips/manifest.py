"""The resumable manifest: what was planned and which clips are finished.

``<out>/.work/manifest.json`` is rewritten atomically (after finished clips, at most once a
second, and at the end of every video), and a clip is only recorded after its video and
annotation files are in place (each written atomically).
So after a kill at any moment a re-run sees every clip either done (skipped) or not done
(cut again under the same deterministic name): no duplicate, no missing clip.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from mouseact import atomic
from mouseact.errors import MouseActError

VERSION = 1


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Manifest:
    def __init__(self, work_dir: Path, settings: dict):
        self.path = Path(work_dir) / "manifest.json"
        self.settings = settings
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise MouseActError(f"manifest is damaged ({exc}); delete the folder or use --restart",
                                    self.path) from None
            if self.data.get("version") != VERSION:
                raise MouseActError("manifest is from another MouseAct version; use --restart", self.path)
            old = self.data.get("settings", {})
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            if changed:
                raise MouseActError(f"this output was made with other settings (changed: {', '.join(changed)}); "
                                    "use --restart to redo it or choose another --out", self.path.parent.parent)
        else:
            self.data = {"version": VERSION, "settings": settings, "groups": {}, "videos": {}, "done": {}}

    # groups: {group: split}; videos: {key: {...plan...}}; done: {clip_id: True}
    @property
    def groups(self) -> dict:
        return self.data["groups"]

    @property
    def videos(self) -> dict:
        return self.data["videos"]

    @property
    def done(self) -> dict:
        return self.data["done"]

    def save(self) -> None:
        atomic.write_json(self.path, self.data, indent=1)
        self._saved_at = time.monotonic()

    def save_soon(self, every_s: float = 1.0) -> None:
        """Save at most every ``every_s``: rewriting a big manifest after each of thousands of
        clips costs more than re-cutting the last second's clips after a kill (names are
        deterministic, so a clip finished but not yet recorded is simply cut again)."""
        if time.monotonic() - getattr(self, "_saved_at", 0.0) >= every_s:
            self.save()
