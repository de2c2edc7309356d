"""Assemble docs/benchmarks.md from the per-topic sections in docs/benchmarks/*.md.

Each benchmark script writes its own section file (with the command that produced it), so
benchmarks can be re-run one at a time without clobbering each other.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parts = ["# MouseAct benchmarks\n",
             "Measured on the project's build machine kind: 2 CPU cores, no GPU, shared and noisy, so speeds\n"
             "are reported as ratios measured in the same run. Each section names the command that produced it.\n"
             "Accuracy figures on `../shared/data` are sanity figures: nobody on the project labelled that data.\n"]
    for section in sorted((ROOT / "docs" / "benchmarks").glob("*.md")):
        parts.append(section.read_text().strip() + "\n")
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
