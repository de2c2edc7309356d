"""``mouseact train detector|localizer|classifier``: one training entry per model stage."""

from __future__ import annotations

import importlib

# Each training module exposes register_train(train_subparsers) and stays light at import.
TRAIN_MODULES = ["mouseact.train.detector", "mouseact.train.localizer", "mouseact.train.classifier"]


def register(sub) -> None:
    from mouseact.cli import HelpFormatter

    parser = sub.add_parser("train", help="train a detector, localizer or classifier",
                            description="Train one of the models of the pipeline. Each writes a model "
                                        "directory with model_card.json (label map, config, metrics).",
                            formatter_class=HelpFormatter)
    train_sub = parser.add_subparsers(dest="train_command", metavar="MODEL")
    for name in TRAIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("mouseact"):
                continue
            raise
        module.register_train(train_sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 1)
