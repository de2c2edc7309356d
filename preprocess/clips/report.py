"""report.json / report.md: what the training project holds, per class and split."""

from __future__ import annotations

from pathlib import Path

from mouseact import atomic


def build_report(splits_doc: dict, config) -> dict:
    classes = list(splits_doc["classes"]) + [splits_doc["idle_label"]]
    table = {c: {s: {"clips": 0, "frames": 0, "seconds": 0.0} for s in ("train", "val")} for c in classes}
    test = {c: {"bouts": 0, "frames": 0, "seconds": 0.0} for c in splits_doc["classes"]}
    for it in splits_doc["items"]:
        if it["split"] == "test":
            for iv in it["intervals"]:
                s, e = iv["frame_range"]
                row = test.setdefault(iv["label"], {"bouts": 0, "frames": 0, "seconds": 0.0})
                row["bouts"] += 1
                row["frames"] += e - s + 1
                row["seconds"] += (e - s + 1) / it["fps"]
            continue
        row = table[it["label"]][it["split"]]
        row["clips"] += 1
        row["frames"] += it["n_frames"]
        row["seconds"] += it["n_frames"] / it["fps"]
    for rows in list(table.values()) + [test]:
        for row in (rows.values() if rows is not test else test.values()):
            row["seconds"] = round(row["seconds"], 2)
    videos = splits_doc["videos"]
    pos = {s: sum(table[c][s]["frames"] for c in splits_doc["classes"]) for s in ("train", "val")}
    idle = {s: table[splits_doc["idle_label"]][s]["frames"] for s in ("train", "val")}
    return {
        "seed": splits_doc["seed"],
        "settings": config.plan_settings(),
        "videos_per_split": {s: sorted(k for k, v in videos.items() if v["split"] == s)
                             for s in ("train", "val", "test")},
        "groups": {k: v["group"] for k, v in videos.items()},
        "clips": table,
        "test_bouts": test,
        "idle_to_behaviour_frames": {s: (round(idle[s] / pos[s], 3) if pos[s] else None) for s in pos},
        "idle_shortfall_frames": {k: v["idle_shortfall_frames"] for k, v in videos.items()
                                  if v["idle_shortfall_frames"]},
    }


def to_markdown(report: dict) -> str:
    lines = ["# Training data report", "", f"seed {report['seed']}", ""]
    lines += ["| split | videos |", "|---|---|"]
    for s, vids in report["videos_per_split"].items():
        lines.append(f"| {s} | {len(vids)}: {', '.join(vids)} |")
    lines += ["", "## Clips (train / val)", "",
              "| class | train clips | train s | val clips | val s |", "|---|---:|---:|---:|---:|"]
    for c, row in report["clips"].items():
        lines.append(f"| {c} | {row['train']['clips']} | {row['train']['seconds']} | "
                     f"{row['val']['clips']} | {row['val']['seconds']} |")
    lines += ["", "## Test videos (whole, all bouts)", "", "| class | bouts | s |", "|---|---:|---:|"]
    for c, row in report["test_bouts"].items():
        lines.append(f"| {c} | {row['bouts']} | {row['seconds']} |")
    ratio = report["idle_to_behaviour_frames"]
    lines += ["", f"idle : behaviour frames — train {ratio['train']}, val {ratio['val']} "
              f"(target {report['settings']['idle_ratio']})"]
    if report["idle_shortfall_frames"]:
        lines.append("")
        lines.append("Videos without room for all idle frames (frames missing): "
                     + ", ".join(f"{k} {v}" for k, v in report["idle_shortfall_frames"].items()))
    return "\n".join(lines) + "\n"


def to_csv(report: dict) -> str:
    """One row per class and split (what a spreadsheet or the app's table view shows)."""
    lines = ["class,split,clips,frames,seconds"]
    for c, row in report["clips"].items():
        for split in ("train", "val"):
            r = row[split]
            lines.append(f"{c},{split},{r['clips']},{r['frames']},{r['seconds']}")
    for c, r in report["test_bouts"].items():
        lines.append(f"{c},test,{r['bouts']},{r['frames']},{r['seconds']}")
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, report: dict) -> None:
    atomic.write_json(Path(out_dir) / "report.json", report)
    atomic.write_text(Path(out_dir) / "report.md", to_markdown(report))
    atomic.write_text(Path(out_dir) / "report.csv", to_csv(report))
