"""``python -m mouseact.serve.healthcheck [URL]``: exit 0 if a service's ``/health`` answers 200.

Used by the Dockerfiles' ``HEALTHCHECK`` and docker-compose's ``healthcheck`` (no curl in the
slim image). Without URL it checks ``http://127.0.0.1:$MOUSEACT_PORT/health`` (port 8001 if unset).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    from mouseact.serve.client import get_json

    argv = sys.argv[1:] if argv is None else argv
    url = argv[0] if argv else f"http://127.0.0.1:{os.environ.get('MOUSEACT_PORT', '8001')}/health"
    try:
        status, payload = get_json(url, timeout=5)
    except Exception as exc:  # not up yet: unhealthy, say why
        print(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url}: HTTP {status} {payload}", file=sys.stderr)
        return 1
    print(f"healthy: {url}: {payload.get('status')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
