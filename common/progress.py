"""Progress bars (tqdm on stderr) for anything that takes seconds."""

from __future__ import annotations

from tqdm.auto import tqdm


def bar(total: int | None = None, desc: str = "", unit: str = "frame", disable: bool | None = None, **kw):
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False, disable=disable,
                mininterval=0.5, **kw)
