"""Optional pose branch: keypoint files → egocentric per-frame features.

Readers (all return a :class:`Pose` with ``xy (T, A, K, 2)`` and ``likelihood (T, A, K)``):

* DeepLabCut CSV, single-animal (3 header rows: scorer/bodyparts/coords) and multi-animal
  (4 rows: scorer/individuals/bodyparts/coords);
* DeepLabCut ``.h5`` (a pandas HDF store: needs the ``tables`` package, else a clear error);
* SLEAP analysis ``.h5`` (``tracks``, ``node_names``, ``point_scores``; needs ``h5py``);
* CalMS21 ``.json``/``.npy`` (``keypoints (T, 2 mice, 2, 7)`` + ``scores``).

Missing keypoints: a point with likelihood below ``min_likelihood`` (or NaN coordinates) is
treated as unseen; gaps up to ``max_gap_s`` are filled by linear interpolation; longer gaps
stay missing, the features computed from them are set to 0 and the share of missing points
per animal is itself a feature (the model can learn to distrust those frames).

A pose file whose frame count differs from its video is an error
(:func:`check_frame_count`): a silent offset would shift every label.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from mouseact.config import Config
from mouseact.errors import AnnotationError
from pydantic import Field

CALMS21_BODYPARTS = ["nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail_base"]


@dataclasses.dataclass
class Pose:
    xy: np.ndarray          # (T, A, K, 2) float, NaN = unseen
    likelihood: np.ndarray  # (T, A, K) float in [0, 1]
    animals: list[str]
    bodyparts: list[str]
    source: str = ""
    format: str = ""        # dlc_csv, dlc_h5, sleap_h5, calms21 (set by read_pose)

    @property
    def n_frames(self) -> int:
        return self.xy.shape[0]


class PoseConfig(Config):
    min_likelihood: float = Field(0.6, ge=0, le=1, description="keypoints below this likelihood count as unseen")
    max_gap_s: float = Field(0.5, ge=0, description="interpolate unseen keypoints over gaps up to this long (s)")


# -- readers -------------------------------------------------------------------------------
def _dlc_frame(df, path: Path) -> Pose:
    cols = df.columns
    levels = [list(map(str, lv)) for lv in cols.levels] if hasattr(cols, "levels") else []
    names = [str(n).lower() for n in cols.names]
    if "coords" not in names or "bodyparts" not in names:
        raise AnnotationError("not a DeepLabCut table (needs 'bodyparts' and 'coords' header rows)", path)
    has_ind = "individuals" in names
    tuples = list(cols)
    ib, ic = names.index("bodyparts"), names.index("coords")
    ii = names.index("individuals") if has_ind else None
    animals, parts = [], []
    for t in tuples:
        a = str(t[ii]) if has_ind else "mouse"
        if a not in animals:
            animals.append(a)
        if str(t[ib]) not in parts:
            parts.append(str(t[ib]))
    del levels
    values = df.to_numpy(dtype=np.float64)
    T = len(values)
    if T == 0:
        raise AnnotationError("no frames: the DeepLabCut table has its header rows only", path)
    xy = np.full((T, len(animals), len(parts), 2), np.nan)
    lk = np.ones((T, len(animals), len(parts)))
    for j, t in enumerate(tuples):
        a = animals.index(str(t[ii]) if has_ind else "mouse")
        k = parts.index(str(t[ib]))
        c = str(t[ic]).lower()
        if c == "x":
            xy[:, a, k, 0] = values[:, j]
        elif c == "y":
            xy[:, a, k, 1] = values[:, j]
        elif c == "likelihood":
            lk[:, a, k] = values[:, j]
    if has_ind and "single" in animals and len(animals) > 1:  # DLC's unique (non-animal) bodyparts
        keep = [i for i, a in enumerate(animals) if a != "single"]
        xy, lk, animals = xy[:, keep], lk[:, keep], [animals[i] for i in keep]
    return Pose(xy, np.nan_to_num(lk, nan=0.0), animals, parts, str(path))


def read_dlc_csv(path: str | Path) -> Pose:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise AnnotationError("pose file not found", path)
    with open(path, encoding="utf-8", errors="replace") as f:
        heads = [f.readline().split(",", 1)[0].strip().lower() for _ in range(4)]
    n_header = 4 if heads[1] == "individuals" else 3
    if heads[0] != "scorer" or heads[n_header - 1] != "coords":
        raise AnnotationError("not a DeepLabCut CSV (first column should read scorer/[individuals]/bodyparts/coords)",
                              path)
    try:
        df = pd.read_csv(path, header=list(range(n_header)), index_col=0)
    except Exception as exc:
        raise AnnotationError(f"cannot parse DeepLabCut CSV: {str(exc).splitlines()[0]}", path) from None
    df.columns = df.columns.set_names(["scorer", "individuals", "bodyparts", "coords"][-n_header:] if n_header == 4
                                      else ["scorer", "bodyparts", "coords"])
    try:
        return _dlc_frame(df, path)
    except ValueError as exc:
        raise AnnotationError(f"non-numeric values in DeepLabCut CSV: {exc}", path) from None


def read_dlc_h5(path: str | Path) -> Pose:
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_hdf(path)
    except ImportError:
        raise AnnotationError("reading DeepLabCut .h5 needs the 'tables' package (pip install tables), "
                              "or export the CSV from DeepLabCut", path) from None
    except Exception as exc:
        raise AnnotationError(f"cannot read DeepLabCut .h5: {str(exc).splitlines()[0]}", path) from None
    if not hasattr(df, "columns"):
        raise AnnotationError("not a DeepLabCut table (the .h5 holds no data frame)", path)
    try:
        return _dlc_frame(df, path)
    except ValueError as exc:
        raise AnnotationError(f"non-numeric values in DeepLabCut .h5: {_first_line(exc)}", path) from None


def read_sleap_h5(path: str | Path) -> Pose:
    path = Path(path)
    try:
        import h5py
    except ImportError:
        raise AnnotationError("reading SLEAP .h5 needs the 'h5py' package (pip install h5py)", path) from None
    try:
        with h5py.File(path, "r") as f:
            if "tracks" not in f:
                raise AnnotationError("not a SLEAP analysis file (no 'tracks' dataset)", path)
            if "node_names" not in f:
                raise AnnotationError("not a SLEAP analysis file (no 'node_names' dataset)", path)
            tracks = np.asarray(f["tracks"], dtype=np.float64)          # (A, 2, K, T)
            scores = np.asarray(f["point_scores"], dtype=np.float64) if "point_scores" in f else None  # (A, K, T)
            nodes = [n.decode() if isinstance(n, bytes) else str(n) for n in f["node_names"]]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["track_names"]] \
                if "track_names" in f else []
    except (OSError, ValueError, TypeError) as exc:
        raise AnnotationError(f"cannot read SLEAP analysis .h5: {_first_line(exc)}", path) from None
    if tracks.ndim != 4 or tracks.shape[1] != 2 or tracks.shape[2] != len(nodes):
        raise AnnotationError(f"SLEAP 'tracks' must be (animals, 2, {len(nodes)} nodes, frames), got "
                              f"{tracks.shape}", path)
    if scores is not None and scores.shape != (tracks.shape[0], tracks.shape[2], tracks.shape[3]):
        raise AnnotationError(f"SLEAP 'point_scores' has shape {scores.shape}, expected "
                              f"{(tracks.shape[0], tracks.shape[2], tracks.shape[3])}", path)
    xy = tracks.transpose(3, 0, 2, 1)
    lk = scores.transpose(2, 0, 1) if scores is not None else np.isfinite(xy[..., 0]).astype(float)
    animals = names if len(names) == xy.shape[1] else [f"track{i}" for i in range(xy.shape[1])]
    return Pose(xy, np.nan_to_num(lk, nan=0.0), animals, nodes, str(path))


def read_calms21(path: str | Path, sequence: str | None = None) -> Pose:
    """One sequence of a CalMS21 file (the first one unless ``sequence`` names it)."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        import pickle
        import zipfile

        # CalMS21's .npy is a pickled dict (np.save of a dict): only pickles can hold it
        try:
            arr = np.load(path, allow_pickle=True)
            data = arr.item() if isinstance(arr, np.ndarray) and arr.dtype == object and arr.size == 1 else None
        except (pickle.UnpicklingError, ValueError, EOFError, OSError, zipfile.BadZipFile, ImportError,
                AttributeError, IndexError, TypeError) as exc:
            why = ("neither a NumPy .npy file nor a pickle" if isinstance(exc, pickle.UnpicklingError)
                   else _first_line(exc))
            raise AnnotationError(f"not a CalMS21 .npy file (cannot load it: {why})", path) from None
        if data is None:
            raise AnnotationError("not a CalMS21 .npy file (expected a saved dict of sequences, got an array)",
                                  path)
    else:
        try:
            data = json.loads(path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AnnotationError(f"not a valid JSON file: {_first_line(exc)}", path) from None
    if not isinstance(data, dict):
        raise AnnotationError(f"not a CalMS21 file (expected an object of groups of sequences, got a "
                              f"{type(data).__name__})", path)
    seqs = {}
    for group in data.values():
        if isinstance(group, dict):
            seqs.update({k: v for k, v in group.items() if isinstance(v, dict) and "keypoints" in v})
    if not seqs:
        raise AnnotationError("no CalMS21 sequences with 'keypoints' found", path)
    name = sequence or next(iter(seqs))
    if name not in seqs:
        raise AnnotationError(f"sequence {name!r} not in file ({len(seqs)} sequences)", path)
    try:
        kp = np.asarray(seqs[name]["keypoints"], dtype=np.float64)  # (T, 2 mice, 2 coords, 7)
    except (ValueError, TypeError):
        raise AnnotationError(f"sequence {name!r}: keypoints are not a numeric (T, mice, 2, keypoints) array",
                              path) from None
    if kp.ndim != 4 or kp.shape[2] != 2:
        raise AnnotationError(f"CalMS21 keypoints must be (T, mice, 2, keypoints), got {kp.shape}", path)
    xy = kp.transpose(0, 1, 3, 2)
    try:
        sc = np.asarray(seqs[name].get("scores", np.ones(kp.shape[:2] + kp.shape[3:])), dtype=np.float64)
    except (ValueError, TypeError):
        sc = None
    if sc is None or sc.shape != xy.shape[:3]:
        raise AnnotationError(f"sequence {name!r}: scores must be numbers of shape {xy.shape[:3]} "
                              "(T, mice, keypoints)", path)
    parts = CALMS21_BODYPARTS if xy.shape[2] == 7 else [f"kp{i}" for i in range(xy.shape[2])]
    return Pose(xy, sc, ["resident", "intruder"][: xy.shape[1]], parts, f"{path}:{name}")


POSE_SUFFIXES = (".csv", ".h5", ".hdf5", ".json", ".npy")


def read_pose(path: str | Path) -> Pose:
    """Pick the reader by file content/extension (``Pose.format`` says which one was used).

    Any problem with the file (unreadable, another format, no frames) is a one-line
    :class:`~mouseact.errors.AnnotationError` naming it."""
    pose = _read_pose(Path(path))
    if pose.n_frames == 0:
        raise AnnotationError("pose file has no frames", path)
    if pose.xy.shape[1] == 0 or pose.xy.shape[2] == 0:
        raise AnnotationError("pose file has no animals or no keypoints", path)
    return pose


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _read_pose(path: Path) -> Pose:
    if not path.is_file():
        raise AnnotationError("pose file not found", path)
    suf = path.suffix.lower()
    if suf == ".csv":
        return dataclasses.replace(read_dlc_csv(path), format="dlc_csv")
    if suf in (".h5", ".hdf5", ".slp"):
        if suf == ".slp":
            raise AnnotationError("SLEAP .slp project files are not read; export an analysis .h5 "
                                  "(sleap-convert --format analysis)", path)
        with open(path, "rb") as f:
            head = f.read(8)
        if head != b"\x89HDF\r\n\x1a\n":
            raise AnnotationError("not an HDF5 file", path)
        try:
            import h5py

            with h5py.File(path, "r") as f:
                is_sleap = "tracks" in f
        except ImportError:
            is_sleap = False
        if is_sleap:
            return dataclasses.replace(read_sleap_h5(path), format="sleap_h5")
        return dataclasses.replace(read_dlc_h5(path), format="dlc_h5")
    if suf in (".json", ".npy"):
        return dataclasses.replace(read_calms21(path), format="calms21")
    raise AnnotationError("unknown pose format (DeepLabCut .csv/.h5, SLEAP analysis .h5, CalMS21 .json/.npy)", path)


def find_pose_file(folder: str | Path, stem: str) -> Path:
    """The pose file of the video named ``stem`` in ``folder``.

    ``<stem>.<ext>`` if it exists, else the one file whose name starts with ``<stem>`` followed
    by ``DLC`` (DeepLabCut appends ``DLC_<network>...``), ``_``, ``-`` or ``.``; several
    candidates (e.g. DLC's plain and ``_filtered`` outputs side by side) are an error.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AnnotationError("pose folder not found", folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in POSE_SUFFIXES)
    exact = [p for p in files if p.stem == stem]
    if len(exact) == 1:
        return exact[0]
    cands = exact or [p for p in files if any(p.stem.startswith(stem + sep) for sep in ("DLC", "_", "-", "."))]
    if not cands:
        raise AnnotationError(f"no pose file for video {stem!r} (expected {stem}.csv/.h5/.json/.npy or "
                              f"{stem}DLC_*.csv)", folder)
    if len(cands) > 1:
        raise AnnotationError(f"several pose files for video {stem!r}: {', '.join(p.name for p in cands)} "
                              "(keep one per video in the folder)", folder)
    return cands[0]


def positional_names(names: list[str], animals: list[str]) -> list[str]:
    """Feature names with animal names replaced by their position (``animal0``, ``animal1``, ...).

    Two pose files describe the same features when these agree, whatever the animals are
    called (DLC ``individual1`` vs ``adult``).
    """
    import re

    order = sorted(range(len(animals)), key=lambda i: -len(animals[i]))
    out = []
    for n in names:
        for i in order:
            n = re.sub(rf"(?:(?<=_)|^){re.escape(animals[i])}(?=_|$)", f"\x00{i}", n)
        out.append(n.replace("\x00", "animal"))
    return out


def check_frame_count(pose: Pose, n_frames: int, path: str | Path | None = None,
                      against: str = "the video") -> None:
    """``AnnotationError`` naming the pose file if it does not have ``n_frames`` frames."""
    if pose.n_frames != n_frames:
        raise AnnotationError(f"pose has {pose.n_frames} frames but {against} has {n_frames}: "
                              f"is it the pose of {'this video' if against == 'the video' else against} "
                              "(same trimming, same frame rate)?", path or pose.source)


# -- features ------------------------------------------------------------------------------
def _interp_gaps(x: np.ndarray, max_gap: int) -> np.ndarray:
    """Linear interpolation along axis 0 over NaN runs of at most ``max_gap`` frames (per column)."""
    from mouseact.intervals import runs

    x = x.copy()
    flat = x.reshape(len(x), -1)
    idx = np.arange(len(x))
    for j in range(flat.shape[1]):
        col = flat[:, j]
        bad = ~np.isfinite(col)
        if not bad.any() or bad.all():
            continue
        good = ~bad
        filled = np.interp(idx, idx[good], col[good])
        for s, e in runs(bad):
            if e - s + 1 <= max_gap and s > 0 and e < len(col) - 1:
                col[s:e + 1] = filled[s:e + 1]
    return flat.reshape(x.shape)


def _find(parts: list[str], *keys: str, default: int) -> int:
    low = [p.lower().replace("_", "").replace(" ", "") for p in parts]
    for k in keys:
        for i, p in enumerate(low):
            if p == k:
                return i
    for k in keys:
        for i, p in enumerate(low):
            if k in p:
                return i
    return default


def pose_features(pose: Pose, fps: float, config: PoseConfig = PoseConfig()) -> tuple[np.ndarray, list[str]]:
    """Egocentric per-frame features ``(T, P)`` float32 and their names.

    Per animal: centroid speed, nose speed relative to the centroid, body spread, body length,
    heading turn rate, share of unseen keypoints. For the first two animals: centroid
    distance, nearest keypoint distance, each nose to the other's centroid, nose to nose,
    closing speed, and how much each faces the other. Lengths are in body lengths (median
    nose–tail distance over the file), speeds per second.
    """
    xy = pose.xy.astype(np.float64).copy()
    seen = (pose.likelihood >= config.min_likelihood) & np.isfinite(xy).all(-1)
    xy[~seen] = np.nan
    xy = _interp_gaps(xy, int(round(config.max_gap_s * fps)))
    T, A, K, _ = xy.shape
    nose = _find(pose.bodyparts, "nose", "snout", "head", default=0)
    tail = _find(pose.bodyparts, "tailbase", "tail", "tail1", default=K - 1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames are expected (unseen animal)
        centroid = np.nanmean(xy, axis=2)                                 # (T, A, 2)
        body_len = np.linalg.norm(xy[:, :, nose] - xy[:, :, tail], axis=-1)  # (T, A)
        scale = float(np.nanmedian(body_len)) if np.isfinite(body_len).any() else np.nan
    if not np.isfinite(scale) or scale <= 0:
        raise AnnotationError("cannot measure body length (nose and tail never seen together)", pose.source)

    def rate(v: np.ndarray) -> np.ndarray:  # |d/dt| per second, same length
        d = np.zeros_like(v)
        d[1:] = v[1:] - v[:-1]
        return d * fps

    feats, names = [], []
    heads = []
    for a in range(A):
        an = pose.animals[a]
        c = centroid[:, a]
        n = xy[:, a, nose]
        v = rate(c)
        feats.append(np.linalg.norm(v, axis=-1) / scale); names.append(f"{an}_speed")
        feats.append(np.linalg.norm(rate(n - c), axis=-1) / scale); names.append(f"{an}_nose_rel_speed")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.nanmean(np.linalg.norm(xy[:, a] - c[:, None], axis=-1), axis=1)
        feats.append(spread / scale); names.append(f"{an}_spread")
        feats.append(body_len[:, a] / scale); names.append(f"{an}_length")
        hvec = n - xy[:, a, tail]
        ang = np.unwrap(np.nan_to_num(np.arctan2(hvec[:, 1], hvec[:, 0])))
        feats.append(np.abs(rate(ang))); names.append(f"{an}_turn_rate")
        feats.append(1 - seen[:, a].mean(1)); names.append(f"{an}_unseen")
        heads.append(hvec)
    if A >= 2:
        a0, a1 = pose.animals[:2]
        c0, c1 = centroid[:, 0], centroid[:, 1]
        n0, n1 = xy[:, 0, nose], xy[:, 1, nose]
        dist = np.linalg.norm(c0 - c1, axis=-1) / scale
        pair = np.linalg.norm(xy[:, 0, :, None] - xy[:, 1, None, :], axis=-1)  # (T, K, K)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            nearest = np.nanmin(pair.reshape(T, -1), axis=1) / scale
        feats += [dist, nearest, np.linalg.norm(n0 - c1, axis=-1) / scale, np.linalg.norm(n1 - c0, axis=-1) / scale,
                  np.linalg.norm(n0 - n1, axis=-1) / scale, -rate(dist)]
        names += ["pair_distance", "pair_nearest", f"{a0}_nose_to_{a1}", f"{a1}_nose_to_{a0}", "nose_to_nose",
                  "pair_closing_speed"]
        for h, src, dst, nm in ((heads[0], c0, c1, f"{a0}_faces_{a1}"), (heads[1], c1, c0, f"{a1}_faces_{a0}")):
            to = dst - src
            cos = (h * to).sum(-1) / (np.linalg.norm(h, axis=-1) * np.linalg.norm(to, axis=-1) + 1e-9)
            feats.append(cos); names.append(nm)
    out = np.stack(feats, axis=1)
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return out.astype(np.float32), names
