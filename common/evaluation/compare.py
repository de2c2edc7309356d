"""Group comparison: per-behaviour statistics between conditions (e.g. pre/post treatment).

Input: a run's predictions (``predictions/<video>.json`` + sidecars) and a CSV mapping each video
to a condition (columns ``video``, ``condition``; optional ``subject`` for paired designs).
For every behaviour and every summary measure (bouts, total_s, mean_bout_s, per_minute,
share_of_time -- see :func:`mouseact.export.behaviour_summary`) and every pair of conditions:

p-values are exact (all relabellings enumerated, ties included) while that is cheap
(``EXACT_LIMIT``), scipy's default method beyond.

* independent groups: two-sided Mann-Whitney U, effect size = rank-biserial correlation
  ``r = 2 U_b / (n_a n_b) - 1`` (P(b > a) - P(b < a); positive: larger in condition b);
* paired (every row has a subject, each subject seen in both conditions): two-sided Wilcoxon
  signed-rank on ``b - a``, effect size = matched-pairs rank-biserial ``(W+ - W-) / (W+ + W-)``;
* three or more conditions: first an omnibus row per behaviour (``condition_a = "all"``):
  Kruskal-Wallis (epsilon-squared) or, paired, Friedman (Kendall's W), corrected as its own
  family; then every pair as above.

p-values are corrected across behaviours x condition pairs within each measure, by Holm
(family-wise) and Benjamini-Hochberg (false discovery rate); both are reported. Comparisons where
every value is equal (typically a behaviour never seen) are reported with p = 1 and left out of
the correction family, since no grouping could make them significant.
With few videos a rank test cannot reach significance at all: the smallest p it can give
(``min_possible_p``) is reported, and a warning is raised whenever it exceeds ``alpha``.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from mouseact import atomic
from mouseact.config import Config
from mouseact.errors import MouseActError
from mouseact.export import SUMMARY_METRICS, markdown_table, video_stem, window_summary
from mouseact.intervals import near_duplicates
from pydantic import Field

log = logging.getLogger(__name__)

STATS_COLUMNS = [
    "measure",
    "behavior",
    "condition_a",
    "condition_b",
    "test",
    "n_a",
    "n_b",
    "median_a",
    "median_b",
    "mean_a",
    "mean_b",
    "statistic",
    "p",
    "p_holm",
    "p_bh",
    "effect_size",
    "min_possible_p",
    "significant",
    "note",
]


class CompareConfig(Config):
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level for the corrected p-values")
    correction: Literal["holm", "bh"] = Field(
        "holm",
        description="which corrected p decides 'significant' "
        "(holm = family-wise error, bh = false discovery rate)",
    )
    measures: list[str] = Field(list(SUMMARY_METRICS), description="summary measures to compare")
    paired: Literal["auto", "yes", "no"] = Field(
        "auto", description="auto = Wilcoxon signed-rank when the groups CSV has a subject for every video"
    )
    start_s: float | None = Field(None, ge=0, description="only the part of each video from this time (s)")
    end_s: float | None = Field(
        None,
        gt=0,
        description="only the part of each video before this time (s), e.g. 600 for the first 10 minutes",
    )


@dataclass
class GroupRow:
    video: str  # as written in the CSV
    condition: str
    subject: str | None
    row: int


@dataclass
class CompareResult:
    stats: list[dict]
    values: list[dict]  # video, condition, subject, behavior, <measures>
    conditions: list[str]
    behaviors: list[str]
    paired: bool
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# groups CSV
# --------------------------------------------------------------------------------------------
def read_groups(path: str | Path) -> list[GroupRow]:
    path = Path(path)
    if not path.is_file():
        raise MouseActError("groups CSV not found", path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MouseActError(f"cannot read groups CSV: {exc.strerror or exc}", path) from None
    # Excel saves "CSV UTF-8" (BOM), "Unicode text" (UTF-16) or, on Windows, "CSV" in cp1252
    for encoding in ("utf-16",) if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise MouseActError("cannot read groups CSV: not UTF-8, UTF-16 or Windows-1252 text (save it as "
                            "'CSV UTF-8')", path)
    try:  # lab sheets come as comma, semicolon (European Excel) or tab separated
        dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t")
    except (csv.Error, IndexError):
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
    vcol = cols.get("video")
    ccol = cols.get("condition") or cols.get("group")
    scol = cols.get("subject") or cols.get("animal") or cols.get("mouse")
    if not vcol or not ccol:
        raise MouseActError(
            f"groups CSV needs columns 'video' and 'condition' (found: {', '.join(cols) or 'none'})", path
        )
    rows, seen = [], {}
    for i, rec in enumerate(reader, start=2):
        video = (rec.get(vcol) or "").strip()
        cond = (rec.get(ccol) or "").strip()
        if not video and not cond:
            continue
        if not video or not cond:
            raise MouseActError(f"row {i}: empty video or condition", path)
        stem = video_stem(video)
        if stem in seen:
            raise MouseActError(f"row {i}: video {video!r} already listed in row {seen[stem]} (videos are matched "
                                "by file name without folder or extension: give recordings distinct names)", path)
        seen[stem] = i
        subject = (rec.get(scol) or "").strip() or None if scol else None
        rows.append(GroupRow(video, cond, subject, i))
    if not rows:
        raise MouseActError("groups CSV has no rows", path)
    return rows


# --------------------------------------------------------------------------------------------
# statistics (small, hand-checkable functions; tests compare them with scipy)
# --------------------------------------------------------------------------------------------
def holm(p: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries stay NaN and do not count)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if not m:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def benjamini_hochberg(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (NaN entries stay NaN and do not count)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if not m:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    raw = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(raw[::-1])[::-1]
    out[order] = np.minimum(adj, 1.0)
    return out


def rank_biserial_unpaired(a: Sequence[float], b: Sequence[float]) -> float:
    """P(b > a) - P(b < a) over all pairs (ties count half): equals ``2 U_b / (n_a n_b) - 1``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = b[:, None] - a[None, :]
    return float((np.sum(diff > 0) - np.sum(diff < 0)) / diff.size)


def rank_biserial_paired(d: Sequence[float]) -> float:
    """Matched-pairs rank-biserial ``(W+ - W-) / (W+ + W-)`` over the non-zero differences."""
    from scipy.stats import rankdata

    d = np.asarray(d, float)
    d = d[d != 0]
    if not d.size:
        return 0.0
    ranks = rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def min_p_mannwhitney(n_a: int, n_b: int) -> float:
    """Smallest two-sided exact Mann-Whitney p: complete separation, ``2 / C(n_a+n_b, n_a)``."""
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def min_p_wilcoxon(n: int) -> float:
    """Smallest two-sided exact Wilcoxon signed-rank p: all differences one sign, ``2 / 2**n``."""
    return min(1.0, 2.0 / 2**n)


EXACT_LIMIT = 200_000  # enumerate every relabelling up to this many (well under a second)


def _method(n_arrangements: int):
    """Exact permutation p (ties handled exactly) for small samples; scipy's default otherwise.

    scipy's "auto" falls back to the normal approximation whenever values tie -- and tied zeros
    are common here (a behaviour absent in several videos) -- which for 3 vs 3 videos can give
    p = 0.07 where the exact test cannot go below 0.1."""
    from scipy.stats import PermutationMethod

    return PermutationMethod(n_resamples=np.inf) if n_arrangements <= EXACT_LIMIT else "auto"


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, str]:
    """``(U_b, p, rank-biserial, note)``; p is NaN when a group has fewer than 2 values."""
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan, math.nan, "not tested: fewer than 2 videos in a condition"
    r = rank_biserial_unpaired(a, b)
    if np.all(np.concatenate([a, b]) == a[0]):
        return len(a) * len(b) / 2, 1.0, 0.0, "all values equal"
    res = mannwhitneyu(b, a, alternative="two-sided", method=_method(math.comb(len(a) + len(b), len(a))))
    return float(res.statistic), float(res.pvalue), r, ""


def wilcoxon_paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, str]:
    """``(W, p, matched-pairs rank-biserial, note)`` on ``b - a``."""
    from scipy.stats import wilcoxon

    d = np.asarray(b, float) - np.asarray(a, float)
    if len(d) < 2:
        return math.nan, math.nan, math.nan, "not tested: fewer than 2 subjects seen in both conditions"
    if np.all(d == 0):
        return 0.0, 1.0, 0.0, "all differences zero"
    res = wilcoxon(d, alternative="two-sided", zero_method="wilcox", method=_method(2 ** int(np.sum(d != 0))))
    return float(res.statistic), float(res.pvalue), rank_biserial_paired(d), ""


# --------------------------------------------------------------------------------------------
# the comparison
# --------------------------------------------------------------------------------------------
def collect_values(
    pred_dir: str | Path | Sequence[str | Path],
    groups: list[GroupRow],
    groups_path: Path | str = "groups CSV",
    start_s: float | None = None,
    end_s: float | None = None,
) -> tuple[list[dict], list[str], list[str]]:
    """Per video x behaviour summary values joined with the condition. Returns
    ``(values, behaviors, warnings)``. Videos named in the groups CSV but without predictions
    are an error; predictions not in the CSV are left out with a warning."""
    warnings: list[str] = []
    preds = read_runs(pred_dir, warnings)
    wanted = {video_stem(g.video): g for g in groups}
    missing = [g.video for s, g in wanted.items() if s not in preds]
    if missing:
        have = sorted(preds)
        raise MouseActError(
            f"no predictions for video(s) listed in {Path(groups_path).name}: {', '.join(missing)} "
            f"(predictions exist for: {', '.join(have[:8])}{' ...' if len(have) > 8 else ''})",
            pred_dir if isinstance(pred_dir, (str, Path)) else ", ".join(map(str, pred_dir)),
        )
    extra = sorted(s for s in preds if s not in wanted)
    if extra:
        warnings.append(
            f"{len(extra)} video(s) with predictions are not in the groups CSV and were left out: "
            + ", ".join(extra)
        )
    warnings += _analysed_alike(preds, wanted)
    behaviors = sorted(
        {c for s in wanted for c in preds[s].classes}
        | {iv.label for s in wanted for iv in preds[s].intervals}
    )
    values = []
    # rates and shares of a recording much shorter than the others rest on little time (e.g. a file
    # cut short by the camera): still compared, since the user listed it, but said plainly
    seconds = {stem: preds[stem].n_frames / preds[stem].fps for stem in wanted}
    typical = float(np.median(list(seconds.values())))
    for stem, sec in seconds.items():
        if len(seconds) > 1 and sec < 0.5 * typical:
            warnings.append(f"{preds[stem].video} is {sec:.1f} s long, less than half the median recording "
                            f"({typical:.1f} s): its bouts per minute and share of time rest on little time")
    for stem, g in wanted.items():
        vp = preds[stem]
        summ = window_summary(vp.intervals, vp.fps, vp.n_frames, behaviors, start_s, end_s, vp.video)
        if end_s is not None and vp.n_frames / vp.fps < end_s - 1.0 / vp.fps:
            warnings.append(
                f"{vp.video} is {vp.n_frames / vp.fps:.1f} s long, shorter than the window end "
                f"{end_s:g} s: its rates use its own length"
            )
        for beh in behaviors:
            values.append(
                {
                    "video": vp.video,
                    "condition": g.condition,
                    "subject": g.subject,
                    "behavior": beh,
                    **summ[beh],
                }
            )
    return values, behaviors, warnings


def _analysed_alike(preds: dict, wanted: dict) -> list[str]:
    """Warnings for settings that differ between the compared videos (another model, other
    post-processing...): a difference that lines up with the conditions is a confound, not an effect."""
    from mouseact.config import flat_settings

    signatures = {}
    for stem in wanted:
        meta = preds[stem].meta or {}
        if "postprocess" not in meta and "settings" not in meta:
            continue  # hand-scored or written before settings were recorded
        settings = {k: v for k, v in (meta.get("settings") or {}).items() if k not in ("video_key", "model")}
        signatures[stem] = {**flat_settings(settings), **flat_settings(meta.get("postprocess") or {}, "postprocess."),
                            **({} if settings else {"model_folder": meta.get("model")})}
    keys = sorted({k for sig in signatures.values() for k in sig})
    differing = [k for k in keys if len({repr(sig.get(k)) for sig in signatures.values()}) > 1]
    out = []
    for k in differing[:3]:
        by_value: dict[str, list[str]] = {}
        for stem, sig in signatures.items():
            by_value.setdefault(repr(sig.get(k)), []).append(wanted[stem].condition)
        parts = [f"{value} for {len(conds)} ({', '.join(f'{c}: {conds.count(c)}' for c in sorted(set(conds)))})"
                 for value, conds in by_value.items()]
        out.append(f"the videos were not analysed alike: {k} = " + "; ".join(parts)
                   + " -- a difference between conditions may come from this, not from the treatment")
    if len(differing) > 3:
        out.append(f"... and {len(differing) - 3} more setting(s) differ: {', '.join(differing[3:8])}")
    return out


def read_runs(pred_dirs, warnings: list[str] | None = None) -> dict:
    """Predictions of one run folder or several (e.g. pre and post recorded and run apart).

    A Supervisely project or BORIS export works too: hand-scored sessions are compared the same way."""
    from mouseact.evaluation.evaluate import load_predictions

    dirs = [pred_dirs] if isinstance(pred_dirs, (str, Path)) else list(pred_dirs)
    preds, where = {}, {}
    for d in dirs:
        notes: list[str] = []
        loaded, source = load_predictions(d, notes)
        if source != "mouseact" and warnings is not None:
            warnings.append(f"{Path(d).name}: human annotations ({source}), not model predictions")
        for stem, vp in loaded.items():
            if stem in preds:
                raise MouseActError(f"video {stem!r} has predictions in both {where[stem]} and {d} (videos are "
                                    "matched by file name: give recordings of different days distinct names)", d)
            preds[stem], where[stem] = vp, d
    return preds


def _decide_paired(groups: list[GroupRow], mode: str, groups_csv: Path | str = "groups CSV") -> bool:
    blank = [g.row for g in groups if not g.subject]
    if blank and len(blank) < len(groups):  # one empty cell must not silently turn a paired design unpaired
        raise MouseActError(f"row(s) {', '.join(map(str, blank[:8]))} have no subject while the others do: fill "
                            "them in (paired test), or empty the whole subject column (unpaired test)", groups_csv)
    subjects = sorted({g.subject for g in groups if g.subject})
    same = near_duplicates(subjects)
    if same:
        raise MouseActError(f"subjects {', '.join(repr(c) for c in same[0])} differ only in case or spacing: write "
                            "each subject one way", groups_csv)
    has_subject = not blank
    if mode == "yes" and not has_subject:
        raise MouseActError("paired comparison asked for but the groups CSV lacks a subject for every video")
    return has_subject if mode == "auto" else mode == "yes"


def compare_values(
    values: list[dict], conditions: Sequence[str], behaviors: Sequence[str], paired: bool, cfg: CompareConfig
) -> tuple[list[dict], list[str]]:
    stats, warnings = [], []
    small_n_pairs = set()
    for measure in cfg.measures:
        rows = []
        for beh in behaviors:
            vals = [v for v in values if v["behavior"] == beh]
            for ca, cb in itertools.combinations(conditions, 2):
                # a measure undefined for a video (mean bout length with no bouts) leaves that video out
                undefined = sum(v[measure] is None for v in vals if v["condition"] in (ca, cb))
                if paired:
                    per = {}  # subject -> condition -> list of values (mean if several videos)
                    for v in vals:
                        if v[measure] is not None:
                            per.setdefault(v["subject"], {}).setdefault(v["condition"], []).append(v[measure])
                    subjects = sorted(s for s, d in per.items() if ca in d and cb in d)
                    a = [float(np.mean(per[s][ca])) for s in subjects]
                    b = [float(np.mean(per[s][cb])) for s in subjects]
                    stat, p, eff, note = wilcoxon_paired(a, b)
                    dropped = sorted(s for s, d in per.items() if (ca in d) != (cb in d))
                    several = sorted(s for s in subjects if len(per[s][ca]) > 1 or len(per[s][cb]) > 1)
                    if several:
                        note = _join(note, f"several videos per condition averaged for: {', '.join(several)}")
                    if dropped:
                        note = _join(note, f"subjects without both conditions left out: {', '.join(dropped)}")
                    min_p = min_p_wilcoxon(len(a)) if len(a) >= 2 else math.nan
                    test = "wilcoxon_signed_rank"
                else:
                    a = [v[measure] for v in vals if v["condition"] == ca and v[measure] is not None]
                    b = [v[measure] for v in vals if v["condition"] == cb and v[measure] is not None]
                    stat, p, eff, note = mann_whitney(a, b)
                    min_p = min_p_mannwhitney(len(a), len(b)) if len(a) >= 2 and len(b) >= 2 else math.nan
                    test = "mann_whitney_u"
                if undefined:
                    note = _join(note, f"{undefined} video(s) without a bout left out (no mean bout length)")
                # the study-wide warning is about the design's n; a row that lost videos says so itself
                if not math.isnan(min_p) and min_p > cfg.alpha:
                    if not undefined:
                        small_n_pairs.add((ca, cb, len(a), len(b), min_p))
                    note = _join(note, f"n too small: p cannot go below {min_p:.3g}")
                elif math.isnan(min_p) and not undefined:
                    small_n_pairs.add((ca, cb, len(a), len(b), math.nan))
                rows.append(
                    {
                        "measure": measure,
                        "behavior": beh,
                        "condition_a": ca,
                        "condition_b": cb,
                        "test": test,
                        "n_a": len(a),
                        "n_b": len(b),
                        "median_a": _r(np.median(a)) if a else math.nan,
                        "median_b": _r(np.median(b)) if b else math.nan,
                        "mean_a": _r(np.mean(a)) if a else math.nan,
                        "mean_b": _r(np.mean(b)) if b else math.nan,
                        "statistic": _r(stat),
                        "p": _r(p, 6),
                        "effect_size": _r(eff, 4),
                        "min_possible_p": _r(min_p, 6),
                        "note": note,
                    }
                )
        _correct(rows, cfg)
        if len(conditions) > 2:
            # with three or more conditions, the omnibus test comes first (its own family)
            omnibus = [_omnibus_row(measure, beh, values, conditions, paired) for beh in behaviors]
            _correct(omnibus, cfg)
            stats += omnibus
        stats += rows
    for ca, cb, na, nb, min_p in sorted(small_n_pairs, key=str):
        who = "subjects" if paired else "videos"
        if math.isnan(min_p):
            warnings.append(
                f"{ca} vs {cb}: n = {na} / {nb} {who}: too few to test (need at least 2 per condition)"
            )
        else:
            warnings.append(
                f"{ca} vs {cb}: n = {na} / {nb} {who}: too few for a rank test to reach "
                f"p < {cfg.alpha:g} (smallest possible p = {min_p:.3g}); add {who} before drawing "
                "conclusions"
            )
    return stats, warnings


def _correct(rows: list[dict], cfg: CompareConfig) -> None:
    """Holm and BH within ``rows`` (one family). Tests with no variability at all (every value
    equal) cannot reject whatever the grouping, so they stay out of the family (independent
    filtering) and keep p = 1."""
    untestable = [r["note"].startswith(("all values equal", "all differences zero")) for r in rows]
    family = [math.nan if u else r["p"] for r, u in zip(rows, untestable, strict=True)]
    ph, pb = holm(family), benjamini_hochberg(family)
    for r, h, q, u in zip(rows, ph, pb, untestable, strict=True):
        r["p_holm"], r["p_bh"] = (1.0, 1.0) if u else (_r(h, 6), _r(q, 6))
        decisive = r["p_holm"] if cfg.correction == "holm" else r["p_bh"]
        r["significant"] = bool(not math.isnan(decisive) and decisive < cfg.alpha)


def omnibus(groups: Sequence[Sequence[float]], paired: bool) -> tuple[float, float, float, str]:
    """Kruskal-Wallis H (effect size epsilon-squared = H / (n - 1)) for independent groups, or
    Friedman chi-squared (effect size Kendall's W = chi2 / (n (k - 1))) for subjects measured in
    every condition. ``(statistic, p, effect, note)``."""
    from scipy.stats import friedmanchisquare, kruskal

    k = len(groups)
    flat = np.concatenate([np.asarray(g, float) for g in groups]) if groups else np.zeros(0)
    if min((len(g) for g in groups), default=0) < 2:
        return math.nan, math.nan, math.nan, "not tested: fewer than 2 per condition"
    if np.all(flat == flat[0]):
        return 0.0, 1.0, 0.0, "all values equal"
    if paired:
        n = len(groups[0])
        if np.all(np.ptp(np.asarray(groups, float), axis=0) == 0):
            return 0.0, 1.0, 0.0, "all differences zero"
        res = friedmanchisquare(*groups)
        return float(res.statistic), float(res.pvalue), float(res.statistic / (n * (k - 1))), ""
    res = kruskal(*groups)
    return float(res.statistic), float(res.pvalue), float(res.statistic / (len(flat) - 1)), ""


def _omnibus_row(measure: str, beh: str, values: list[dict], conditions: Sequence[str], paired: bool) -> dict:
    vals = [v for v in values if v["behavior"] == beh]
    if paired:
        per: dict = {}
        for v in vals:
            if v[measure] is not None:
                per.setdefault(v["subject"], {}).setdefault(v["condition"], []).append(v[measure])
        subjects = sorted(s for s, d in per.items() if all(c in d for c in conditions))
        groups = [[float(np.mean(per[s][c])) for s in subjects] for c in conditions]
        test = "friedman"
    else:
        groups = [[v[measure] for v in vals if v["condition"] == c and v[measure] is not None] for c in conditions]
        test = "kruskal_wallis"
    stat, p, eff, note = omnibus(groups, paired)
    sizes = "/".join(str(len(g)) for g in groups)
    return {
        "measure": measure, "behavior": beh, "condition_a": "all", "condition_b": "", "test": test,
        "n_a": sum(len(g) for g in groups) if not paired else len(groups[0]), "n_b": len(conditions),
        "median_a": math.nan, "median_b": math.nan, "mean_a": math.nan, "mean_b": math.nan,
        "statistic": _r(stat), "p": _r(p, 6), "effect_size": _r(eff, 4), "min_possible_p": math.nan,
        "note": _join(note, f"omnibus over {len(conditions)} conditions (n = {sizes})"),
    }  # fmt: skip


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _r(x, nd: int = 4) -> float:
    x = float(x)
    return x if math.isnan(x) else round(x, nd)


def compare(
    pred_dir: str | Path | Sequence[str | Path], groups_csv: str | Path, cfg: CompareConfig | None = None
) -> CompareResult:
    cfg = cfg or CompareConfig()
    bad = [m for m in cfg.measures if m not in SUMMARY_METRICS]
    if bad:
        raise MouseActError(f"unknown measure(s) {', '.join(bad)} (choose from {', '.join(SUMMARY_METRICS)})")
    groups = read_groups(groups_csv)
    conditions = list(dict.fromkeys(g.condition for g in groups))
    same = near_duplicates(conditions)
    if same:
        raise MouseActError(f"conditions {', '.join(repr(c) for c in same[0])} differ only in case or spacing: "
                            "write each condition one way in the groups CSV", groups_csv)
    if len(conditions) < 2:
        raise MouseActError(
            f"groups CSV has only one condition ({conditions[0]!r}); need at least two", groups_csv
        )
    paired = _decide_paired(groups, cfg.paired, groups_csv)
    values, behaviors, warnings = collect_values(pred_dir, groups, groups_csv, cfg.start_s, cfg.end_s)
    stats, w2 = compare_values(values, conditions, behaviors, paired, cfg)
    return CompareResult(stats, values, conditions, behaviors, paired, warnings + w2)


# --------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------
def plot_measure(path: Path, result: CompareResult, measure: str) -> Path:
    """Box + strip plot per behaviour (one panel each); paired designs join a subject's points."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from mouseact.export import class_colors

    behs = result.behaviors
    ncol = min(4, len(behs))
    nrow = math.ceil(len(behs) / ncol)
    fig = Figure(figsize=(3.2 * ncol, 2.8 * nrow + 0.4), dpi=100)
    colors = class_colors(result.conditions)
    rng = np.random.default_rng(0)  # fixed jitter: the same inputs give the same picture
    stat_of = {
        (s["behavior"], s["condition_a"], s["condition_b"]): s
        for s in result.stats
        if s["measure"] == measure
    }
    for k, beh in enumerate(behs):
        ax = fig.add_subplot(nrow, ncol, k + 1)
        vals = [v for v in result.values if v["behavior"] == beh]
        vals = [v for v in vals if v[measure] is not None]
        data = [[v[measure] for v in vals if v["condition"] == c] for c in result.conditions]
        ax.boxplot(
            data, positions=range(len(data)), widths=0.5, showfliers=False, medianprops={"color": "black"}
        )
        xs_of = {}
        for i, (c, ys) in enumerate(zip(result.conditions, data)):
            xs = i + rng.uniform(-0.12, 0.12, len(ys))
            ax.scatter(xs, ys, s=16, color=colors[c], zorder=3)
            for x, v in zip(xs, [v for v in vals if v["condition"] == c]):
                xs_of[(v["subject"], c)] = (x, v[measure])
        if result.paired:
            for subj in {v["subject"] for v in vals}:
                pts = [xs_of[(subj, c)] for c in result.conditions if (subj, c) in xs_of]
                if len(pts) > 1:
                    ax.plot(*zip(*pts), color="grey", lw=0.7, alpha=0.6, zorder=2)
        ax.set_xticks(range(len(data)))
        ax.set_xticklabels(result.conditions, fontsize=8)
        title = beh
        if len(result.conditions) == 2:
            s = stat_of.get((beh, *result.conditions))
            if s and not math.isnan(s["p"]):
                title += f"\np={s['p']:.3g} (holm {s['p_holm']:.3g}), r={s['effect_size']:+.2f}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_ylabel(measure, fontsize=7)
    fig.suptitle(
        f"{measure} by condition ({'paired, Wilcoxon' if result.paired else 'Mann-Whitney U'})", fontsize=10
    )
    fig.tight_layout()
    with atomic.file(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path


def write_outputs(
    result: CompareResult, out_dir: str | Path, cfg: CompareConfig, plots: bool = True
) -> dict[str, Path]:
    out_dir = Path(out_dir)
    from mouseact.export import _csv_text

    paths = {}
    paths["stats_csv"] = atomic.write_text(
        out_dir / "stats.csv", _csv_text(STATS_COLUMNS, [[s[c] for c in STATS_COLUMNS] for s in result.stats])
    )
    vcols = ["video", "condition", "subject", "behavior", *SUMMARY_METRICS]
    paths["values_csv"] = atomic.write_text(
        out_dir / "values.csv", _csv_text(vcols, [[v[c] for c in vcols] for v in result.values])
    )
    md = [
        "# Group comparison",
        "",
        f"Conditions: {', '.join(result.conditions)}; design: "
        + (
            "paired by subject (Wilcoxon signed-rank, matched-pairs rank-biserial r); "
            if result.paired
            else "independent groups (Mann-Whitney U, rank-biserial r); "
        )
        + "two-sided; p corrected per measure across behaviours x condition pairs "
        "(Holm and Benjamini-Hochberg); "
        f"'significant' = {cfg.correction} p < {cfg.alpha:g}. r > 0: larger in condition_b."
        + (
            " Rows 'all': omnibus test over every condition (Kruskal-Wallis, epsilon-squared; paired: "
            "Friedman, Kendall's W), corrected as their own family."
            if len(result.conditions) > 2
            else ""
        )
        + (
            ""
            if cfg.start_s is None and cfg.end_s is None
            else f" Time window: {cfg.start_s or 0:g} s to "
            + ("end." if cfg.end_s is None else f"{cfg.end_s:g} s.")
        ),
        "",
    ]
    if result.warnings:
        md += ["## Warnings", ""] + [f"- **{w}**" for w in result.warnings] + [""]
    short = [
        "behavior",
        "condition_a",
        "condition_b",
        "n_a",
        "n_b",
        "median_a",
        "median_b",
        "p",
        "p_holm",
        "p_bh",
        "effect_size",
        "significant",
        "note",
    ]
    for measure in cfg.measures:
        rows = [[s[c] for c in short] for s in result.stats if s["measure"] == measure]
        md += [f"## {measure}", "", markdown_table(short, rows)]
        if plots:
            paths[f"plot_{measure}"] = plot_measure(out_dir / f"compare_{measure}.png", result, measure)
            md += [f"![{measure}](compare_{measure}.png)", ""]
    paths["stats_md"] = atomic.write_text(out_dir / "stats.md", "\n".join(md) + "\n")
    atomic.remove_stale(out_dir, [f"compare_{m}.png" for m in SUMMARY_METRICS], paths.values())
    return paths
