"""The inference app in a real headless Chromium: form from config.json, Run, progress, results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cdp_browser import Browser, find_chromium
from serve_http import ServerThread

STATUS = "document.querySelector('#job-status').textContent"
FINISHED = f"['done', 'failed', 'cancelled'].includes({STATUS})"


@pytest.mark.browser
@pytest.mark.slow
def test_inference_app_in_headless_chromium(tmp_path, bsoid_dir):
    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium chromium-driver)")
    from mouseact.apps.server import create_app

    video = bsoid_dir / "mouse2" / "rear_plus.mp4"
    app = create_app("inference", tmp_path / "work")
    spec = app.state.spec
    with ServerThread(app) as srv, Browser(tmp_path / "profile") as b:
        b.goto(srv.url + "/")
        b.wait_for("document.body.dataset.ready === '1'")
        assert b.eval("document.title").startswith(spec["title"])
        # the form is drawn from config.json + the CLI: one field per option, defaults filled in
        names = b.eval("[...document.querySelectorAll('.field')].map(f => f.dataset.name)")
        assert names == [o["name"] for o in spec["options"]]
        assert b.eval("document.getElementById('opt-dense').checked") is False
        assert b.eval("document.getElementById('opt-detector').value") == "classical"

        # 1. an empty required field is flagged in the page, nothing runs
        b.click("#run-button")
        assert b.wait_for("document.querySelector('.field[data-name=\"input\"]').classList.contains('invalid')")
        assert app.state.runner.list() == []

        # 2. a wrong path: the command's own one-line error is shown
        b.type_into("#opt-input", str(tmp_path / "missing.mp4"))
        b.click("#run-button")
        b.wait_for(FINISHED, timeout=120)
        assert b.eval(STATUS) == "failed"
        assert b.eval("document.querySelector('#job-error').textContent") == f"{tmp_path / 'missing.mp4'}: input not found"

        # 3. a real video: Run, wait, results (summary table + ethogram image) appear
        b.type_into("#opt-input", str(video))
        b.click("#run-button")
        b.wait_for(FINISHED, timeout=400)
        log = b.eval("document.querySelector('#job-log').textContent")
        assert b.eval(STATUS) == "done", (b.eval("document.querySelector('#job-error').textContent"), log[-2000:])
        assert "mouseact infer" in b.eval("document.querySelector('#command-line').textContent")
        assert b.wait_for("(() => { const i = document.querySelector('#results img');"
                          " return i && i.complete && i.naturalWidth > 100; })()", timeout=30)
        header = b.eval("[...document.querySelectorAll('#results table.result-table th')].map(t => t.textContent)")
        assert "behavior" in header
        files = b.eval("[...document.querySelectorAll('#results ul.files a')].map(a => a.textContent)")
        assert f"predictions/{video.stem}.json" in files and f"ethograms/{video.stem}.png" in files
        assert b.eval("document.querySelector('#job-progress').value") == 1
        shot = b.screenshot(tmp_path / "inference_app.png")
        assert b.console == [] or not any(c.startswith("exception") for c in b.console), b.console

    # what the page showed is what the command wrote
    job = app.state.runner.list()[-1]
    out = Path(job.result["out_dir"])
    preds = json.loads((out / "predictions" / f"{video.stem}.json").read_text())
    assert all(0 <= p["frame_range"][0] <= p["frame_range"][1] <= 124 for p in preds)
    assert shot.stat().st_size > 20_000
    keep = Path("/tmp/mouseact-test-screens")  # outside the repo, for a person to look at
    keep.mkdir(exist_ok=True)
    shutil.copy(shot, keep / shot.name)


@pytest.mark.browser
def test_form_remembers_last_values(tmp_path):
    """After a run, reloading the page brings the submitted values back (this browser only)."""
    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium chromium-driver)")
    from mouseact.apps.server import create_app

    app = create_app("inference", tmp_path / "work")
    missing = str(tmp_path / "session 1.mp4")
    with ServerThread(app) as srv, Browser(tmp_path / "profile") as b:
        b.goto(srv.url + "/")
        b.wait_for("document.body && document.body.dataset.ready === '1'")
        b.type_into("#opt-input", missing)
        b.click("#opt-dense")
        b.click("#run-button")
        b.wait_for(FINISHED, timeout=120)
        b.goto(srv.url + "/")
        b.wait_for("document.body && document.body.dataset.ready === '1' && "
                   "document.getElementById('opt-input').value !== ''")
        assert b.eval("document.getElementById('opt-input').value") == missing
        assert b.eval("document.getElementById('opt-dense').checked") is True
