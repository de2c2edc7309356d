"""Pose branch: real DeepLabCut files (single- and multi-animal), missing points, bad input."""

import numpy as np
import pytest
from mouseact.errors import AnnotationError
from mouseact.localizer.pose import PoseConfig, check_frame_count, pose_features, read_pose


@pytest.fixture(scope="module")
def social_csv(data_dir):
    return next((data_dir / "social_pose_boris" / "dlc").glob("*.csv"))


def test_multi_animal_dlc_csv(social_csv):
    pose = read_pose(social_csv)
    assert pose.animals == ["adult", "juvenile"]
    assert pose.bodyparts[0] == "nose" and len(pose.bodyparts) == 7
    assert pose.xy.shape == (5700, 2, 7, 2) and pose.likelihood.shape == (5700, 2, 7)
    feats, names = pose_features(pose, fps=30)
    assert feats.shape == (5700, len(names)) and np.isfinite(feats).all()
    assert "nose_to_nose" in names and "adult_speed" in names
    # distances are in body lengths: the two animals' centroids are 0..~20 body lengths apart
    d = feats[:, names.index("pair_distance")]
    assert 0 <= d.min() and np.median(d) < 20


def test_single_animal_dlc_csv_and_unseen_points(data_dir, tmp_path):
    src = data_dir / "openfield_dlc" / "m3v1mp4_dlc_predictions.csv"
    pose = read_pose(src)
    assert pose.animals == ["mouse"] and pose.bodyparts == ["snout", "leftear", "rightear", "tailbase"]
    feats, names = pose_features(pose, fps=30)
    # make the snout unseen (low likelihood) for 60 frames: interpolation cannot bridge 2 s, the
    # unseen share says so, and nothing becomes NaN
    lines = src.read_text().splitlines()
    for i in range(3 + 100, 3 + 160):
        cells = lines[i].split(",")
        cells[3] = "0.01"
        lines[i] = ",".join(cells)
    low = tmp_path / "low.csv"
    low.write_text("\n".join(lines) + "\n")
    f2, _ = pose_features(read_pose(low), fps=30, config=PoseConfig(min_likelihood=0.6, max_gap_s=0.5))
    unseen = f2[:, names.index("mouse_unseen")]
    assert (unseen[100:160] >= 0.25).all() and np.isfinite(f2).all()
    # frames far from the change are the same up to the body-length scale (a median over the file)
    j = names.index("mouse_spread")
    ok = feats[:90, j] > 0  # 0 = every point unseen in that frame
    ratio = f2[:90, j][ok] / feats[:90, j][ok]
    assert ok.sum() > 60 and np.allclose(ratio, ratio[0], rtol=1e-4)
    assert np.array_equal(f2[:90, names.index("mouse_unseen")], feats[:90, names.index("mouse_unseen")])


def test_frame_count_mismatch_is_an_error(social_csv):
    pose = read_pose(social_csv)
    check_frame_count(pose, 5700)
    with pytest.raises(AnnotationError, match="5700 frames but the video has 5699"):
        check_frame_count(pose, 5699, social_csv)


def test_not_a_pose_file(data_dir, tmp_path):
    boris = next((data_dir / "social_pose_boris" / "boris").glob("*.csv"))
    with pytest.raises(AnnotationError, match="not a DeepLabCut CSV"):
        read_pose(boris)
    with pytest.raises(AnnotationError, match="unknown pose format"):
        read_pose(data_dir / "tracktor_arena" / "mouse_video.mp4")
    fake = tmp_path / "x.h5"
    fake.write_text("hello")
    with pytest.raises(AnnotationError, match="not an HDF5 file"):
        read_pose(fake)
    with pytest.raises(AnnotationError, match="not found"):
        read_pose(tmp_path / "missing.csv")
