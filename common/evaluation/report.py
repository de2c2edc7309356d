"""One self-contained HTML evaluation report: tables, confusion matrix and per-video ethograms
of prediction vs ground truth, every image embedded as base64 PNG (no external assets, so the
file can be mailed or archived and still opens offline)."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from mouseact import __version__, atomic
from mouseact.intervals import by_label

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.note{background:#fff6dd;border-left:4px solid #e0a800;padding:.4em .8em;margin:.3em 0}
img{max-width:100%}.small{color:#666;font-size:.85em}.wide{overflow-x:auto}
"""


HOW_TO_READ = """<details><summary>How to read these numbers</summary><ul class='small'>
<li><b>Frame scores</b> compare the behaviour in every single frame (0 = no behaviour). Precision: of
the frames predicted as a behaviour, the share that really show it; recall: of the frames that
show it, the share found; F1: their harmonic mean. Macro = plain mean over behaviours.</li>
<li><b>Segment scores</b> count bouts: a predicted bout is correct when it overlaps a true bout of the
same behaviour by at least the tIoU threshold (intersection over union of the two time spans;
0.5 = half of their joint span is shared). Each true bout can be matched once.</li>
<li><b>AP / mAP</b>: bouts ranked by confidence; the area under precision-recall, averaged over
behaviours (mAP) and thresholds. It rewards confident correct bouts and penalises confident
mistakes.</li>
<li><b>Cohen's kappa</b>: frame agreement corrected for chance (1 = perfect, 0 = chance level).</li>
<li>Behaviours present on one side only are scored, not dropped, and are listed below.</li>
</ul></details>"""


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure


def _png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def confusion_figure(result: dict):
    Figure = _figure()
    labels = result["confusion"]["labels"]
    counts = np.asarray(result["confusion"]["counts"], dtype=np.int64)
    rows = counts.sum(1, keepdims=True)
    norm = np.divide(counts, rows, out=np.zeros(counts.shape, float), where=rows > 0)
    n = len(labels)
    size = max(4.5, 0.55 * n + 2)
    fig = Figure(figsize=(size + 1, size), dpi=100)
    ax = fig.add_subplot(111)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(
                    j,
                    i,
                    f"{counts[i, j]}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_xticks(range(n))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title("frames (colour: share of the ground-truth row; numbers: frame counts)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def confusion_png(path: str | Path, result: dict) -> Path:
    fig = confusion_figure(result)
    with atomic.file(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def ethogram_vs_figure(gt, pred, fps: float, n_frames: int, classes: Sequence[str], title: str):
    """Two rows per behaviour: ground truth, then prediction (faint = low confidence)."""
    from mouseact.export import class_colors, draw_ethogram

    Figure = _figure()
    present = {iv.label for iv in [*gt, *pred]}
    labels = [c for c in classes if c in present] or list(classes[:1]) or ["(none)"]
    g, p = by_label(gt), by_label(pred)
    tracks = []
    for c in labels:
        tracks.append((f"{c} · truth", g.get(c, []), c))
        tracks.append((f"{c} · pred", p.get(c, []), c))
    fig = Figure(figsize=(11, 0.9 + 0.26 * len(tracks)), dpi=90)
    ax = fig.add_subplot(111)
    draw_ethogram(ax, tracks, fps, n_frames, class_colors(list(classes)), title)
    for k in range(1, len(labels)):
        ax.axhline(len(tracks) - 2 * k - 0.5, color="#bbb", lw=0.6)
    fig.tight_layout()
    return fig


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(x):
        if isinstance(x, float):
            x = "n/a" if math.isnan(x) else f"{x:.3f}"
        return f"<td>{html.escape(str(x))}</td>"

    out = [
        "<div class='wide'><table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"
    ]
    out += ["<tr>" + "".join(cell(x) for x in r) + "</tr>" for r in rows]
    return "\n".join(out) + "</table></div>"


def build_html(result: dict) -> str:
    from mouseact.evaluation.evaluate import macro_rows, per_class_rows

    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>MouseAct evaluation</title>"
        f"<style>{CSS}</style></head><body>",
        "<h1>MouseAct evaluation report</h1>",
        f"<p class='small'>predictions: {html.escape(result['pred_dir'])}<br>ground truth: "
        f"{html.escape(result['ground_truth'])} ({html.escape(result['gt_format'])})<br>"
        f"{result['n_videos']} video(s), {result['n_frames']} frames; tIoU thresholds "
        f"{', '.join(f'{t:g}' for t in result['thresholds'])}; mouseact {__version__}; "
        f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</p>",
    ]
    if result["notes"]:
        parts.append("<h2>Warnings and notes</h2>")
        parts += [f"<div class='note'>{html.escape(n)}</div>" for n in result["notes"]]
    parts.append("<h2>Overall (macro over behaviours, background excluded)</h2>")
    parts.append(_table(["score", "value"], macro_rows(result)))
    parts.append(HOW_TO_READ)
    header, rows = per_class_rows(result)
    parts.append("<h2>Per behaviour</h2>")
    parts.append(_table(header, rows))
    unk = result["unknown_labels"]
    parts.append("<h2>Labels on one side only</h2><p>")
    parts.append(
        f"only in predictions: {html.escape(', '.join(unk['only_in_predictions']) or 'none')}<br>"
        f"only in ground truth: {html.escape(', '.join(unk['only_in_ground_truth']) or 'none')}</p>"
    )
    parts.append("<h2>Confusion matrix (frames)</h2>")
    parts.append(_img(_png_bytes(confusion_figure(result)), "confusion matrix"))
    parts.append("<h2>Per video</h2>")
    vrows = []
    for v in result["per_video"]:
        m = v["frame_macro"]
        vrows.append(
            [
                v["video"],
                v["n_frames"],
                v["fps"],
                v["gt_bouts"],
                v["pred_bouts"],
                v["frame_accuracy"],
                m.get("precision", float("nan")),
                m.get("recall", float("nan")),
                m.get("f1", float("nan")),
                "" if v.get("lost_frames") is None else v["lost_frames"],
            ]
        )
    parts.append(
        _table(
            [
                "video",
                "frames",
                "fps",
                "truth bouts",
                "predicted bouts",
                "frame accuracy",
                "macro P",
                "macro R",
                "macro F1",
                "frames without a mouse",
            ],
            vrows,
        )
    )
    from mouseact.progress import bar

    videos = result["_videos"]
    for v in bar(total=len(videos), desc="report ethograms", unit="video", iterable=videos.values()):
        fig = ethogram_vs_figure(
            v["gt"],
            v["pred"],
            v["fps"],
            v["n_frames"],
            result["classes"],
            f"{v['video']}: ground truth vs prediction",
        )
        parts.append(f"<h3>{html.escape(v['video'])}</h3>")
        parts.append(_img(_png_bytes(fig), f"ethogram {v['video']}"))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, result: dict) -> Path:
    return atomic.write_text(path, build_html(result))
