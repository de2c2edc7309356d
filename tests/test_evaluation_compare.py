"""Group comparison statistics: checked by hand and against scipy, end to end through the CLI."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from mouseact import export
from mouseact.evaluation import compare as cmp
from mouseact.intervals import Interval
from mouseact.video import probe
from scipy import stats


def test_holm_and_bh_by_hand_and_scipy():
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    np.testing.assert_allclose(cmp.holm(p), [0.03, 0.06, 0.06, 0.02, math.nan])
    # BH: p * 4 / rank = 0.02, 0.02, 0.04, 0.04 (step-up minimum)
    np.testing.assert_allclose(cmp.benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02, math.nan])
    np.testing.assert_allclose(
        cmp.benjamini_hochberg(p[:4]), stats.false_discovery_control(p[:4], method="bh")
    )
    assert cmp.holm([0.9, 0.8]).tolist() == [1.0, 1.0]


def test_effect_sizes_against_scipy_and_by_hand():
    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 5.0, 6.0, 7.0, 7.0, 9.0]
    u_b = stats.mannwhitneyu(b, a).statistic
    assert cmp.rank_biserial_unpaired(a, b) == pytest.approx(2 * u_b / (len(a) * len(b)) - 1)
    stat, p, r, note = cmp.mann_whitney(a, b)
    exact = stats.PermutationMethod(n_resamples=np.inf)  # b has ties: exact permutation p
    assert p == pytest.approx(stats.mannwhitneyu(b, a, alternative="two-sided", method=exact).pvalue)
    no_ties = [3.5, 5.5, 6.0, 7.0, 8.0, 9.0]  # without ties scipy's own exact method agrees
    assert cmp.mann_whitney(a, no_ties)[1] == pytest.approx(
        stats.mannwhitneyu(no_ties, a, method="exact").pvalue
    )
    assert stat == u_b and r > 0 and note == ""
    # paired: d = 1, 2, -3, 4 -> ranks 1, 2, 3, 4 -> W+ = 7, W- = 3 -> r = 0.4
    assert cmp.rank_biserial_paired([1, 2, -3, 4]) == pytest.approx(0.4)
    stat, p, r, _ = cmp.wilcoxon_paired([0, 0, 0, 0], [1, 2, -3, 4])
    assert p == pytest.approx(stats.wilcoxon([1, 2, -3, 4]).pvalue) and r == pytest.approx(0.4)
    # smallest achievable p: 3 vs 3 videos = 2 / C(6, 3) = 0.1; 4 pairs = 2 / 16
    assert cmp.min_p_mannwhitney(3, 3) == pytest.approx(0.1)
    assert cmp.min_p_wilcoxon(4) == pytest.approx(0.125)
    assert stats.mannwhitneyu([1, 2, 3], [4, 5, 6], method="exact").pvalue == pytest.approx(0.1)
    assert math.isnan(cmp.mann_whitney([1.0], [2.0, 3.0])[1])


def test_ties_get_exact_p_not_the_normal_approximation():
    # tied values make scipy's default fall back to the normal approximation, which claims
    # p = 0.07 for 3 vs 3 videos although no relabelling can give less than 0.1
    a, b = [1.0, 1.0, 2.0], [3.0, 4.0, 4.0]
    assert stats.mannwhitneyu(b, a).pvalue < cmp.min_p_mannwhitney(3, 3)
    assert cmp.mann_whitney(a, b)[1] == pytest.approx(0.1)
    assert cmp.wilcoxon_paired([0, 0, 0, 0, 0], [1, 1, 2, -1, 3])[1] >= cmp.min_p_wilcoxon(5)


def _runs(tmp_path, bsoid_dir, n_per_group, paired=False):
    """Predictions for real B-SOiD clip geometry (fps, frame counts); 'post' grooms more."""
    clips = sorted((bsoid_dir / "mouse1").glob("*.mp4"))[: 2 * n_per_group]
    infos = [probe(p) for p in clips]
    out = tmp_path / "run"
    rows = ["video,condition" + (",subject" if paired else "")]
    for k, info in enumerate(infos):
        cond = "pre" if k < n_per_group else "post"
        n = info.n_frames
        bouts = 1 + k % 2 if cond == "pre" else 3 + k % 2
        ivs = [Interval(j * (n // 6), j * (n // 6) + 1, "groom", 0.8) for j in range(bouts)]  # never touching
        export.write_video_outputs(out, clips[k].stem, info, ivs, None, ["groom", "rear"], ethogram=False)
        rows.append(f"{clips[k].name},{cond}" + (f",m{k % n_per_group}" if paired else ""))
    groups = tmp_path / "groups.csv"
    groups.write_text("\n".join(rows) + "\n")
    return out, groups


def test_compare_cli_matches_scipy(tmp_path, bsoid_dir, cli):
    out, groups = _runs(tmp_path, bsoid_dir, 4)
    res = cli("compare", "--pred", str(out), "--groups", str(groups), "--out", str(tmp_path / "cmp"))
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "cmp" / "values.csv") as f:
        values = list(csv.DictReader(f))
    with open(tmp_path / "cmp" / "stats.csv") as f:
        rows = {(r["measure"], r["behavior"]): r for r in csv.DictReader(f)}
    pre = [float(v["bouts"]) for v in values if v["behavior"] == "groom" and v["condition"] == "pre"]
    post = [float(v["bouts"]) for v in values if v["behavior"] == "groom" and v["condition"] == "post"]
    row = rows[("bouts", "groom")]
    assert row["test"] == "mann_whitney_u" and int(row["n_a"]) == 4
    exact = stats.PermutationMethod(n_resamples=np.inf)
    assert float(row["p"]) == pytest.approx(stats.mannwhitneyu(post, pre, method=exact).pvalue, abs=1e-6)
    assert float(row["effect_size"]) == pytest.approx(1.0)  # every post video has more bouts
    # 'rear' never occurs: all zeros, p = 1, kept out of the correction family
    assert (
        float(rows[("bouts", "rear")]["p"]) == 1.0 and "all values equal" in rows[("bouts", "rear")]["note"]
    )
    assert float(row["p_holm"]) == pytest.approx(float(row["p"]))
    for m in export.SUMMARY_METRICS:
        assert (tmp_path / "cmp" / f"compare_{m}.png").stat().st_size > 5000
    assert "## share_of_time" in (tmp_path / "cmp" / "stats.md").read_text()
    # again into the same folder with fewer measures and no plots: no plot of the earlier run stays
    res = cli("compare", "--pred", str(out), "--groups", str(groups), "--out", str(tmp_path / "cmp"),
              "--measures", "bouts", "--no-plots")
    assert res.returncode == 0, res.stderr
    assert not list((tmp_path / "cmp").glob("compare_*.png"))


def test_paired_design_and_small_n_warning(tmp_path, bsoid_dir, cli):
    out, groups = _runs(tmp_path, bsoid_dir, 3, paired=True)
    res = cli("compare", "--pred", str(out), "--groups", str(groups), "--out", str(tmp_path / "cmp"))
    assert res.returncode == 0, res.stderr
    assert "paired" in res.stdout
    # 3 pairs: Wilcoxon cannot go below 2/8 = 0.25; the user is told so
    assert "too few" in res.stderr and "0.25" in res.stderr
    with open(tmp_path / "cmp" / "stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["measure"] == "bouts" and r["behavior"] == "groom")
    assert row["test"] == "wilcoxon_signed_rank" and float(row["min_possible_p"]) == 0.25
    assert row["significant"] == "False"
    assert "Warnings" in (tmp_path / "cmp" / "stats.md").read_text()


def test_compare_bad_groups(tmp_path, bsoid_dir, cli):
    out, groups = _runs(tmp_path, bsoid_dir, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text(groups.read_text() + "ghost_video.mp4,post\n")
    res = cli("compare", "--pred", str(out), "--groups", str(bad), "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "ghost_video" in res.stderr
    typo = tmp_path / "typo.csv"  # 'Pre ' for 'pre': one condition typed two ways, not a third condition
    rows = groups.read_text().splitlines()
    typo.write_text("\n".join([rows[0], rows[1].replace(",pre", ",Pre "), *rows[2:]]) + "\n")
    res = cli("compare", "--pred", str(out), "--groups", str(typo), "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "conditions 'pre', 'Pre' differ only in case" in res.stderr.replace("'Pre', 'pre'", "'pre', 'Pre'")
    one = tmp_path / "one.csv"
    one.write_text("video,condition\nitch.mp4,pre\n")
    res = cli("compare", "--pred", str(out), "--groups", str(one), "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "one condition" in res.stderr
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("file;group2\na;b\n")
    res = cli("compare", "--pred", str(out), "--groups", str(nocol), "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "condition" in res.stderr
    assert not (tmp_path / "x").exists()


def test_compare_time_window(tmp_path, bsoid_dir, cli):
    out, groups = _runs(tmp_path, bsoid_dir, 2)
    res = cli(
        "compare",
        "--pred",
        str(out),
        "--groups",
        str(groups),
        "--out",
        str(tmp_path / "cmp"),
        "--end-s",
        "3",
        "--measures",
        "bouts",
        "--no-plots",
    )
    assert res.returncode == 0, res.stderr
    preds = export.read_predictions(out)
    with open(tmp_path / "cmp" / "values.csv") as f:
        got = {(v["video"], v["behavior"]): int(v["bouts"]) for v in csv.DictReader(f)}
    for vp in preds.values():
        want = sum(1 for iv in vp.intervals if iv.start < round(3 * vp.fps))
        assert got[(vp.video, "groom")] == want
    assert "Time window: 0 s to 3 s" in (tmp_path / "cmp" / "stats.md").read_text()


def test_compare_config_file_and_overrides(tmp_path, bsoid_dir, cli):
    out, groups = _runs(tmp_path, bsoid_dir, 2)
    cfg = tmp_path / "cmp.yaml"
    cfg.write_text("alpha: 0.2\nmeasures: [bouts]\ncorrection: bh\n")
    res = cli(
        "compare",
        "--pred",
        str(out),
        "--groups",
        str(groups),
        "--out",
        str(tmp_path / "c"),
        "--config",
        str(cfg),
        "--no-plots",
    )
    assert res.returncode == 0, res.stderr
    md = (tmp_path / "c" / "stats.md").read_text()
    assert "'significant' = bh p < 0.2" in md and "## bouts" in md and "## total_s" not in md
    # a command-line flag beats the file; a typo in the file is an error, not a silent default
    res = cli(
        "compare",
        "--pred",
        str(out),
        "--groups",
        str(groups),
        "--out",
        str(tmp_path / "c2"),
        "--config",
        str(cfg),
        "--alpha",
        "0.01",
        "--no-plots",
    )
    assert "bh p < 0.01" in (tmp_path / "c2" / "stats.md").read_text()
    cfg.write_text("alpah: 0.2\n")
    res = cli(
        "compare",
        "--pred",
        str(out),
        "--groups",
        str(groups),
        "--out",
        str(tmp_path / "c3"),
        "--config",
        str(cfg),
    )
    assert res.returncode == 2 and "alpah" in res.stderr


def test_compare_two_run_folders(tmp_path, bsoid_dir, cli):
    out, groups = _runs(tmp_path, bsoid_dir, 2)
    # pre and post inferred separately: move the post videos' outputs to a second run folder
    post = tmp_path / "run_post" / "predictions"
    post.mkdir(parents=True)
    for line in groups.read_text().splitlines()[1:]:
        video, cond = line.split(",")
        if cond == "post":
            stem = export.video_stem(video)
            for p in (export.prediction_path(out, stem), export.meta_path(out, stem)):
                p.rename(post / p.name)
    res = cli(
        "compare",
        "--pred",
        str(out),
        str(tmp_path / "run_post"),
        "--groups",
        str(groups),
        "--out",
        str(tmp_path / "c"),
        "--no-plots",
        "--measures",
        "bouts",
    )
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "c" / "values.csv") as f:
        assert len({v["video"] for v in csv.DictReader(f)}) == 4
    # the same video in both folders is ambiguous: refused
    export.write_video_outputs(
        tmp_path / "run_post",
        "x",
        probe(next(bsoid_dir.glob("mouse1/*.mp4"))),
        [],
        None,
        ["groom"],
        ethogram=False,
    )
    export.write_video_outputs(
        out, "x", probe(next(bsoid_dir.glob("mouse1/*.mp4"))), [], None, ["groom"], ethogram=False
    )
    res = cli(
        "compare",
        "--pred",
        str(out),
        str(tmp_path / "run_post"),
        "--groups",
        str(groups),
        "--out",
        str(tmp_path / "c2"),
    )
    assert res.returncode == 2 and "'x' has predictions in both" in res.stderr


def test_paired_design_averages_and_drops_by_hand():
    rows = [  # (subject, condition, bouts)
        ("s1", "pre", 2), ("s1", "pre", 4), ("s1", "post", 9),  # two pre videos -> mean 3
        ("s2", "pre", 1), ("s2", "post", 5),
        ("s3", "pre", 6), ("s3", "post", 4),
        ("s4", "pre", 7),  # never recorded post
    ]  # fmt: skip
    values = [{"subject": s, "condition": c, "behavior": "groom", "bouts": v} for s, c, v in rows]
    cfg = cmp.CompareConfig(measures=["bouts"])
    (row,), warnings = cmp.compare_values(values, ["pre", "post"], ["groom"], True, cfg)
    assert row["n_a"] == row["n_b"] == 3
    assert "averaged for: s1" in row["note"] and "left out: s4" in row["note"]
    d = [9 - 3, 5 - 1, 4 - 6]  # ranks of |d| = 3, 2, 1 -> W+ = 5, W- = 1 -> r = 4/6
    exact = stats.PermutationMethod(n_resamples=np.inf)
    assert row["p"] == pytest.approx(stats.wilcoxon(d, method=exact).pvalue, abs=1e-6)
    assert row["effect_size"] == pytest.approx(round(4 / 6, 4))
    assert any("smallest possible p = 0.25" in w for w in warnings)


def test_compare_hand_scored_boris_sessions(tmp_path, data_dir, cli):
    # five real BORIS observations (human 'interact' bouts), split into two made-up conditions
    src = data_dir / "social_pose_boris" / "boris"
    files = [
        src / f"e3v813a-20210610T{t}_reencode.csv"
        for t in ("120637-121213", "121558-122141", "122332-122642", "122758-123309", "123521-124106")
    ]
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "video,condition\n" + "".join(f"{f.stem}.avi,{'A' if k < 2 else 'B'}\n" for k, f in enumerate(files))
    )
    res = cli(
        "compare",
        "--pred",
        *map(str, files),
        "--groups",
        str(groups),
        "--out",
        str(tmp_path / "c"),
        "--measures",
        "bouts",
        "total_s",
        "--no-plots",
    )
    assert res.returncode == 0, res.stderr
    assert "human annotations (boris)" in res.stderr
    from mouseact.preprocess.importers import read_boris

    bouts = [len(read_boris(f)[0].intervals) for f in files]
    with open(tmp_path / "c" / "stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["measure"] == "bouts")
    exact = stats.PermutationMethod(n_resamples=np.inf)
    assert float(row["p"]) == pytest.approx(stats.mannwhitneyu(bouts[2:], bouts[:2], method=exact).pvalue)
    assert float(row["median_a"]) == np.median(bouts[:2]) and int(row["n_b"]) == 3
    # 2 vs 3 sessions: the smallest possible p is 2 / C(5, 2) = 0.2, and the user is told
    assert float(row["min_possible_p"]) == pytest.approx(0.2) and "too few" in res.stderr


def test_three_conditions_omnibus_against_scipy():
    data = {"saline": [1, 2, 2, 3], "low": [3, 4, 4, 5], "high": [6, 5, 7, 8]}
    values = [{"subject": f"m{i}", "condition": c, "behavior": "groom", "bouts": v}
              for c, vs in data.items() for i, v in enumerate(vs)]  # fmt: skip
    cfg = cmp.CompareConfig(measures=["bouts"])
    rows, _ = cmp.compare_values(values, list(data), ["groom"], False, cfg)
    omni = rows[0]
    h = stats.kruskal(*data.values())
    assert omni["test"] == "kruskal_wallis" and omni["condition_a"] == "all"
    assert omni["p"] == pytest.approx(h.pvalue, abs=1e-6)
    assert omni["effect_size"] == pytest.approx(round(h.statistic / (12 - 1), 4))  # epsilon-squared
    assert len(rows) == 1 + 3  # omnibus + every pair
    # paired: Friedman, Kendall's W = chi2 / (n (k - 1)); here every mouse ranks saline < low < high
    rows, _ = cmp.compare_values(values, list(data), ["groom"], True, cfg)
    f = stats.friedmanchisquare(*data.values())
    assert rows[0]["test"] == "friedman" and rows[0]["p"] == pytest.approx(f.pvalue, abs=1e-6)
    assert rows[0]["effect_size"] == pytest.approx(1.0)


def test_a_much_shorter_recording_is_named_in_the_warnings(tmp_path, bsoid_dir, cli):
    """Real clips of 24-839 frames: each one under half the median length is named (its per-minute
    rates rest on little time), the others are not; the comparison still runs on all of them."""
    out, groups = _runs(tmp_path, bsoid_dir, 4)
    res = cli("compare", "--pred", str(out), "--groups", str(groups), "--out", str(tmp_path / "cmp"), "--no-plots")
    assert res.returncode == 0, res.stderr
    seconds = {vp.video: vp.n_frames / vp.fps for vp in export.read_predictions(out).values()}
    median = float(np.median(list(seconds.values())))
    short = {v for v, s in seconds.items() if s < 0.5 * median}
    assert short, seconds  # the B-SOiD clips differ this much
    warned = {v for v in seconds if f"{v} is " in res.stderr and "less than half the median" in res.stderr.split(f"{v} is ", 1)[1].splitlines()[0]}
    assert warned == short
    assert "less than half the median" in (tmp_path / "cmp" / "stats.md").read_text()


def test_videos_without_a_bout_have_no_mean_bout_length(tmp_path, bsoid_dir, cli):
    """A video with no bout of a behaviour has 0 bouts but no mean bout length: summary.csv leaves the
    cell empty and compare tests mean_bout_s on the videos that have bouts (the row says how many left)."""
    out, groups = _runs(tmp_path, bsoid_dir, 4)
    # the first 'post' video loses its grooming bouts: 0 bouts, undefined mean length
    rows = [r.split(",") for r in groups.read_text().splitlines()[1:]]
    post = [v.rsplit(".", 1)[0] for v, c in rows if c == "post"]
    info = probe(bsoid_dir / "mouse1" / f"{post[0]}.mp4")
    export.write_video_outputs(out, post[0], info, [], None, ["groom", "rear"], ethogram=False)
    res = cli("compare", "--pred", str(out), "--groups", str(groups), "--out", str(tmp_path / "cmp"), "--no-plots")
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "cmp" / "values.csv") as f:
        values = {(v["video"], v["behavior"]): v for v in csv.DictReader(f)}
    empty = values[(f"{post[0]}.mp4", "groom")]
    assert empty["bouts"] == "0" and empty["mean_bout_s"] == ""
    with open(tmp_path / "cmp" / "stats.csv") as f:
        stats_rows = {(r["measure"], r["behavior"]): r for r in csv.DictReader(f)}
    row = stats_rows[("mean_bout_s", "groom")]
    assert (int(row["n_a"]), int(row["n_b"])) == (4, 3) and "1 video(s) without a bout left out" in row["note"]
    pre = [float(v["mean_bout_s"]) for v in values.values() if v["behavior"] == "groom" and v["condition"] == "pre"]
    post_vals = [float(v["mean_bout_s"]) for v in values.values()
                 if v["behavior"] == "groom" and v["condition"] == "post" and v["mean_bout_s"] != ""]
    exact = stats.PermutationMethod(n_resamples=np.inf)
    assert float(row["p"]) == pytest.approx(stats.mannwhitneyu(post_vals, pre, method=exact).pvalue, abs=1e-6)
    assert int(stats_rows[("bouts", "groom")]["n_b"]) == 4  # bouts of that video: a measured 0
    # every rear value is undefined: no test, and the summary says so rather than comparing zeros
    rear = stats_rows[("mean_bout_s", "rear")]
    assert (int(rear["n_a"]), int(rear["n_b"])) == (0, 0) and "without a bout left out" in rear["note"]


def test_runs_analysed_differently_are_named_in_the_warnings(tmp_path, bsoid_dir, cli):
    """pre run with one minimum bout length, post re-post-processed with another: the difference lines up
    with the conditions, so compare says which setting differs for how many videos of each condition."""
    out, groups = _runs(tmp_path, bsoid_dir, 2)
    rows = [r.split(",") for r in groups.read_text().splitlines()[1:]]
    for video, cond in rows:
        stem = video.rsplit(".", 1)[0]
        vp = export.read_predictions(out)[stem]
        info = probe(bsoid_dir / "mouse1" / video)
        export.write_video_outputs(out, stem, info, vp.intervals, None, ["groom", "rear"], ethogram=False,
                                   postprocess={"threshold": 0.0, "min_duration_s": 0.2 if cond == "pre" else 1.0})
    res = cli("compare", "--pred", str(out), "--groups", str(groups), "--out", str(tmp_path / "cmp"), "--no-plots")
    assert res.returncode == 0, res.stderr
    warned = [ln for ln in res.stderr.splitlines() if "not analysed alike" in ln]
    assert len(warned) == 1 and "postprocess.min_duration_s" in warned[0], res.stderr
    assert "0.2 for 2 (pre: 2)" in warned[0] and "1.0 for 2 (post: 2)" in warned[0]
    assert "threshold" not in warned[0]  # the same for every video
    assert "not analysed alike" in (tmp_path / "cmp" / "stats.md").read_text()


def test_groups_csv_subjects_and_encodings(tmp_path, bsoid_dir, cli):
    """A blank subject cell among filled ones, or subjects typed two ways, is an error naming the rows, not a
    silent switch to an unpaired test; Excel's Windows-1252 and UTF-16 CSVs read like UTF-8."""
    out, groups = _runs(tmp_path, bsoid_dir, 3, paired=True)
    rows = groups.read_text().splitlines()
    blank = tmp_path / "blank.csv"
    blank.write_text("\n".join([rows[0], rows[1].rsplit(",", 1)[0] + ",", *rows[2:]]) + "\n")
    r = cli("compare", "--pred", str(out), "--groups", str(blank), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "row(s) 2 have no subject while the others do" in r.stderr
    cased = tmp_path / "cased.csv"  # the post row of subject m0 typed "M0"
    post_m0 = next(i for i, r in enumerate(rows) if r.endswith(",post,m0"))
    cased.write_text("\n".join(r[:-2] + "M0" if i == post_m0 else r for i, r in enumerate(rows)) + "\n")
    r = cli("compare", "--pred", str(out), "--groups", str(cased), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "differ only in case" in r.stderr, r.stderr
    assert not (tmp_path / "x").exists()
    for encoding in ("cp1252", "utf-16"):
        enc = tmp_path / f"groups_{encoding}.csv"
        enc.write_bytes(("video;condition;subject;note\n" + "\n".join(
            r.replace(",", ";") + ";Kälte" for r in rows[1:]) + "\n").encode(encoding))
        r = cli("compare", "--pred", str(out), "--groups", str(enc), "--out", str(tmp_path / f"ok_{encoding}"),
                "--no-plots")
        assert r.returncode == 0, (encoding, r.stderr)
