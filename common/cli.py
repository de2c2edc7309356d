"""``mouseact``: one command with a sub-command per job.

Each sub-command lives next to the code it drives and exposes ``register(subparsers)``;
this module only wires them together. Command modules must stay cheap to import (no torch
at module level) so ``mouseact --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, help) in the order a user meets them: data in -> models -> inference -> results.
COMMAND_MODULES = [
    "mouseact.preprocess.importers.cli",      # import
    "mouseact.preprocess.detection.cli",      # detect
    "mouseact.preprocess.clips.cli",          # preprocess
    "mouseact.train.cli",                     # train detector|localizer|classifier
    "mouseact.localizer.cli",                 # localize
    "mouseact.classifier.cli",                # classify
    "mouseact.inference.cli",                 # infer, demo
    "mouseact.evaluation.cli",                # evaluate, compare
    "mouseact.serve.cli",                     # serve
    "mouseact.apps.cli",                      # app
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mouseact",
        description="Find when a laboratory mouse does what in long videos.\n"
                    "video -> detect -> localize -> classify -> post-process -> export",
        formatter_class=HelpFormatter,
    )
    from mouseact import __version__

    parser.add_argument("--version", action="version", version=f"mouseact {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("mouseact"):
                continue  # stage not installed in this build
            raise
        module.register(sub)
    return parser


def _relax_required(parser: argparse.ArgumentParser) -> None:
    """Make every option and positional optional, in every sub-command (for ``--show-config``)."""
    for action in parser._actions:
        if action.option_strings:
            action.required = False
        elif action.nargs in (None, "+"):  # a required positional (INPUT, PROJECT)
            action.nargs, action.required = ("?" if action.nargs is None else "*"), False
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _relax_required(sub)


def _stop_cleanly_on_sigterm() -> None:
    """``kill PID`` (SIGTERM, also what docker stop and job schedulers send) ends a command the way
    Ctrl-C does: helper processes stopped, temporary files removed, nothing half-written."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        def interrupt(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    from mouseact.errors import MouseActError

    parser = build_parser()
    if "--show-config" in (sys.argv[1:] if argv is None else argv):
        _relax_required(parser)  # printing the settings needs no --out, --pred, ...
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    _stop_cleanly_on_sigterm()
    try:
        result = args.func(args)
    except MouseActError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
