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
        assert b.eval("document.getElementById('opt-detector').value") == ""  # (default bundle: classical)

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


def _last_argv(app) -> list[str]:
    return app.state.runner.list()[-1].params["argv"]


def _field(name: str) -> str:
    return f'[id="opt-{name}"]'  # config keys have dots (postprocess.threshold): no #id selector


@pytest.mark.browser
def test_config_fields_in_headless_chromium(tmp_path):
    """What the page shows and sends for config fields: a list default as "0.33, 1, 3" that, untouched, sends
    nothing (was --set windows_s=0.33,1,3 -> "Input should be a valid tuple"), a typed list as YAML; settings
    a model bundle may override empty with the default bundle's value as placeholder and a typed 0 sent; a
    (default)/true/false choice; a required config.json option refused when empty."""
    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install chromium chromium-driver)")
    from mouseact.apps.server import create_app

    missing = str(tmp_path / "no such project")
    apps = {name: create_app(name, tmp_path / f"work-{name}")
            for name in ("train_localizer", "inference", "train_classifier", "postprocess")}

    def value(name: str, prop: str = "value"):
        return b.eval(f"document.querySelector('{_field(name)}').{prop}")

    def run_and_wait(app, n_jobs: int) -> list[str]:
        b.eval("document.querySelector('#command-line').textContent = ''")
        b.click("#run-button")
        b.wait_for(f"{FINISHED} && document.querySelector('#command-line').textContent !== ''", timeout=120)
        assert len(app.state.runner.list()) == n_jobs
        return _last_argv(app)

    with Browser(tmp_path / "profile") as b:
        app = apps["train_localizer"]
        with ServerThread(app) as srv:
            b.goto(srv.url + "/")
            b.wait_for("document.body && document.body.dataset.ready === '1'")
            assert value("windows_s") == "0.33, 1, 3" and value("max_gap_s") == "0.5"
            b.type_into(_field("project"), missing)
            argv = run_and_wait(app, 1)
            assert not [a for a in argv if "=" in a], argv  # untouched: no --set
            b.type_into(_field("windows_s"), "[0.5, 1, 3]")
            b.type_into(_field("max_gap_s"), "0.25, 0.5")
            argv = run_and_wait(app, 2)
            assert [a for a in argv if "=" in a] == ["windows_s=[0.5, 1, 3]", "max_gap_s=[0.25, 0.5]"]

        app = apps["inference"]
        with ServerThread(app) as srv:
            b.goto(srv.url + "/")
            b.wait_for("document.body && document.body.dataset.ready === '1'")
            assert value("postprocess.threshold") == "" and value("postprocess.threshold", "placeholder") == "default bundle: 0"
            assert value("detector") == "" and value("keep_unknown") == ""
            assert b.eval(f"[...document.querySelector('{_field('keep_unknown')}').options].map(o => o.text)") == \
                ["(default bundle: false)", "true", "false"]
            b.type_into(_field("input"), str(tmp_path / "missing.mp4"))
            argv = run_and_wait(app, 1)
            assert "--set" not in argv and "--detector" not in argv, argv  # empty fields send nothing
            b.type_into(_field("postprocess.threshold"), "0")
            b.eval(f"(s => {{ s.value = 'false'; s.dispatchEvent(new Event('change')); }})"
                   f"(document.querySelector('{_field('keep_unknown')}'))")
            argv = run_and_wait(app, 2)
            assert [a for a in argv if "=" in a] == ["postprocess.threshold=0", "keep_unknown=false"]

        app = apps["train_classifier"]
        with ServerThread(app) as srv:
            b.goto(srv.url + "/")
            b.wait_for("document.body && document.body.dataset.ready === '1'")
            assert value("embedder.prompt") == "" and value("embedder.prompt", "placeholder").startswith("qwen: ")
            assert "appearance" in b.eval(f"[...document.querySelector('{_field('embedder')}').options].map(o => o.value)")
            b.type_into(_field("project"), missing)
            b.type_into(_field("head.few_shot_classes"), "itch")
            argv = run_and_wait(app, 1)
            assert [a for a in argv if "=" in a] == ["head.few_shot_classes=[itch]"] and "--embedder-set" not in argv

        app = apps["postprocess"]
        with ServerThread(app) as srv:
            b.goto(srv.url + "/")
            b.wait_for("document.body && document.body.dataset.ready === '1'")
            assert b.eval("document.querySelector('label[for=\"opt-pred\"]').classList.contains('required')")
            b.click("#run-button")
            assert b.wait_for("document.querySelector('.field[data-name=\"pred\"]').classList.contains('invalid')")
            assert app.state.runner.list() == []
