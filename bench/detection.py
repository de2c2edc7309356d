#!/usr/bin/env python
"""Stage-0 detection benchmark (issue 3) -> docs/benchmarks/03-detection.md.

    nice -n 10 .venv/bin/python bench/detection.py [--epochs 20] [--imgsz 320] [--skip-train]

* m4s1 (116 frames, human keypoints): share of frames whose box contains snout, both ears and
  tail base; IoU with the DERIVED body boxes (pseudo ground truth).
* tracktor arena (10 000 frames): median/p95 centroid distance to tracktor's track, share of
  frames with no raw box and lost after tracking, per stride.
* openfield m3v1 (2 330 frames): IoU with the DERIVED boxes made from DLC predictions.
* resting mouse: the spliced sparse B-SOiD recordings of bench/two_stage.py (the mouse rests,
  ``inactive``, ~85 % of the time in one place): share of resting frames whose box is on the mouse
  (contains the centroid of the black mouse found in the source clip frame, grey < 60, and IoU with
  its box >= 0.3), no box, or off the mouse; default background vs ``bg_quantile=0.5`` (the plain
  median background of before). ``--resting-only`` runs this alone and prints it.
* negative frames: real frames with the mouse's surroundings pasted from a frame where the mouse
  is far away (no mouse left): share that get a box (false positives) + the unmasked originals.
* throughput: decode-only vs decode + detect + track (background priming included), same run,
  alternating passes; ratio = decode-only time / full time.
* learned: YOLOv8n trained offline on the m4s1 frames + derived boxes (last 20 % held out):
  train time, held-out mAP50/IoU, CPU ms/frame; RT-DETR-l ms/frame (untrained, speed only).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "docs" / "benchmarks" / "03-detection.md"


def centres(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)


def bench_m4s1() -> dict:
    import cv2

    from mouseact.preprocess.detection import ClassicalDetector
    from mouseact.preprocess.detection.fit import box_iou

    root = DATA / "openfield_dlc"
    with open(root / "labeled-data" / "m4s1" / "CollectedData_Pranav.csv", newline="") as f:
        rows = list(csv.reader(f))[3:]
    names = [r[0] for r in rows]
    kp = np.array([[float(v) if v else np.nan for v in r[1:9]] for r in rows]).reshape(-1, 4, 2)
    with open(root / "derived" / "m4s1_labeled_frames_DERIVED_boxes.csv", newline="") as f:
        der = {r["image"]: [float(r[c]) for c in ("x1", "y1", "x2", "y2")] for r in csv.DictReader(f)}
    ref = np.array([der[n] for n in names])
    frames = np.stack([cv2.cvtColor(cv2.imread(str(root / n)), cv2.COLOR_BGR2RGB) for n in names])
    det = ClassicalDetector()
    det.fit_background(frames)
    t0 = time.perf_counter()
    boxes, _ = det.detect(frames)
    ms = 1000 * (time.perf_counter() - t0) / len(frames)
    x, y = kp[..., 0], kp[..., 1]
    inside = ((x >= boxes[:, :1]) & (x <= boxes[:, 2:3]) & (y >= boxes[:, 1:2]) & (y <= boxes[:, 3:4])) | np.isnan(x)
    iou = box_iou(boxes, ref)
    return {"n": len(frames), "contain_all4": float(inside.all(1).mean()),
            "contain_each": dict(zip(["snout", "leftear", "rightear", "tailbase"], inside.mean(0).round(4).tolist())),
            "iou_mean": float(iou.mean()), "iou_median": float(np.median(iou)), "iou_ge_0.5": float((iou >= 0.5).mean()),
            "no_box": int((~np.isfinite(boxes).all(1)).sum()), "ms_per_frame": ms}


def bench_arena(strides=(1, 2, 4)) -> list[dict]:
    from mouseact.preprocess.detection import detect_video

    video = DATA / "tracktor_arena" / "mouse_video.mp4"
    with open(video.parent / "mouse_video_tracked.csv", newline="") as f:
        ref = np.array([[float(r["pos_x"]), float(r["pos_y"])] for r in csv.DictReader(f)])
    out = []
    for s in strides:
        track, raw, _, info = detect_video(video, stride=s, progress=False, return_raw=True)
        n = min(len(track), len(ref))
        d = np.hypot(*(centres(track.boxes[:n]) - ref[:n]).T)
        out.append({"stride": s, "frames": n, "median_px": float(np.nanmedian(d)),
                    "p95_px": float(np.nanpercentile(d, 95)), "max_px": float(np.nanmax(d)),
                    "share_gt_10px": float(np.nanmean(d > 10)),
                    "raw_no_box": float((~np.isfinite(raw).all(1)).mean()), "lost": float(track.lost.mean())})
    return out


def bench_openfield() -> dict:
    from mouseact.preprocess.detection import detect_video
    from mouseact.preprocess.detection.fit import box_iou

    video = DATA / "openfield_dlc" / "videos" / "m3v1mp4.mp4"
    with open(DATA / "openfield_dlc" / "derived" / "m3v1mp4_DERIVED_boxes_from_dlc_predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ref = np.array([[float(r[c]) if r[c] else np.nan for c in ("x1", "y1", "x2", "y2")] for r in rows])
    track = detect_video(video, stride=2, progress=False)
    ok = np.isfinite(ref).all(1)
    iou = box_iou(track.boxes[ok], ref[ok])
    return {"frames": int(ok.sum()), "iou_mean": float(iou.mean()), "iou_median": float(np.median(iou)),
            "iou_ge_0.5": float((iou >= 0.5).mean()), "lost": float(track.lost.mean())}


def bench_negatives(n_pairs: int = 30, warmup: int = 96) -> dict:
    """Frames with the mouse removed, in two settings: a fresh detector seeing only that frame, and
    the normal streaming state (the ``warmup`` real frames before it detected first, as when the
    mouse leaves the field of view; auto polarity has locked by then)."""
    from mouseact.preprocess.detection import ClassicalDetector
    from mouseact.preprocess.detection.streaming import _read_background_samples
    from mouseact.video import VideoReader

    out = {}
    arena = DATA / "tracktor_arena" / "mouse_video.mp4"
    with open(arena.parent / "mouse_video_tracked.csv", newline="") as f:
        arena_c = np.array([[float(r["pos_x"]), float(r["pos_y"])] for r in csv.DictReader(f)])
    of = DATA / "openfield_dlc" / "videos" / "m3v1mp4.mp4"
    with open(DATA / "openfield_dlc" / "derived" / "m3v1mp4_DERIVED_boxes_from_dlc_predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    of_b = np.array([[float(r[c]) if r[c] else np.nan for c in ("x1", "y1", "x2", "y2")] for r in rows])

    def grow(b, k):  # box grown by k times its own size on each side (covers tail and shadow)
        w, h = b[2] - b[0], b[3] - b[1]
        return (b[0] - k * w, b[1] - k * h, b[2] + k * w, b[3] + k * h)

    rng = np.random.default_rng(0)
    # (video, mouse region of frame i, growth that covers the whole mouse incl. tail and shadow,
    #  frames usable as i). Open field: the tail is ~1.5 body lengths, so the body box is grown by
    #  1.5x its size; frames at the top wall are skipped (the mouse's reflection lies outside any box).
    for name, video, region, k_cover, usable in (
        ("arena", arena, lambda i, k: grow((arena_c[i][0] - 25, arena_c[i][1] - 25, arena_c[i][0] + 25,
                                            arena_c[i][1] + 25), k), 0.5, lambda i: True),
        ("openfield", of, lambda i, k: grow(of_b[i], k), 1.5, lambda i: of_b[i, 1] > 80),
    ):
        bg = _read_background_samples(video, 320, 32)
        res = {"pairs": 0, "fp_fresh": 0, "fp_streaming": 0, "found_original": 0}
        with VideoReader(video) as vr:
            n = vr.info.n_frames
            valid = np.flatnonzero(np.isfinite(np.array([region(i, 0) for i in range(n)])).all(1))
            valid = valid[valid >= warmup]
            firsts = [i for i in rng.permutation(valid) if usable(i)]
            for i in firsts:
                if res["pairs"] == n_pairs:
                    break
                x1, y1, x2, y2 = (int(v) for v in region(i, k_cover))
                x1, y1 = max(0, x1), max(0, y1)
                # j: a frame whose whole mouse (same growth) is clear of i's region
                far = [j for j in rng.choice(valid, 300, replace=False)
                       if (lambda r: r[2] < x1 or r[0] > x2 or r[3] < y1 or r[1] > y2)(region(j, k_cover))]
                if not far:
                    continue
                a, b = vr.get_frames([int(i), int(far[0])])
                neg = a.copy()
                neg[y1:y2, x1:x2] = b[y1:y2, x1:x2]
                before = vr.get_frames(range(int(i) - warmup, int(i)))
                for setting in ("fresh", "streaming", "original"):
                    det = ClassicalDetector()
                    det.fit_background(*bg)
                    if setting == "streaming":
                        det.detect(before)
                    box, _ = det.detect((a if setting == "original" else neg)[None])
                    found = bool(np.isfinite(box).all())
                    key = "found_original" if setting == "original" else f"fp_{setting}"
                    res[key] += found
                res["pairs"] += 1
        out[name] = res
    return out


def bench_resting(strides=(1, 4), seed: int = 7) -> list[dict]:
    import cv2

    sys.path.insert(0, str(ROOT / "bench"))
    from two_stage import BSOID, sparse_sequence

    from mouseact.preprocess.detection import detect_video
    from mouseact.preprocess.detection.fit import box_iou
    from mouseact.video import VideoReader

    def dark_mouse(frame):
        dark = (cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) < 60).astype(np.uint8)
        dark = cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        _, _, st, cen = cv2.connectedComponentsWithStats(dark)
        i = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
        x, y, w, h = st[i, :4]
        return [x, y, x + w, y + h], cen[i]

    out = []
    for mouse in ("mouse1", "mouse2"):
        video, _, n = sparse_sequence(mouse, seed)
        import json

        pieces = json.loads(video.with_suffix(".json").read_text())["pieces"]
        with VideoReader(BSOID / mouse / "inactive.mp4") as vr:
            src = [dark_mouse(f) for f in vr.get_frames(range(vr.info.n_frames))]
        truth, cen, rest = np.full((n, 4), np.nan), np.full((n, 2), np.nan), np.zeros(n, bool)
        s = 0
        for p in pieces:
            length = p["stop"] - p["start"]
            if p["clip"] == "inactive":
                for j in range(length):
                    truth[s + j], cen[s + j] = src[p["start"] + j]
                rest[s: s + length] = True
            s += length
        for stride in strides:
            for name, cfg in (("median (before)", {"bg_quantile": 0.5}), ("default", {})):
                track, raw, _, _ = detect_video(video, stride=stride, progress=False, return_raw=True, **cfg)
                row = {"mouse": mouse, "frames": n, "rest": int(rest.sum()), "stride": stride, "background": name}
                for kind, b in (("raw", raw[rest]), ("track", track.boxes[rest])):
                    ok = np.isfinite(b).all(1)
                    c = cen[rest]
                    inside = ok & (b[:, 0] <= c[:, 0]) & (c[:, 0] <= b[:, 2]) & (b[:, 1] <= c[:, 1]) & (c[:, 1] <= b[:, 3])
                    iou = np.zeros(len(b))
                    iou[ok] = box_iou(b[ok].astype(float), truth[rest][ok])
                    on = inside & (iou >= 0.3)
                    row[kind] = {"on": float(on.mean()), "no_box": float((~ok).mean()), "off": float((ok & ~on).mean())}
                out.append(row)
    return out


def bench_throughput(strides=(1, 2, 4), repeats: int = 2) -> list[dict]:
    from mouseact.preprocess.detection import StreamingDetector, make_detector
    from mouseact.video import VideoReader

    rows = []
    for video in (DATA / "tracktor_arena" / "mouse_video.mp4", DATA / "openfield_dlc" / "videos" / "m3v1mp4.mp4"):
        n_frames = VideoReader(video).info.n_frames  # whole video: priming is part of the cost
        t_dec = {s: 0.0 for s in strides}
        t_full = {s: 0.0 for s in strides}
        detected = {}
        for _ in range(repeats):
            for s in strides:
                t0 = time.perf_counter()
                for _, f in VideoReader(video).iter_chunks(64, 0, n_frames):
                    pass
                t_dec[s] += time.perf_counter() - t0
                t0 = time.perf_counter()
                stream = StreamingDetector(make_detector("classical"), stride=s)
                stream.prime(video, 32)
                for start, f in VideoReader(video).iter_chunks(64, 0, n_frames):
                    stream.process(start, f)
                stream.finalize()
                t_full[s] += time.perf_counter() - t0
                detected[s] = stream.n_detected
        for s in strides:
            rows.append({"video": video.name, "frames": n_frames, "stride": s,
                         "decode_fps": repeats * n_frames / t_dec[s], "full_fps": repeats * n_frames / t_full[s],
                         "ratio": t_dec[s] / t_full[s], "detector_calls_share": detected[s] / n_frames})
    return rows


def bench_learned(epochs: int, imgsz: int, bootstrap_frames: int) -> dict:
    from mouseact.preprocess.detection import StreamingDetector, make_detector
    from mouseact.preprocess.detection.fit import DetectorTrainConfig, frames_from_image_csv, train_detector
    from mouseact.preprocess.detection.learned import build_model
    from mouseact.video import VideoReader

    from mouseact.preprocess.detection.fit import frames_from_classical, merge

    root = DATA / "openfield_dlc"
    data = frames_from_image_csv(root / "derived" / "m4s1_labeled_frames_DERIVED_boxes.csv", root, 0.2)
    if bootstrap_frames:
        # self-training: confident classical boxes on another video of the same rig, all for training
        # (the held-out frames stay the last 20 % of m4s1, never seen)
        boot = frames_from_classical([root / "videos" / "m3v1mp4.mp4"],
                                     DetectorTrainConfig(frames_per_video=bootstrap_frames, val_frac=0.0), progress=False)
        data = merge([data, boot])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        card = train_detector(data, Path(tmp) / "yolo", DetectorTrainConfig(arch="yolov8n", epochs=epochs, imgsz=imgsz))
        wall = time.perf_counter() - t0
        det = make_detector("yolo", model_path=Path(tmp) / "yolo")
        video = root / "videos" / "m3v1mp4.mp4"
        frames = VideoReader(video).get_frames(range(0, 256))
        det.detect(frames[:8])  # warm-up
        t0 = time.perf_counter()
        det.detect(frames)
        ms1 = 1000 * (time.perf_counter() - t0) / len(frames)
        stream = StreamingDetector(det, stride=4)
        t0 = time.perf_counter()
        for s in range(0, 256, 64):
            stream.process(s, frames[s: s + 64])
        ms4 = 1000 * (time.perf_counter() - t0) / len(frames)
    rt = build_model("rtdetr-l")
    img = [np.ascontiguousarray(f[..., ::-1]) for f in frames[:4]]
    rt.predict(img[:1], imgsz=imgsz, verbose=False, device="cpu")
    t0 = time.perf_counter()
    rt.predict(img, imgsz=imgsz, verbose=False, device="cpu")
    rt_ms = 1000 * (time.perf_counter() - t0) / len(img)
    return {"card": card, "wall_s": wall, "ms_stride1": ms1, "ms_stride4": ms4, "stride4_calls": stream.n_detected,
            "rtdetr_ms": rt_ms, "epochs": epochs, "imgsz": imgsz, "bootstrap": bootstrap_frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--bootstrap-frames", type=int, default=300,
                    help="extra training frames with classical boxes from m3v1 (self-training); 0 = none")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--resting-only", action="store_true", help="only the resting-mouse check, printed (no file written)")
    args = ap.parse_args()
    if args.resting_only:
        for r in bench_resting():
            print(r, flush=True)
        return
    cmd = "nice -n 10 .venv/bin/python bench/detection.py " + " ".join(sys.argv[1:])
    t_start = time.perf_counter()
    m4 = bench_m4s1()
    print("m4s1", m4, flush=True)
    neg = bench_negatives()
    print("negatives", neg, flush=True)
    thr = bench_throughput()
    print("throughput", thr, flush=True)
    arena = bench_arena()
    print("arena", arena, flush=True)
    of = bench_openfield()
    print("openfield", of, flush=True)
    resting = bench_resting()
    print("resting", resting, flush=True)
    learned = None if args.skip_train else bench_learned(args.epochs, args.imgsz, args.bootstrap_frames)
    if learned:
        print("learned", {k: v for k, v in learned.items() if k != "card"}, learned["card"]["metrics"], flush=True)

    L = ["## Stage 0: mouse detection (issue 3)", "", f"Command: `{cmd}` (total {time.perf_counter() - t_start:.0f} s).",
         "Classical detector = default config (search 160 px, boxes measured at 320 px, background from 32 frames",
         "sampled across each video). Reference boxes marked DERIVED are pseudo ground truth (agreement, not accuracy).", "",
         "### Human keypoints, openfield m4s1 (116 labelled frames)", "",
         "| box contains all 4 keypoints | snout | left ear | right ear | tail base | IoU vs DERIVED mean / median | IoU >= 0.5 | frames without box |",
         "|---|---|---|---|---|---|---|---|",
         f"| {100 * m4['contain_all4']:.1f} % | " + " | ".join(f"{100 * v:.1f} %" for v in m4["contain_each"].values())
         + f" | {m4['iou_mean']:.3f} / {m4['iou_median']:.3f} | {100 * m4['iou_ge_0.5']:.1f} % | {m4['no_box']} |", "",
         "The DERIVED boxes were made from the keypoints plus a dark-pixel mask; in frames where the mouse is at",
         "the top wall they include the mouse's dark reflection in the wall, which our body box leaves out",
         "(the detector drops faint parts -- shadow, reflection -- and thin parts -- the tail), so the IoU",
         "target (0.8) is not met against this reference while keypoint containment is.", "",
         "### Tracktor arena (10 000 frames, 5.5 min), centroid distance to tracktor's track", "",
         "| stride | median px | p95 px | max px | frames > 10 px | frames with no raw box | lost after tracking |",
         "|---|---|---|---|---|---|---|"]
    for r in arena:
        L.append(f"| {r['stride']} | {r['median_px']:.2f} | {r['p95_px']:.2f} | {r['max_px']:.1f} | {100 * r['share_gt_10px']:.2f} % "
                 f"| {100 * r['raw_no_box']:.2f} % | {100 * r['lost']:.2f} % |")
    L += ["", "### Openfield m3v1 (2 330 frames) vs DERIVED boxes from DLC predictions (stride 2)", "",
          f"IoU mean {of['iou_mean']:.3f}, median {of['iou_median']:.3f}, IoU >= 0.5 in {100 * of['iou_ge_0.5']:.1f} % "
          f"of {of['frames']} frames; lost {100 * of['lost']:.2f} %.", "",
          "### Negative frames (real pixels, mouse pasted over from a frame where it is elsewhere)", "",
          "| video | pairs | negatives with a box, fresh detector | negatives with a box, after 96 real frames | originals with a box |",
          "|---|---|---|---|---|"]
    for k, v in neg.items():
        p = max(v["pairs"], 1)
        L.append(f"| {k} | {v['pairs']} | {100 * v['fp_fresh'] / p:.1f} % | {100 * v['fp_streaming'] / p:.1f} % | "
                 f"{100 * v['found_original'] / p:.1f} % |")
    L += ["", "The region of the whole mouse (tail, shadow included: arena 100 px square around tracktor's centroid,",
          "open field the body box grown by 1.5x its size; frames at the top wall skipped for the reflection) is",
          "replaced by the same pixels of a frame whose mouse (same region) is elsewhere. 'After 96 real frames' is the normal streaming state (the",
          "mouse walks out of view): the light/dark polarity has locked, so lamp flicker at the frame edge is ignored."]
    L += ["", "### A mouse resting in one place most of the time (spliced sparse B-SOiD recordings of bench/two_stage.py)", "",
          "Resting (`inactive`) frames whose box is on the mouse: it contains the centroid of the black mouse found in the",
          "source clip frame (grey < 60) and has IoU >= 0.3 with that blob's box. 'median (before)' = `bg_quantile=0.5`,",
          "the plain per-pixel median background the detector used before (the resting mouse is part of it).", "",
          "| mouse | resting frames | stride | background | raw: on mouse / no box / off | tracked: on mouse / no box / off |",
          "|---|---|---|---|---|---|"]
    for r in resting:
        L.append(f"| {r['mouse']} | {r['rest']} of {r['frames']} | {r['stride']} | {r['background']} | "
                 + " | ".join(f"{100 * r[k]['on']:.1f} / {100 * r[k]['no_box']:.1f} / {100 * r[k]['off']:.1f} %"
                              for k in ("raw", "track")) + " |")
    L += ["", "### Throughput: decode + detect + track vs decode only (same run, alternating passes, whole videos, 640x480)", "",
          "| video | stride | decode-only fps | decode+detect+track fps | ratio (goal >= 0.5) | frames the detector ran on |",
          "|---|---|---|---|---|---|"]
    for r in thr:
        L.append(f"| {r['video']} | {r['stride']} | {r['decode_fps']:.0f} | {r['full_fps']:.0f} | {r['ratio']:.2f} | "
                 f"{100 * r['detector_calls_share']:.0f} % |")
    L += ["", "Background priming is included in the full time: 32 key frames decoded at 320 px in one pass with",
          "non-key frames skipped (PyAV) when the video has that many, else key frames + half-second steps (decord)."]
    if learned:
        c = learned["card"]
        m = c["metrics"]
        ul = m.get("ultralytics_val", {})
        L += ["", f"### Learned: YOLOv8n trained offline from scratch (yaml, no download) ({c['data']['n_train']} train / "
              f"{c['data']['n_val']} held-out frames)", "",
              f"Training frames: the first 80 % of m4s1 with DERIVED boxes + {learned['bootstrap']} frames of m3v1 (another "
              "video of the rig) with boxes from the classical detector (self-training); held out: the last 20 % of m4s1.", "",
              f"{learned['epochs']} epochs at {learned['imgsz']} px on 2 shared cores: training {c['train_seconds']:.0f} s "
              f"(whole call incl. export + evaluation {learned['wall_s']:.0f} s; limit 15 min).",
              f"Held-out mAP50 (top box per frame, exported artifact) **{m.get('val_map50')}**, mean IoU {m.get('val_mean_iou')}; "
              f"ultralytics' own val mAP50 {ul.get('metrics/mAP50(B)')} / mAP50-95 {ul.get('metrics/mAP50-95(B)')}.",
              f"CPU speed on m3v1 frames at {learned['imgsz']} px: {learned['ms_stride1']:.1f} ms/frame every frame, "
              f"{learned['ms_stride4']:.1f} ms/frame with StreamingDetector stride 4 "
              f"({learned['stride4_calls']} detector calls for 256 frames). RT-DETR-l (untrained, speed only): "
              f"{learned['rtdetr_ms']:.0f} ms/frame at {learned['imgsz']} px.",
              "Only 116 labelled frames from one rig exist, so held-out frames come from the same video: a sanity figure."]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(L) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
