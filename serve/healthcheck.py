"""``python -m mouseact.serve.healthcheck [URL]``: exit 0 if the server in this container is healthy.

Used by the Dockerfiles' ``HEALTHCHECK`` and docker-compose's ``healthcheck`` (no curl in the
slim image). With URL it checks that URL (200 = healthy). Without, it finds what the container runs,
so one image-level check is right for every way of running the image:

1. ``MOUSEACT_PORT`` set: the server on that port.
2. Else the container's main process (PID 1, ``--pid`` names another), read from its command
   line, as the entry script started it (``docker/entrypoint.sh``) or the ``docker run`` arguments
   name it (also behind ``docker run --init``):

   - ``serve detector`` / entry ``detector``: port ``--port``, else ``$DETECTOR_PORT``, else 8001;
   - ``serve inference`` / entry ``inference-service``: ``--port``, ``$INFERENCE_PORT``, else 8002;
   - ``app NAME``: ``--port``, else 8080 (the app's form);
   - any other command (the batch job ``inference``, ``infer ...``): no server, nothing to probe.
     It is healthy while it runs (it is the container: when it ends, the container stops).
3. A main process that is not MouseAct's: the default ports 8001, 8002 and 8080; healthy if one is.

A server is healthy when ``GET /health`` answers 200 (the services: only once the model is loaded);
where ``/health`` is 404, ``/api/health`` is asked (the app server's).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORTS = {"detector": 8001, "inference-service": 8002, "app": 8080}
PORT_ENV = {"detector": "DETECTOR_PORT", "inference-service": "INFERENCE_PORT"}
ENTRY_NAMES = ("entrypoint.sh",)
# programs that run the one after them: an interpreter, a shell, an init (docker run --init)
_LAUNCHER = re.compile(r"^(python[0-9.]*|sh|bash|dash|env|docker-init|tini|dumb-init)$")


@dataclass(frozen=True)
class Target:
    """What the container runs: a server on ``port`` (``kind`` detector|inference-service|app) or
    ``kind == "job"``: a command with no server (``port`` None)."""

    kind: str
    port: int | None = None
    host: str = "127.0.0.1"
    command: str = ""


def target_from_cmdline(argv: list[str], env: dict[str, str]) -> Target | None:
    """The target for a process command line; None when it is not a MouseAct command."""
    args = _mouseact_args(argv)
    if args is None:
        return None
    kind, rest = _kind(args)
    if kind == "job":
        return Target("job", command=" ".join(args)[:200])
    port = _option(rest, "--port")
    host = _option(rest, "--host") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "", "*"):
        host = "127.0.0.1"  # listening everywhere: loopback reaches it
    if port is None:
        port = env.get(PORT_ENV.get(kind, ""), "").strip() if kind in PORT_ENV else ""
        port = port or str(DEFAULT_PORTS[kind])
    return Target(kind, int(port), host, " ".join(args)[:200])


def _mouseact_args(argv: list[str]) -> list[str] | None:
    """The arguments after the program (``python -m mouseact ...``, a ``mouseact`` console script,
    or the image's entry script), as ``[command, ...]``; module entries as ``["module:NAME"]``."""
    for i, token in enumerate(argv):
        name = Path(token).name
        if i > 0 and not (_LAUNCHER.match(Path(argv[i - 1]).name) or argv[i - 1].startswith("-")):
            return None  # past the program: a later "mouseact" is some argument's value
        if name in ENTRY_NAMES:
            rest = argv[i + 1:] or ["inference"]  # the entry's default command is the batch job
            return ["entry", *rest]
        if name == "mouseact":
            return argv[i + 1:]
        if token == "-m" and i + 1 < len(argv):
            module = argv[i + 1]
            if module in ("mouseact", "mouseact.cli"):
                return argv[i + 2:]
            if module.startswith("mouseact."):
                return [f"module:{module}", *argv[i + 2:]]
            return None
    return None


def _kind(args: list[str]) -> tuple[str, list[str]]:
    if args and args[0] == "entry":
        cmd, rest = (args[1], args[2:]) if len(args) > 1 else ("inference", [])
        if cmd == "detector":
            return "detector", rest
        if cmd == "inference-service":
            return "inference-service", rest
        args = [cmd, *rest]  # anything else goes to the mouseact CLI
    if args[:2] == ["serve", "detector"]:
        return "detector", args[2:]
    if args[:2] == ["serve", "inference"]:
        return "inference-service", args[2:]
    if args[:1] == ["app"] and len(args) > 1 and "--list" not in args and not {"-h", "--help"} & set(args):
        return "app", args[1:]
    return "job", args


def _option(args: list[str], name: str) -> str | None:
    """The last value of ``--name V`` / ``--name=V`` (argparse keeps the last)."""
    value = None
    for i, token in enumerate(args):
        if token == name and i + 1 < len(args):
            value = args[i + 1]
        elif token.startswith(name + "="):
            value = token.split("=", 1)[1]
    return value


def read_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part] or None


def probe(base: str) -> tuple[bool, str]:
    """GET ``base``/health (then ``/api/health`` if that is 404): (healthy, one line)."""
    from mouseact.serve.client import get_json

    for path in ("/health", "/api/health"):
        url = base + path
        try:
            status, payload = get_json(url, timeout=5)
        except Exception as exc:  # not up yet: unhealthy, say why
            return False, f"{url}: {getattr(exc, 'reason', exc)}"
        if status == 200:
            return True, f"{url}: {payload.get('status') if isinstance(payload, dict) else payload}"
        if status != 404:
            return False, f"{url}: HTTP {status} {payload}"
    return False, f"{base}: no /health nor /api/health (HTTP 404)"


def _base(host: str, port: int | str) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mouseact.serve.healthcheck", description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="check exactly this URL (200 = healthy)")
    parser.add_argument("--pid", type=int, default=1,
                        help="the process whose command line says what runs (default 1: the container's main process)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if environ is None else environ)

    if args.url:
        from mouseact.serve.client import get_json

        try:
            status, payload = get_json(args.url, timeout=5)
        except Exception as exc:
            print(f"unhealthy: {args.url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
            return 1
        if status == 200:
            print(f"healthy: {args.url}: {payload.get('status') if isinstance(payload, dict) else payload}")
            return 0
        print(f"unhealthy: {args.url}: HTTP {status} {payload}", file=sys.stderr)
        return 1

    port = env.get("MOUSEACT_PORT", "").strip()
    if port:
        bases = [_base("127.0.0.1", port)]
    else:
        cmdline = read_cmdline(args.pid)
        target = target_from_cmdline(cmdline, env) if cmdline else None
        if target is not None and target.kind == "job":
            print(f"healthy: no server to probe, process {args.pid} runs a job: {target.command}")
            return 0
        if target is not None:
            bases = [_base(target.host, target.port)]
        else:
            bases = [_base("127.0.0.1", p) for p in sorted(set(DEFAULT_PORTS.values()))]
    for base in bases:
        ok, line = probe(base)
        if ok:
            print(f"healthy: {line}")
            return 0
        print(f"unhealthy: {line}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
