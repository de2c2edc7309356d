"""mouseact.atomic: an output appears whole or not at all."""

from __future__ import annotations

import json

import pytest

from mouseact import atomic
from mouseact.errors import MouseActError


def _listing(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*"))


def test_write_json_text_bytes(tmp_path):
    p = atomic.write_json(tmp_path / "a" / "b.json", {"x": [1, 2], "µ": "ü"})
    assert json.loads(p.read_text(encoding="utf-8")) == {"x": [1, 2], "µ": "ü"}
    atomic.write_text(tmp_path / "t.txt", "one\n")
    atomic.write_bytes(tmp_path / "t.txt", b"two\n")  # replaces
    assert (tmp_path / "t.txt").read_text() == "two\n"
    assert _listing(tmp_path) == ["a", "a/b.json", "t.txt"]


def test_write_json_failure_keeps_old_content(tmp_path):
    p = atomic.write_json(tmp_path / "r.json", {"ok": 1})
    with pytest.raises(TypeError):
        atomic.write_json(p, {"bad": object()})
    assert json.loads(p.read_text()) == {"ok": 1}
    assert _listing(tmp_path) == ["r.json"]


def test_file_context_success_and_failure(tmp_path):
    target = tmp_path / "plot.png"
    with atomic.file(target) as tmp:
        assert tmp.suffix == ".png" and tmp != target and not target.exists()
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    with pytest.raises(RuntimeError):
        with atomic.file(tmp_path / "half.csv") as tmp:
            tmp.write_text("a,b\n1,")
            raise RuntimeError("crash mid-write")
    assert _listing(tmp_path) == ["plot.png"]


def test_directory_failure_leaves_nothing(tmp_path):
    out = tmp_path / "project"
    with pytest.raises(RuntimeError):
        with atomic.directory(out) as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "a.json").write_text("{}")
            raise RuntimeError("crash mid-write")
    assert _listing(tmp_path) == []


def test_directory_failure_keeps_the_old_output(tmp_path):
    out = tmp_path / "project"
    with atomic.directory(out) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.directory(out, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("crash")
    assert _listing(tmp_path) == ["project", "project/old.txt"]
    with atomic.directory(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert _listing(tmp_path) == ["project", "project/new.txt"]


def test_directory_refuses_to_clobber_before_doing_the_work(tmp_path):
    out = tmp_path / "project"
    out.mkdir()
    ran = []
    with pytest.raises(MouseActError, match="already exists") as err:
        with atomic.directory(out) as tmp:
            ran.append(tmp)
    assert ran == [] and isinstance(err.value, FileExistsError)
    assert str(err.value).startswith(str(out))
    assert _listing(tmp_path) == ["project"]


def test_outputs_get_ordinary_permissions_not_private_temp_ones(tmp_path):
    """mkstemp/mkdtemp are 0600/0700; outputs must be readable like any file the user writes."""
    import os
    import stat

    from mouseact import atomic

    mask = os.umask(0o022)
    try:
        f = atomic.write_text(tmp_path / "a.txt", "x")
        with atomic.file(tmp_path / "b.png") as tmp:
            tmp.write_bytes(b"png")
        with atomic.directory(tmp_path / "model") as d:
            (d / "w.bin").write_bytes(b"1")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.png").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755
