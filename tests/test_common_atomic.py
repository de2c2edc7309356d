"""mouseact.atomic: an output appears whole or not at all."""

from __future__ import annotations

import json
import re

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


# --- outputs that cannot be written: one line naming the output, before the work, nothing left behind ----

def _refuse_mkdir(monkeypatch, code=13, where=None):
    """Make creating folders fail as on a read-only or foreign folder (as root chmod would not stop us)."""
    import errno as _errno
    import os

    real = os.mkdir

    def mkdir(p, *a, **k):
        if where is None or str(p).startswith(str(where)):
            raise OSError(code, os.strerror(code), str(p))
        return real(p, *a, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)
    return _errno


def test_output_under_a_file_is_one_line_before_the_work(tmp_path):
    afile = tmp_path / "video.mp4"
    afile.write_bytes(b"video")
    ran = []
    for out in (afile / "x", afile / "x" / "y"):
        blocked = f"cannot create the output: {afile} is a file, not a folder"
        with pytest.raises(atomic.OutputError, match=blocked) as err:
            with atomic.directory(out) as tmp:
                ran.append(tmp)
        assert str(err.value).startswith(f"{out}: ") and isinstance(err.value, MouseActError)
        with pytest.raises(atomic.OutputError, match=f"{afile} is a file, not a folder"):
            atomic.write_text(out / "summary.csv", "a\n")
        with pytest.raises(atomic.OutputError, match=f"{afile} is a file, not a folder"):
            with atomic.file(out / "plot.png") as tmp:
                ran.append(tmp)
        with pytest.raises(atomic.OutputError, match=f"{afile} is a file, not a folder"):
            atomic.check_output_dir(out)
    assert ran == [] and _listing(tmp_path) == ["video.mp4"] and afile.read_bytes() == b"video"


def test_an_existing_file_is_never_replaced_by_a_folder(tmp_path):
    """``import --out notes.txt --overwrite`` used to delete the file and put a project folder there."""
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(atomic.OutputError, match="the output is a file, not a folder") as err:
            with atomic.directory(afile, overwrite=overwrite):
                raise AssertionError("the work must not start")
        assert str(err.value) == f"{afile}: the output is a file, not a folder"
        with pytest.raises(atomic.OutputError, match="is a file, not a folder"):
            atomic.check_output_dir(afile, overwrite=overwrite)
    assert afile.read_text() == "keep me" and _listing(tmp_path) == ["notes.txt"]


def test_a_folder_where_a_file_goes(tmp_path):
    (tmp_path / "summary.csv").mkdir()
    with pytest.raises(atomic.OutputError, match="summary.csv: the output is a folder, not a file"):
        atomic.write_text(tmp_path / "summary.csv", "a\n")
    with pytest.raises(atomic.OutputError, match="is a folder, not a file"):
        with atomic.file(tmp_path / "summary.csv"):
            raise AssertionError("the work must not start")
    assert _listing(tmp_path) == ["summary.csv"]


def test_not_writable_output_names_the_folder(tmp_path, monkeypatch):
    errno = _refuse_mkdir(monkeypatch, where=tmp_path)
    ro = tmp_path / "ro"
    out = ro / "a" / "b"
    expected = re.escape(f"cannot create the output: {tmp_path} is not writable (Permission denied)")
    with pytest.raises(atomic.OutputError, match=expected) as err:
        with atomic.directory(out):
            raise AssertionError("the work must not start")
    assert str(err.value).startswith(f"{out}: ") and err.value.errno == errno.EACCES
    assert isinstance(err.value, OSError)  # callers that tolerate failed writes (caches) still can
    with pytest.raises(atomic.OutputError, match=expected):
        atomic.write_json(out / "metrics.json", {})
    with pytest.raises(atomic.OutputError, match=expected):
        atomic.check_output_dir(out)
    assert _listing(tmp_path) == []


@pytest.mark.skipif(not __import__("os").path.isdir("/sys/kernel"), reason="needs Linux /sys")
def test_sys_is_not_writable_even_for_root():
    for make in (lambda: atomic.directory("/sys/mouseact_out").__enter__(),
                 lambda: atomic.write_text("/sys/mouseact_out/summary.csv", "x"),
                 lambda: atomic.check_output_dir("/sys/mouseact_out")):
        expected = "^/sys/mouseact_out.*: cannot create the output: /sys is not writable"
        with pytest.raises(atomic.OutputError, match=expected):
            make()


def test_check_output_dir_creates_nothing(tmp_path):
    assert atomic.check_output_dir(tmp_path / "new" / "deep") == tmp_path / "new" / "deep"
    assert atomic.check_output_dir(tmp_path) == tmp_path  # an existing folder to write into
    with pytest.raises(atomic.OutputExistsError, match="already exists"):
        atomic.check_output_dir(tmp_path, overwrite=False)
    assert _listing(tmp_path) == []


def test_failed_outputs_remove_the_parent_folders_they_made(tmp_path, monkeypatch):
    import os

    with pytest.raises(RuntimeError):
        with atomic.directory(tmp_path / "a" / "b" / "project"):
            raise RuntimeError("the work failed")
    assert _listing(tmp_path) == []
    real = os.replace

    def disk_full(src, dst):
        raise OSError(28, os.strerror(28), str(dst))

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(atomic.OutputError, match="r/s.csv: cannot write the output: No space left on device"):
        atomic.write_text(tmp_path / "r" / "s.csv", "x")
    monkeypatch.setattr(os, "replace", real)
    assert _listing(tmp_path) == []


def test_a_failed_final_rename_keeps_the_previous_output(tmp_path, monkeypatch):
    import os

    out = tmp_path / "project"
    with atomic.directory(out) as tmp:
        (tmp / "old.txt").write_text("old")
    real = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # moving the new folder in place (the old one was moved aside first)
            raise OSError(5, os.strerror(5), str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(atomic.OutputError, match="project: cannot write the output: Input/output error"):
        with atomic.directory(out, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
    assert _listing(tmp_path) == ["project", "project/old.txt"]
