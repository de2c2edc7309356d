"""Boundary refinement (session 5): a short-window model trims proposals' ends; trained on real spliced sequences."""

import json

import numpy as np
import pytest
from mouseact.localizer import Localizer
from mouseact.localizer.features import FeatureExtractor
from mouseact.localizer.fit import LocalizerTrainConfig, choose_point, train_localizer
from mouseact.localizer.proposals import choose_operating_point, propose


@pytest.fixture(scope="module")
def refined(spliced_sequences):
    cfg = LocalizerTrainConfig(refine_window_s=0.33)
    names = FeatureExtractor(cfg.features).feature_names
    loc, report = train_localizer([[spliced_sequences[0]], [spliced_sequences[1]]], cfg, names)
    return cfg, loc, report


def test_refined_model_card_and_choice(refined):
    cfg, loc, report = refined
    card = loc.card
    assert card["refine"]["windows_s"] == [0.33] and card["refine"]["file"] == "refine_logreg.npz"
    pc = loc.proposal_config
    assert pc.refine_threshold in cfg.refine_threshold
    assert report["oog_eval"]["recall_tiou"] == card["operating_point"]["recall_tiou"]
    # one candidate per trimming threshold; the stored one is the best tIoU among those meeting the target
    cands = card["candidates"]
    assert sorted((c["refine_threshold"] is not None, c["refine_threshold"] or 0) for c in cands) == \
        sorted((r is not None, r or 0) for r in cfg.refine_threshold)
    met = [c for c in cands if c["recall"] >= cfg.target_recall] or cands
    assert card["operating_point"]["recall_tiou"] >= max(c["recall_tiou"] for c in met) - 1e-4
    point, _ = choose_point(cands, cfg)
    assert point["refine_threshold"] == pc.refine_threshold
    # without refinement the same selection is the plain rule
    plain = [c for c in cands if c["refine_threshold"] is None]
    assert choose_point(plain, cfg) == choose_operating_point(plain, cfg.target_recall)


def test_refined_model_roundtrip_and_trimming(refined, spliced_sequences, tmp_path):
    _, loc, _ = refined
    out = loc.save(tmp_path / "loc")
    again = Localizer.load(out)
    assert "refine_logreg.npz" in json.loads((out / "model_card.json").read_text())["files"]
    for s in spliced_sequences:
        b = again.boundary(s.features, s.fps)
        np.testing.assert_allclose(b, loc.boundary(s.features, s.fps), rtol=1e-6)
        a = again.actionness(s.features, s.fps)
        # propose() finds the short-window score of the actionness() call that returned this array
        trim = again.proposal_config.model_copy(update={"refine_threshold": 0.5})
        again.proposal_config = trim
        segs = again.propose(a, s.fps)
        assert segs == propose(a, s.fps, trim, b) == again.propose(a, s.fps, b)
        untrimmed = propose(a, s.fps, trim.model_copy(update={"refine_threshold": None}))
        # trimming only shortens: every trimmed proposal lies inside an untrimmed one, none is lost
        assert len(segs) == len(untrimmed)
        assert all(u.start <= t.start <= t.end <= u.end for t, u in zip(segs, untrimmed))
        assert sum(t.length for t in segs) <= sum(u.length for u in untrimmed)
        # an array the model did not score (a copy): no short-window score known, no trimming
        assert again.propose(a.copy(), s.fps) == untrimmed


def test_cards_without_refinement_load_unchanged(refined, spliced_sequences, tmp_path):
    """A card as written before session 5 (no "refine", no refine_threshold) loads and proposes untrimmed."""
    from mouseact import modelcard

    _, loc, _ = refined
    card = {k: v for k, v in loc.card.items() if k != "refine"}
    card["operating_point"] = {**card["operating_point"],
                               "proposal_config": {k: v for k, v in card["operating_point"]["proposal_config"].items()
                                                   if k != "refine_threshold"}}
    out = Localizer(card, loc.estimator).save(tmp_path / "old")
    assert sorted(json.loads((out / modelcard.CARD).read_text())["files"]) == ["logreg.npz"]
    old = Localizer.load(out)
    assert old.refiner is None and old.proposal_config.refine_threshold is None
    s = spliced_sequences[0]
    assert old.boundary(s.features, s.fps) is None
    a = old.actionness(s.features, s.fps)
    np.testing.assert_allclose(a, loc.actionness(s.features, s.fps), rtol=1e-6)
    assert old.propose(a, s.fps) == propose(a, s.fps, old.proposal_config)


def test_refine_settings_validate():
    from mouseact.config import load
    from mouseact.errors import MouseActError

    assert LocalizerTrainConfig().refine_window_s is None
    assert all(b.refine_threshold is None for b in LocalizerTrainConfig().proposal_bases())
    cfg = load(LocalizerTrainConfig, overrides=["refine_window_s=0.33", "refine_threshold=[null, 0.5]"])
    assert cfg.refine_threshold == (None, 0.5) and len(cfg.proposal_bases()) == 2
    assert LocalizerTrainConfig(refine_threshold=0.5).refine_threshold == (0.5,)
    with pytest.raises(MouseActError, match="refine_threshold"):
        load(LocalizerTrainConfig, overrides=["refine_threshold=[1.5]"])
