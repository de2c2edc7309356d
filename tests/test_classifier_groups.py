"""Feature groups of the fast embedder (issue 6, session 3): the groups partition the 96 columns,
the masks select what they say, and the bench writes its section without touching the others."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from mouseact.classifier import make_embedder, whole_frame_rect
from mouseact.classifier.fast import (
    FEATURE_GROUPS,
    MOTION_GROUPS,
    feature_group_of,
    feature_names,
    group_columns,
)
from mouseact.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]


def test_groups_partition_the_feature_columns():
    names = feature_names()
    groups = [feature_group_of(n) for n in names]
    assert set(groups) == set(FEATURE_GROUPS)
    masks = np.stack([group_columns([g]) for g in FEATURE_GROUPS])
    assert (masks.sum(0) == 1).all()  # every column in exactly one group
    assert masks.sum() == len(names) == 96
    assert feature_group_of("speed_p90") == "kinematics"
    assert feature_group_of("rel_area_mean") == "shape"
    assert feature_group_of("found_frac") == "appearance"
    assert feature_group_of("motion_mid") == "bands"  # band power, not the motion_* series
    assert feature_group_of("motion_in_std") == "body_motion"


def test_motion_mask_keeps_no_shape_or_appearance_column():
    keep = group_columns(MOTION_GROUPS)
    kept = [n for n, k in zip(feature_names(), keep) if k]
    assert len(kept) == 55
    assert not any(feature_group_of(n) in ("shape", "appearance") for n in kept)
    with pytest.raises(ValueError, match="unknown feature group"):
        group_columns(["colour"])


def test_masked_columns_of_a_real_window(bsoid_dir):
    with VideoReader(bsoid_dir / "mouse2" / "locomote.mp4") as vr:
        fr = vr.get_frames(range(16))
    emb = make_embedder("fast")
    x = emb.embed_batch([(fr, whole_frame_rect(fr))])[0]
    keep = group_columns(MOTION_GROUPS)
    names = np.array(emb.feature_names)
    assert list(names[keep]) == [n for n in emb.feature_names if feature_group_of(n) in MOTION_GROUPS]
    assert x[keep].shape == (55,) and np.isfinite(x[keep]).all()


def test_bench_replaces_only_its_section(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_classifier", ROOT / "bench" / "classifier.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    doc = tmp_path / "doc.md"
    doc.write_text("## title\n\n### A\n\na\n\n### Other embedders x\n\nb\n")
    for marker in ("FIRST", "SECOND"):
        section = [bench.GROUPS_TITLE, "", marker, ""]
        bench.replace_section(doc, bench.GROUPS_TITLE, section, before="### Other embedders")
    text = doc.read_text()
    assert text.count(bench.GROUPS_TITLE) == 1 and "SECOND" in text and "FIRST" not in text
    assert text.index("### A") < text.index(bench.GROUPS_TITLE) < text.index("### Other embedders")
    assert "\na\n" in text and "\nb\n" in text
