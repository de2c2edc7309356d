"""``python -m mouseact.serve.healthcheck [URL]``: exit 0 if a service's ``/health`` answers 200.

Used by the Dockerfiles' ``HEALTHCHECK`` and docker-compose's ``healthcheck`` (no curl in the
slim image). Without URL it checks ``http://127.0.0.1:$MOUSEACT_PORT/health``, or when that is
unset the two services' default ports (8001 detector, 8002 inference): healthy if one answers 200.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    from mouseact.serve.client import get_json

    argv = sys.argv[1:] if argv is None else argv
    if argv:
        urls = [argv[0]]
    else:
        port = os.environ.get("MOUSEACT_PORT", "").strip()
        urls = [f"http://127.0.0.1:{p}/health" for p in ([port] if port else ["8001", "8002"])]
    for url in urls:
        try:
            status, payload = get_json(url, timeout=5)
        except Exception as exc:  # not up yet: unhealthy, say why
            print(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
            continue
        if status == 200:
            print(f"healthy: {url}: {payload.get('status')}")
            return 0
        print(f"unhealthy: {url}: HTTP {status} {payload}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
