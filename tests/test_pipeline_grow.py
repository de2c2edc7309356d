"""Stage-2 growth of action candidates (``PipelineConfig.grow_s``) and the grid proposal windows
(``proposal_windows``) on a real spliced recording: the real detector, localizer and classifier;
the stage-2 calls are recorded, not replaced. Growth is tested with ``proposal_windows=pieces``,
the mode it was made for."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mouseact.inference.pipeline import Predictor, dense_windows
from mouseact.localizer.sequences import clip_paths, plan_moving_sequence
from mouseact.timing import StageTimer
from mouseact.video import VideoReader, write_video

PIECES = ["proposal_windows=pieces"]


@pytest.fixture(scope="module")
def sparse_video(bsoid_dir, tmp_path_factory):
    """~1200 frames of mouse2 mostly resting with a few real action bouts (the two-stage bench's recipe)."""
    folder = bsoid_dir / "mouse2"
    pieces, fps = plan_moving_sequence(folder, np.random.default_rng(7))
    paths = clip_paths(folder)
    keep, total = [], 0
    for p in pieces:
        keep.append(p)
        total += p.length
        if total >= 1200:
            break

    def frames():
        for p in keep:
            with VideoReader(paths[p.clip]) as vr:
                yield from vr.get_frames(range(p.start, p.stop))

    out = tmp_path_factory.mktemp("grow") / "sparse.mp4"
    write_video(out, frames(), fps=fps, crf=16)
    return out


def _recorded(predictor: Predictor, labelled: list | None = None) -> list[list[tuple[int, int]]]:
    """Record the segments of every stage-2 call (and, into ``labelled``, what it returned)."""
    rounds: list[list[tuple[int, int]]] = []
    original = predictor._classify_segments

    def record(video, segments, *args, **kw):
        rounds.append(list(segments))
        out = original(video, segments, *args, **kw)
        if labelled is not None:
            labelled.append(out)
        return out

    predictor._classify_segments = record
    return rounds


def test_growth_extends_only_action_candidates_past_their_ends(sparse_video):
    grow = Predictor(overrides=["grow_s=2.0", "stage2_workers=0", *PIECES], progress_bars=False)
    labelled: list = []
    rounds = _recorded(grow, labelled)
    res = grow.predict(sparse_video)
    n, fps = res.info.n_frames, res.info.fps
    piece = grow.segment_frames(fps)
    # each round reaches half a segment further out
    assert 1 <= len(rounds) <= 1 + math.ceil(2.0 * fps / max(1, piece // 2))
    background = grow._background_labels()
    assert background == {"inactive"}
    assert res.n_candidates == sum(map(len, rounds))

    # labels of every classified segment, from a plain classification of the same segments
    plain = Predictor(overrides=["grow_s=0", "stage2_workers=0", *PIECES], progress_bars=False)
    plain_rounds = _recorded(plain)
    plain.predict(sparse_video)
    assert plain_rounds == rounds[:1]  # growth never changes the proposals

    seen = set(rounds[0])
    assert len(rounds) >= 2, "this recording has action bouts stage 1 only partly proposes"
    for k, later in enumerate(rounds[1:], start=1):
        actions = [(iv.start, iv.end) for iv in labelled[k - 1] if iv.label not in background]
        for s, e in later:
            assert 0 <= s <= e <= n - 1
            assert e - s + 1 <= max(piece, grow.min_frames)
            assert (s, e) not in seen  # nothing is classified twice
            # grows from a segment the previous round labelled as an action (never from
            # background) and reaches past it
            assert any(s <= pe + 1 and e >= ps - 1 and (s < ps or e > pe) for ps, pe in actions)
        seen.update(later)


def test_growth_recovers_bout_frames_stage_one_left_out(sparse_video):
    """Frames classified as an action after growth are a superset of those without it, and
    growth stops: it never classifies the whole recording."""
    grow = Predictor(overrides=["grow_s=2.0", *PIECES], progress_bars=False)
    plain = Predictor(overrides=["grow_s=0", *PIECES], progress_bars=False)
    rg, rp = grow.predict(sparse_video), plain.predict(sparse_video)
    n = rg.info.n_frames
    assert rp.n_candidates <= rg.n_candidates < n / grow.segment_frames(rg.info.fps)

    def action_frames(res):
        m = np.zeros(n, bool)
        for iv in res.intervals:
            if iv.label != "inactive":
                m[iv.start:iv.end + 1] = True
        return m

    assert action_frames(rg).sum() >= action_frames(rp).sum()


def test_grid_windows_are_dense_windows_over_the_proposals(sparse_video):
    """proposal_windows=grid sends the --dense grid's windows whose centre lies in a proposal, so
    every proposed frame is seen by a window, and each window gets the label --dense gives it."""
    grid = Predictor(overrides=["proposal_windows=grid", "grow_s=0", "stage2_workers=0"], progress_bars=False)
    labelled: list = []
    rounds = _recorded(grid, labelled)
    res = grid.predict(sparse_video)
    n, fps = res.info.n_frames, res.info.fps
    assert len(rounds) == 1 and res.n_candidates == len(rounds[0])
    piece = grid.segment_frames(fps)
    all_windows = dense_windows(n, piece, max(1, round(grid.config.dense_stride_s * fps)))
    sent = rounds[0]
    assert set(sent) <= set(all_windows)
    assert 0 < len(sent) < len(all_windows) / 2  # a sparse recording: most windows are never sent

    # the proposals these windows came from: every proposed frame lies in a sent window
    with VideoReader(sparse_video, backend=grid.config.stream_backend) as vr:
        _, features, _ = grid._streaming_pass(vr, StageTimer())
    proposals = grid.localizer.propose(grid.localizer.actionness(features, fps), fps)
    seen = np.zeros(n, bool)
    for s, e in sent:
        seen[s:e + 1] = True
    for p in proposals:
        assert seen[max(p.start, 0):min(p.end, n - 1) + 1].all(), p

    # --dense labels the same windows the same way (same track, same crops, same classifier)
    dense = Predictor(dense=True, overrides=["stage2_workers=0"], progress_bars=False)
    dense_labelled: list = []
    dense_rounds = _recorded(dense, dense_labelled)
    dense.predict(sparse_video)
    assert dense_rounds[0] == all_windows
    by_window = {(iv.start, iv.end): (iv.label, round(iv.confidence, 4)) for iv in dense_labelled[0]}
    for iv in labelled[0]:
        assert by_window[(iv.start, iv.end)] == (iv.label, round(iv.confidence, 4))
