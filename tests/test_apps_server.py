"""The apps' offline UI server: forms built from config.json + the real CLI, jobs over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mouseact.apps.server import UI_DIR, app_spec, build_argv, collect_results, list_apps
from mouseact.errors import MouseActError
from serve_http import ServerThread, multipart, request, wait_job

APPS = list_apps()


def test_every_app_folder_is_listed():
    folders = sorted(p.parent.name for p in (UI_DIR.parent).glob("*/config.json"))
    assert APPS == folders and "inference" in APPS


@pytest.mark.parametrize("name", APPS)
def test_app_config_matches_the_cli(name):
    """Every option an app's config.json shows exists in its command (the form cannot drift)."""
    spec = app_spec(name)
    assert spec["title"] and spec["command"]
    names = [o["name"] for o in spec["options"]]
    assert len(names) == len(set(names))
    for opt in spec["options"]:
        assert opt["widget"] in {"text", "number", "checkbox", "select", "path", "lines", "outdir"}, opt
        if opt["widget"] == "select":
            assert opt["choices"], opt
        if opt["store"] == "config":
            assert "--set" in spec["usage"]


def test_inference_form_and_command_line(tmp_path):
    spec = app_spec("inference")
    by_name = {o["name"]: o for o in spec["options"]}
    assert spec["command"] == ["infer"]
    assert by_name["input"]["required"] and by_name["input"]["widget"] == "path"
    assert by_name["dense"]["widget"] == "checkbox" and by_name["dense"]["default"] is False
    assert by_name["out"]["widget"] == "outdir"
    video = "/videos/a b.mp4"
    # left at defaults: only the input and the job's own output folder
    assert build_argv(spec, {"input": video}, tmp_path) == ["infer", video, "--out", str(tmp_path)]
    # changed values become the CLI's own options
    changed = {"input": video, "dense": True}
    config_keys = [o["name"] for o in spec["options"] if o["store"] == "config"]
    if config_keys:
        changed[config_keys[0]] = "0.77"
    argv = build_argv(spec, changed, tmp_path)
    assert argv[:2] == ["infer", video] and "--dense" in argv
    if config_keys:
        assert argv[argv.index("--set") + 1] == f"{config_keys[0]}=0.77"
    with pytest.raises(MouseActError, match="'input' is required"):
        build_argv(spec, {"input": "  "}, tmp_path)
    numbers = [o for o in spec["options"] if o["widget"] == "number"]
    if numbers:
        with pytest.raises(MouseActError, match="must be a number"):
            build_argv(spec, {"input": video, numbers[0]["name"]: "fast"}, tmp_path)


def test_results_collects_tables_and_images(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (tmp_path / "ethograms").mkdir()
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "ethograms" / "v.png")
    plt.close(fig)
    rows = "\n".join(f"v,itch,{i},1.5,0.5,2.0,0.1" for i in range(60))
    (tmp_path / "summary.csv").write_text("video,behavior,bouts,total_s,mean_bout_s,per_minute,share_of_time\n"
                                          + rows + "\n")
    (tmp_path / ".hidden.tmp").write_text("partial")
    res = collect_results(tmp_path, app_spec("inference")["results"])
    assert res["images"] == ["ethograms/v.png"]
    assert res["tables"][0]["path"] == "summary.csv" and res["tables"][0]["total_rows"] == 60
    assert len(res["tables"][0]["rows"]) == 40 and res["tables"][0]["header"][1] == "behavior"
    assert {f["path"] for f in res["files"]} == {"ethograms/v.png", "summary.csv"}


def test_static_kit_is_offline():
    """No CDN, no remote fonts/scripts: every URL in the kit is local."""
    for asset in ("index.html", "app.js", "app.css"):
        text = (UI_DIR / asset).read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), asset
        assert not re.search(r"https?://", text) and "@import" not in text, asset


def test_app_over_http(tmp_path, arena_video):
    from mouseact.apps.server import create_app

    app = create_app("inference", tmp_path / "work")
    with ServerThread(app) as srv:
        status, _, page = request("GET", srv.url + "/")
        assert status == 200 and b'id="app-form"' in page and b"/ui/app.js" in page
        for asset in ("app.js", "app.css"):
            assert request("GET", f"{srv.url}/ui/{asset}")[0] == 200
        assert request("GET", f"{srv.url}/ui/..%2Fserver.py")[0] == 404
        status, spec, _ = request("GET", srv.url + "/api/app")
        assert status == 200 and spec["command"] == ["infer"]
        # a missing required field is refused before anything runs
        status, body, _ = request("POST", srv.url + "/api/run", {"values": {}})
        assert status == 400 and body["error"] == "'input' is required"
        # a bad input runs the real command, which fails with its one-line error
        missing = str(tmp_path / "nope.mp4")
        status, body, _ = request("POST", srv.url + "/api/run", {"values": {"input": missing}})
        assert status == 202 and body["argv"][:2] == ["infer", missing]
        snap = wait_job(f"{srv.url}/api/jobs/{body['job_id']}", timeout=120)
        assert snap["status"] == "failed" and snap["error"] == f"{missing}: input not found"
        assert snap["full_log"][0].startswith("$ mouseact infer")
        assert request("GET", f"{srv.url}/api/jobs/{body['job_id']}/files/summary.csv")[0] == 404
        # upload: the file lands in the app's work folder and its path comes back
        payload = arena_video.read_bytes()[:200_000]
        raw, ctype = multipart("file", "../../evil name.mp4", payload)
        status, up, _ = request("POST", srv.url + "/api/upload", raw=raw, content_type=ctype)
        assert status == 200 and up["bytes"] == len(payload)
        dest = Path(up["path"])
        assert dest.name == "evil_name.mp4" and dest.is_relative_to(tmp_path / "work")
        assert request("GET", srv.url + "/api/jobs/unknown")[0] == 404


def test_app_command_line(cli):
    res = cli("app", "--list")
    assert res.returncode == 0
    listed = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    assert listed == APPS
    res = cli("app", "no_such_app")
    assert res.returncode == 2 and res.stderr.strip().startswith("error: ") and "no app named 'no_such_app'" in res.stderr


def test_detect_app_runs_and_shows_its_contact_sheet(tmp_path, bsoid_dir):
    """A second app end to end over HTTP: the same form contract, its own results spec."""
    from mouseact.apps.server import create_app

    app = create_app("detect_crop", tmp_path / "work")
    video = bsoid_dir / "mouse1" / "orient_L.mp4"
    with ServerThread(app) as srv:
        status, body, _ = request("POST", srv.url + "/api/run", {"values": {"input": str(video), "no_project": True}})
        assert status == 202 and body["argv"][:2] == ["detect", str(video)] and "--no-project" in body["argv"]
        snap = wait_job(f"{srv.url}/api/jobs/{body['job_id']}", timeout=180)
        assert snap["status"] == "done", (snap["error"], snap["full_log"][-5:])
        result = snap["result"]
        assert result["images"] == ["orient_L.contact.png"]
        table = result["tables"][0]
        assert table["path"] == "orient_L.boxes.csv" and table["total_rows"] == 47
        status, _, png = request("GET", f"{srv.url}/api/jobs/{body['job_id']}/files/orient_L.contact.png")
        assert status == 200 and png[:4] == b"\x89PNG"
        assert not (Path(result["out_dir"]) / "project").exists()


def test_prefixed_config_keys_use_their_own_set_option(tmp_path):
    """``embedder.n_frames`` goes to ``--embedder-set n_frames=...`` when the command has that option."""
    spec = app_spec("train_classifier")
    prefixed = [o for o in spec["options"] if o.get("set_key")]
    if not prefixed:
        pytest.skip("train_classifier's config.json has no PREFIX.key options")
    opt = prefixed[0]
    prefix = opt["name"].split(".", 1)[0]
    assert opt["flag"] == f"--{prefix}-set" and f"--{prefix}-set" in spec["usage"]
    value = "7" if opt["widget"] == "number" else "x"
    argv = build_argv(spec, {"project": "/p", opt["name"]: value}, tmp_path)
    assert argv[argv.index(opt["flag"]) + 1] == f"{opt['set_key']}={value}"


@pytest.mark.parametrize("name", APPS)
def test_app_config_keys_are_accepted_by_the_command(name, tmp_path, bsoid_dir, cli):
    """Every ``--set`` key an app's form can send, at its shown default, is a real config key:
    ``mouseact <command> --show-config`` (no work done) must accept them all."""
    spec = app_spec(name)
    if "--show-config" not in spec["usage"]:
        pytest.skip(f"mouseact {' '.join(spec['command'])} has no --show-config to check keys with")
    args = list(spec["command"])
    n_keys = 0
    for opt in spec["options"]:
        if opt["store"] == "config" and (opt.get("default") is not None or opt["widget"] == "number"):
            value = opt["default"] if opt.get("default") is not None else 1  # an empty number field, typed in
            value = ("true" if value else "false") if isinstance(value, bool) else value
            args += [opt["flag"], f"{opt.get('set_key', opt['name'])}={value}"]
            n_keys += 1
        elif opt["widget"] == "path" and opt["flag"] is None:
            args.append(str(bsoid_dir / "mouse1" / "orient_R.mp4"))
    if n_keys == 0:
        pytest.skip("no config keys in this app's form")
    if "--embedder-set" in args:  # the form's embedder keys are the VLM's (prompt, resized_height ...)
        args += ["--embedder", "qwen", "--model-path", str(tmp_path / "weights")]
    res = cli(*args, "--show-config", "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr[-1000:]


def test_postprocess_form_empty_keeps_the_runs_setting_and_typed_values_always_apply(tmp_path):
    """The postprocess app starts from the run's recorded settings: an empty field sends nothing, and a
    typed value is sent even when it equals the default bundle's value (it may differ from the run's)."""
    spec = app_spec("postprocess")
    fields = {o["name"]: o for o in spec["options"] if o["store"] == "config"}
    assert set(fields) == {"threshold", "smooth_s", "stitch_gap_s", "min_duration_s"}
    assert all(o["widget"] == "number" and o["default"] is None and o["placeholder"] for o in fields.values())
    argv = build_argv(spec, {"pred": "/runs/a", "smooth_s": "", "min_duration_s": "0.2"}, tmp_path)
    assert argv[:3] == ["postprocess", "--pred", "/runs/a"]
    assert [a for a in argv if "=" in a] == ["min_duration_s=0.2"]
    with pytest.raises(MouseActError, match="'threshold' must be a number"):
        build_argv(spec, {"pred": "/runs/a", "threshold": "high"}, tmp_path)
