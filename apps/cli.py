"""``mouseact app NAME``: open one platform app's form in a browser, offline."""

from __future__ import annotations


def register(subparsers) -> None:
    from mouseact.cli import HelpFormatter, PortAction

    p = subparsers.add_parser(
        "app", formatter_class=HelpFormatter,
        help="run a platform app's form in your browser (offline, no Supervisely account)",
        description="Serve one app's widget UI (form built from apps/NAME/config.json and the "
                    "command's own options). Run starts the same command as the CLI in the "
                    "background and shows its progress, log and results. Use --list to see the apps.")
    p.add_argument("name", nargs="?", help="app folder name, e.g. inference, detect_crop, train_classifier")
    p.add_argument("--list", action="store_true", help="list the available apps and exit")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (keep 127.0.0.1: the page runs commands on this machine)")
    p.add_argument("--port", type=int, action=PortAction, default=8080, help="TCP port (1-65535)")
    p.add_argument("--workdir", metavar="DIR", default=None,
                   help="where jobs write their outputs (one folder per run); default: a new temp dir")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from mouseact.apps.server import app_spec, create_app, list_apps
    from mouseact.errors import MouseActError

    if args.list or not args.name:
        for name in list_apps():
            try:
                spec = app_spec(name)
                print(f"{name:18s} {spec['title']}  (mouseact {' '.join(spec['command'])})")
            except MouseActError as exc:
                print(f"{name:18s} unavailable: {exc}")
        return 0 if args.list else 1
    if args.workdir:
        from mouseact import atomic

        atomic.check_output_dir(args.workdir)  # a file or an unwritable place: one line, before serving
    app = create_app(args.name, args.workdir)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        import sys

        print(f"warning: listening on {args.host}: anyone who can reach port {args.port} can run mouseact "
              "commands and read files on this machine through the page", file=sys.stderr)
    print(f"MouseAct app {args.name!r}: open http://{args.host}:{args.port}/ (Ctrl+C to stop); "
          f"outputs under {app.state.workdir}", flush=True)
    from mouseact.serve.common import run_uvicorn

    run_uvicorn(app, args.host, args.port, "warning")
    return 0
