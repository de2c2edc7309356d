"""``mouseact import FORMAT FILES… --videos DIR --out PROJECT``: annotations → Supervisely project."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMAT_HELP = {
    "supervisely": "a Supervisely video project folder (tags mapped onto --behaviors by prefix)",
    "boris": "BORIS event exports (legacy/current tabular START/STOP/POINT or aggregated; csv/tsv/xlsx)",
    "csv": "interval table video,behavior,start,end (frames or seconds; see --units)",
    "xlsx": "the same interval table in an Excel sheet (see --sheet)",
    "deepethogram": "DeepEthogram per-frame label CSVs (<video>_labels.csv, one column per behaviour)",
    "calms21": "CalMS21 .npy/.json (keypoints + per-frame labels; 'other' = background)",
}


def register(sub) -> None:
    from mouseact.cli import HelpFormatter

    p = sub.add_parser(
        "import", help="import annotations (Supervisely, BORIS, CSV, XLSX, DeepEthogram, CalMS21)",
        formatter_class=HelpFormatter,
        description="Read behaviour annotations in another tool's format and write them, with their "
                    "videos, as a Supervisely video project (what `mouseact preprocess` reads).\n\n"
                    + "\n".join(f"  {k:13s} {v}" for k, v in FORMAT_HELP.items()),
        epilog="examples:\n"
               "  mouseact import boris exports/*.csv --videos videos/ --out my_project\n"
               "  mouseact import csv bouts.csv --units frames --videos videos/ --out my_project\n"
               "  mouseact import supervisely old_project --behaviors groom,rear --out my_project")
    p.add_argument("format", choices=list(FORMAT_HELP), help="annotation format")
    p.add_argument("files", nargs="+", type=Path, help="annotation files (a project folder for supervisely)")
    p.add_argument("--videos", type=Path, help="folder with the videos; each annotation is matched to the "
                   "video with the same file stem (required to write a project, except for supervisely)")
    p.add_argument("--out", type=Path, help="output Supervisely project folder (omit to only check and "
                   "summarise the annotations)")
    p.add_argument("--dataset", help="dataset name in the output project (default: the format name; "
                   "supervisely keeps its datasets)")
    p.add_argument("--behaviors", help="comma-separated behaviour names: the closed label list (unknown "
                   "names are an error); for supervisely, tag names are mapped onto them by "
                   "case-insensitive prefix")
    p.add_argument("--fps", type=float, help="frame rate to convert seconds to frames when the file's "
                   "is missing or ambiguous (a video found in --videos always wins)")
    p.add_argument("--units", choices=["auto", "frames", "seconds"], default="auto",
                   help="csv/xlsx: unit of start/end (auto: from the column names, or decimals = seconds)")
    p.add_argument("--sheet", help="xlsx: sheet name (default: the first)")
    p.add_argument("--subjects", help="boris: comma-separated subjects to keep (default: all)")
    p.add_argument("--close-unpaired", action="store_true",
                   help="boris: end a START that is never stopped at the media end instead of failing")
    p.add_argument("--animal", type=int, default=0, help="calms21: which animal's keypoints give the mouse box")
    p.add_argument("--out-of-range", choices=["error", "clamp"], default="error",
                   help="bouts past the end of the video: fail (default) or cut them at the end")
    p.add_argument("--unmatched", choices=["error", "drop"], default="error",
                   help="supervisely: tags matching no --behaviors name: fail or drop them")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out project")
    p.set_defaults(func=run)


def read_any(fmt: str, files, args) -> tuple[list, dict | None]:
    from mouseact.preprocess import importers as im
    from mouseact.preprocess.importers.records import label_list

    behaviors = label_list(args.behaviors)
    dataset = args.dataset or fmt
    records, mapping = [], None
    for f in files:
        if fmt == "supervisely":
            recs, mapping = im.read_supervisely(f, behaviors, unmatched=args.unmatched,
                                                out_of_range=args.out_of_range, dataset=args.dataset)
        elif fmt == "boris":
            recs = im.read_boris(f, fps=args.fps, videos=args.videos, subjects=label_list(args.subjects),
                                 behaviors=behaviors, dataset=dataset, close_unpaired=args.close_unpaired,
                                 out_of_range=args.out_of_range)
        elif fmt == "csv":
            recs = im.read_interval_csv(f, fps=args.fps, units=args.units, videos=args.videos,
                                        behaviors=behaviors, dataset=dataset, out_of_range=args.out_of_range)
        elif fmt == "xlsx":
            recs = im.read_interval_xlsx(f, sheet=args.sheet, fps=args.fps, units=args.units,
                                         videos=args.videos, behaviors=behaviors, dataset=dataset,
                                         out_of_range=args.out_of_range)
        elif fmt == "deepethogram":
            recs = im.read_deepethogram(f, fps=args.fps, videos=args.videos, behaviors=behaviors,
                                        dataset=dataset, out_of_range=args.out_of_range)
        else:
            recs = im.read_calms21(f, fps=args.fps or 30.0, videos=args.videos, behaviors=behaviors,
                                   dataset=dataset, animal=args.animal, out_of_range=args.out_of_range)
        records += recs
    return records, mapping


def run(args: argparse.Namespace) -> int:
    from mouseact.errors import MouseActError
    from mouseact.preprocess import importers as im
    from mouseact.preprocess.importers.records import label_list

    if args.out is not None and args.videos is None and args.format != "supervisely":
        raise MouseActError("--out needs --videos DIR (the project stores the videos with their labels)")
    records, mapping = read_any(args.format, args.files, args)
    records = im.merge_records(records)
    if mapping is not None:
        print("tag → behaviour mapping:")
        for tag, label in mapping.items():
            print(f"  {tag!r:30s} → {label if label is not None else '(dropped)'}")
    classes = im.collect_classes(records, label_list(args.behaviors))
    for r in records:
        counts = {}
        for iv in r.intervals:
            counts[iv.label] = counts.get(iv.label, 0) + 1
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no bouts"
        print(f"{r.dataset}/{r.name}: {r.n_frames} frames @ {r.fps:g} fps; {detail}")
    from mouseact.intervals import near_duplicates

    for same in near_duplicates(classes):
        print(f"warning: behaviours {', '.join(repr(c) for c in same)} differ only in case or spacing and are kept "
              "apart; if they are one behaviour, write it one way in the source files (or, for a Supervisely project, "
              "map both with --behaviors)",
              file=sys.stderr)
    if args.out is None:
        print(f"{len(records)} videos, classes: {', '.join(classes)} (no --out: nothing written)")
        return 0
    out = im.write_records(records, args.out, classes, overwrite=args.overwrite)
    print(f"wrote {out} ({len(records)} videos, classes: {', '.join(classes)})", file=sys.stderr)
    return 0
