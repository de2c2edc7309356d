"""Shared test fixtures. Tests use the real data in ../shared/data (never mocked)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data`` beside the clone; its absence is a failure, not a skip."""
    assert SHARED_DATA.is_dir(), f"real test data not found at {SHARED_DATA} (clone next to shared/)"
    return SHARED_DATA


@pytest.fixture(scope="session")
def arena_video(data_dir) -> Path:
    return data_dir / "tracktor_arena" / "mouse_video.mp4"


@pytest.fixture(scope="session")
def openfield_video(data_dir) -> Path:
    return data_dir / "openfield_dlc" / "videos" / "m3v1mp4.mp4"


@pytest.fixture(scope="session")
def bsoid_dir(data_dir) -> Path:
    return data_dir / "bsoid_clips"


# A short spliced sequence plan (clip, first frame, stop) over real B-SOiD clips, ~39 % rest.
SPLICED_PLAN = [("inactive", 0, 60), ("itch", 0, 60), ("locomote", 0, 60), ("face_groom", 0, 60),
                ("inactive", 60, 150), ("rear_plus", 0, 60), ("locomote", 60, 117), ("head_groom", 0, 60),
                ("inactive", 150, 228)]
SPLICED_CLASSES = ["face_groom", "head_groom", "itch", "locomote", "rear_plus"]  # background: inactive


@pytest.fixture(scope="session")
def spliced_sequences(bsoid_dir):
    """:data:`SPLICED_PLAN` built from each mouse's clips (real detector and stage-1 features)."""
    from mouseact.localizer.sequences import Piece, build_sequence

    plan = [Piece(*p) for p in SPLICED_PLAN]
    return [build_sequence(bsoid_dir / m, plan, SPLICED_CLASSES) for m in ("mouse1", "mouse2")]


def bsoid_subset(bsoid_dir: Path, root: Path, labels=("orient_R", "orient_L", "investigate")) -> Path:
    """``root/<mouse>/<label>.mp4`` symlinks to a few real B-SOiD clips of both mice (fast training)."""
    for mouse in ("mouse1", "mouse2"):
        (root / mouse).mkdir(parents=True)
        for label in labels:
            os.symlink(bsoid_dir / mouse / f"{label}.mp4", root / mouse / f"{label}.mp4")
    return root


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600
            ) -> subprocess.CompletedProcess:
    """Run ``mouseact ARGS`` in a subprocess exactly as a user would (same interpreter)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mouseact", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
