"""The localizer model: fit on real spliced sequences, save/load, actionness, proposals, bad input."""

import json
import shutil

import numpy as np
import pytest
from mouseact.errors import ModelError
from mouseact.intervals import Interval
from mouseact.localizer import DEFAULT_MODEL_DIR, Localizer
from mouseact.localizer.features import FeatureExtractor
from mouseact.localizer.fit import LocalizerTrainConfig, train_localizer
from mouseact.localizer.sequences import plan_sequence

from conftest import SPLICED_CLASSES, SPLICED_PLAN

PLAN, CLASSES = SPLICED_PLAN, SPLICED_CLASSES


@pytest.fixture
def sequences(spliced_sequences):
    return spliced_sequences


def test_spliced_sequence_labels_and_cuts(sequences):
    s = sequences[0]
    assert len(s.features) == len(s.labels) == sum(p[2] - p[1] for p in PLAN)
    assert s.cuts.tolist() == np.cumsum([p[2] - p[1] for p in PLAN])[:-1].tolist()
    assert s.labels[:60].max() == 0 and (s.labels[60:120] == CLASSES.index("itch") + 1).all()
    assert np.isfinite(s.boxes).all(1).mean() > 0.9  # the primed classical detector finds the mouse


def test_plan_makes_background_the_majority(bsoid_dir):
    from mouseact.localizer.sequences import clip_paths
    from mouseact.video import probe

    lengths = {c: probe(p).n_frames for c, p in clip_paths(bsoid_dir / "mouse1").items()}
    plan = plan_sequence(lengths, 15.0, np.random.default_rng(1))
    n = sum(p.length for p in plan)
    action = sum(p.length for p in plan if p.clip != "inactive")
    assert 0.05 < action / n < 0.4
    assert all(0 <= p.start < p.stop <= lengths[p.clip] for p in plan)


def test_fit_save_load_roundtrip(sequences, tmp_path):
    cfg = LocalizerTrainConfig()
    names = FeatureExtractor(cfg.features).feature_names
    loc, report = train_localizer([[sequences[0]], [sequences[1]]], cfg, names, provenance={"test": True})
    out = loc.save(tmp_path / "loc")
    again = Localizer.load(out)
    s = sequences[1]
    np.testing.assert_allclose(again.actionness(s.features, s.fps), loc.actionness(s.features, s.fps), rtol=1e-6)
    card = json.loads((out / "model_card.json").read_text())
    assert card["kind"] == "localizer" and card["feature_names"] == names
    op = card["operating_point"]
    assert op["proposal_config"]["high"] == again.proposal_config.high
    assert 0 <= op["recall_coverage"] <= 1 and 0 <= op["frames_proposed"] <= 1
    segs = again.propose(again.actionness(s.features, s.fps), s.fps)
    assert all(isinstance(iv, Interval) and iv.label == "action" for iv in segs)
    assert all(0 <= iv.start <= iv.end < len(s.features) for iv in segs)


def test_default_model_scores_actions_above_background(sequences):
    loc = Localizer.load(DEFAULT_MODEL_DIR)
    assert loc.card["operating_point"]["target_recall"] == 0.95
    for s in sequences:
        a = loc.actionness(s.features, s.fps)
        assert a.shape == (len(s.features),) and a.dtype == np.float32
        assert a[s.labels > 0].mean() > a[s.labels == 0].mean()


def test_wrong_features_and_damaged_models(sequences, tmp_path):
    loc = Localizer.load(DEFAULT_MODEL_DIR)
    with pytest.raises(ModelError, match="trained on"):
        loc.actionness(np.zeros((10, 3), np.float32))
    bad = tmp_path / "bad"
    shutil.copytree(DEFAULT_MODEL_DIR, bad)
    weights = next(p for p in bad.iterdir() if p.name != "model_card.json")
    weights.write_bytes(weights.read_bytes()[:-5] + b"xxxxx")
    with pytest.raises(ModelError, match="checksum"):
        Localizer.load(bad)
    card = json.loads((bad / "model_card.json").read_text())
    card["kind"] = "classifier"
    (bad / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="expected localizer"):
        Localizer.load(bad)
    with pytest.raises(ModelError, match="not found"):
        Localizer.load(tmp_path / "nothing")


def test_operating_point_picks_gap_and_pad_within_the_frame_budget(sequences):
    """Real spliced sequences: the stored point is one of the candidate gap/pad settings, reproduces its
    out-of-group numbers, and no candidate within the frame budget has a better tIoU recall."""
    from mouseact.localizer.proposals import choose_operating_point

    cfg = LocalizerTrainConfig(frame_budget=0.25, max_gap_s=(0.25, 0.5, 1.0, 1.5), pad_s=(0.0, 0.1, 0.25))
    names = FeatureExtractor(cfg.features).feature_names
    loc, report = train_localizer([[sequences[0]], [sequences[1]]], cfg, names)
    op, pc = loc.card["operating_point"], loc.proposal_config
    assert op["frame_budget"] == 0.25
    assert pc.max_gap_s in cfg.max_gap_s and pc.pad_s in cfg.pad_s and pc.min_duration_s in cfg.min_duration_s
    assert report["oog_eval"]["recall_tiou"] == op["recall_tiou"]
    assert report["oog_eval"]["frames_proposed"] == op["frames_proposed"]
    cands = loc.card["candidates"]
    assert len(cands) == len(cfg.proposal_bases()) == 12
    assert all(c["max_gap_s"] == pc.max_gap_s and c["pad_s"] == pc.pad_s for c in loc.card["curve"])
    best, _ = choose_operating_point(cands, cfg.target_recall, cfg.frame_budget)
    assert (best["max_gap_s"], best["pad_s"], best["high"], best["low"]) == (pc.max_gap_s, pc.pad_s, pc.high, pc.low)
    within = [c for c in cands if c["recall"] >= cfg.target_recall and c["frames_proposed"] <= cfg.frame_budget]
    if within:
        assert op["frames_proposed"] <= cfg.frame_budget and op["recall"] >= cfg.target_recall
        assert op["recall_tiou"] >= max(c["recall_tiou"] for c in within) - 1e-4  # card values are rounded


def test_proposal_settings_take_one_value_or_candidates():
    from mouseact.config import load
    from mouseact.errors import MouseActError

    assert LocalizerTrainConfig(pad_s=0.25).pad_s == (0.25,)
    cfg = load(LocalizerTrainConfig, overrides=["max_gap_s=0.5", "pad_s=[0, 0.5]", "frame_budget=null"])
    assert cfg.max_gap_s == (0.5,) and cfg.pad_s == (0.0, 0.5) and cfg.frame_budget is None
    assert len(cfg.proposal_bases()) == 2
    with pytest.raises(MouseActError, match="pad_s"):
        load(LocalizerTrainConfig, overrides=["pad_s=[-0.1]"])
    with pytest.raises(MouseActError, match="max_gap_s"):
        load(LocalizerTrainConfig, overrides=["max_gap_s=[]"])
