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


# -- argparse value types shared by the sub-commands (a bad value is argparse's one-line error, exit 2) --
def positive_int(text: str) -> int:
    """A whole number >= 1 (a stride of 0 would never advance, a negative one goes backwards)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str, positive: bool) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(f"seconds must be a finite number {'>' if positive else '>='} 0, got {text!r}")
    return value


def seconds(text: str) -> float:
    """A time in seconds: a finite number >= 0."""
    return _seconds(text, positive=False)


def positive_seconds(text: str) -> float:
    """A duration in seconds: a finite number > 0."""
    return _seconds(text, positive=True)


class PortAction(argparse.Action):
    """``--port``: a TCP port, 1-65535 (uvicorn would log a larger number but listen on another port).

    An action rather than a ``type`` function: ``type`` stays ``int``, so forms built from these
    options (``mouseact app serve``) still show a number field."""

    def __call__(self, parser, namespace, value, option_string=None):
        if not 1 <= value <= 65535:
            parser.error(f"argument {option_string}: {value} is not a TCP port (1-65535)")
        setattr(namespace, self.dest, value)


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
