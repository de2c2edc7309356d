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
    # an option the command restricts to choices offers exactly those (train_classifier lacked 'appearance')
    from mouseact.apps.server import command_parser

    actions = {a.dest: a for a in command_parser(spec["command"])._actions}
    for opt in spec["options"]:
        action = actions.get({"model_dir": "model"}.get(opt["name"], opt["name"]))
        if opt["store"] != "config" and action is not None and action.choices:
            assert opt["choices"] == [str(c) for c in action.choices], opt["name"]


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


def _shown_value(opt: dict):
    """What the form shows in a config field, as the browser sends it (an empty field: its suggested value)."""
    value = opt["default"] if opt.get("default") not in (None, []) else opt.get("suggested")
    if value is None and opt.get("choices"):
        value = opt["choices"][0]
    if opt["widget"] == "checkbox":
        return bool(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return None if value is None else ("true" if value else "false") if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("name", APPS)
def test_app_config_keys_are_accepted_by_the_command(name, tmp_path, cli):
    """Every ``--set`` key an app's form can send, written by ``build_argv`` as the form sends it (the shown
    default, or for an empty field its placeholder's suggested value), is a real config key of a valid
    type: ``mouseact <command> --show-config`` (no work done) must accept them all."""
    import copy

    spec = app_spec(name)
    if "--show-config" not in spec["usage"]:
        pytest.skip(f"mouseact {' '.join(spec['command'])} has no --show-config to check keys with")
    forced = copy.deepcopy(spec)  # only the config fields, none "left at its default": every one is sent
    forced["options"] = [o for o in forced["options"] if o["store"] == "config" or o["widget"] == "outdir"]
    values = {}
    for opt in forced["options"]:
        if opt["store"] != "config":
            continue
        values[opt["name"]] = _shown_value(opt)
        assert values[opt["name"]] is not None, f"{opt['name']}: an empty field needs a 'suggested' value to check"
        opt["default"] = (not values[opt["name"]]) if opt["widget"] == "checkbox" else None
    if not values:
        pytest.skip("no config keys in this app's form")
    argv = build_argv(forced, values, tmp_path / "out")
    assert sum(a in ("--set", "--embedder-set") for a in argv) == len(values)
    if "--embedder-set" in argv:  # the form's embedder keys are the VLM's (prompt, resized_height ...)
        argv += ["--embedder", "qwen", "--model-path", str(tmp_path / "weights")]
    res = cli(*argv, "--show-config")
    assert res.returncode == 0, (argv, res.stderr[-1000:])
    if cli(*spec["command"], "--set", "no_such_key=1", "--show-config").returncode == 0:
        # `mouseact preprocess --show-config` prints the defaults and ignores --set: check the keys with
        # the loader the command itself uses
        assert spec["command"] == ["preprocess"], "this command's --show-config does not check --set keys"
        _preprocess_config(argv)


def _preprocess_config(argv: list[str]):
    from mouseact.config import load
    from mouseact.preprocess.clips.config import PreprocessConfig

    return load(PreprocessConfig, None, [argv[i + 1] for i, a in enumerate(argv) if a == "--set"])


@pytest.mark.parametrize("name", APPS)
def test_untouched_form_is_accepted_by_the_command(name, tmp_path, cli):
    """The form as the page shows it (list defaults as the browser renders them), plus the required fields,
    builds a command line the command accepts: was ``--set windows_s=0.33,1,3`` → "Input should be a valid
    tuple" from train_localizer's untouched form."""
    spec = app_spec(name)
    if "--show-config" not in spec["usage"]:
        pytest.skip(f"mouseact {' '.join(spec['command'])} has no --show-config")
    for rendering in (", ", ","):  # app.js joins a list with ", "; a browser's String(list) gives "0.33,1,3"
        values = {}
        for opt in spec["options"]:
            if isinstance(opt.get("default"), list) and opt["widget"] == "text":
                values[opt["name"]] = rendering.join(str(int(v) if v == int(v) else v) if isinstance(v, float)
                                                     else str(v) for v in opt["default"])
            elif opt.get("required") and opt["widget"] != "outdir":
                values[opt["name"]] = str(tmp_path / "input")
        argv = build_argv(spec, values, tmp_path / "out")
        assert not [a for a in argv if "=" in a], argv  # nothing changed: no --set at all
        if "--pred" in argv:  # postprocess --show-config would read that run's settings: not needed here
            del argv[argv.index("--pred"):argv.index("--pred") + 2]
        res = cli(*argv, "--show-config")
        assert res.returncode == 0, (argv, res.stderr[-1000:])


def test_list_config_fields_round_trip(tmp_path, cli):
    """A list default is shown as "0.33, 1, 3", accepted as typed (with or without brackets), sent as a YAML
    list and left out when unchanged (compared as numbers)."""
    spec = app_spec("train_localizer")
    windows = next(o for o in spec["options"] if o["name"] == "windows_s")
    assert windows["widget"] == "text" and windows["value_type"] == "list" and windows["default"] == [0.33, 1.0, 3.0]
    out = tmp_path / "out"
    for same in ("0.33, 1, 3", "0.33,1,3", "[0.33, 1.0, 3]", " [0.330,1,3.0] "):
        assert build_argv(spec, {"project": "/p", "windows_s": same}, out) == ["train", "localizer", "/p", "--out", str(out)]
    for typed in ("0.5, 1", "[0.5, 1]", "0.5,1"):
        argv = build_argv(spec, {"project": "/p", "windows_s": typed}, out)
        assert argv[argv.index("--set") + 1] == "windows_s=[0.5, 1]"
    argv = build_argv(spec, {"project": "/p", "windows_s": "0.5, 1", "max_gap_s": "0.25, 0.5, 1"}, out)
    res = cli(*argv, "--show-config")
    assert res.returncode == 0, res.stderr
    import json

    shown = json.loads(res.stdout)
    assert shown["windows_s"] == [0.5, 1.0] and shown["max_gap_s"] == [0.25, 0.5, 1.0]
    with pytest.raises(MouseActError, match="comma-separated list"):
        build_argv(spec, {"project": "/p", "windows_s": "[0.5, 1"}, out)

    spec = app_spec("train_classifier")
    few = next(o for o in spec["options"] if o["name"] == "head.few_shot_classes")
    assert few["value_type"] == "list" and few["default"] == [] and "comma-separated" in few["help"]
    assert not [a for a in build_argv(spec, {"project": "/p", "head.few_shot_classes": ""}, out) if "=" in a]
    for typed in ("itch", "[itch]", "'itch'"):
        argv = build_argv(spec, {"project": "/p", "head.few_shot_classes": typed}, out)
        assert [a for a in argv if "=" in a] == ["head.few_shot_classes=[itch]"]
    argv = build_argv(spec, {"project": "/p", "head.few_shot_classes": "itch, face_groom"}, out)
    res = cli(*argv, "--show-config")
    assert res.returncode == 0, res.stderr
    assert "few_shot_classes:\n    - itch\n    - face_groom" in res.stdout


def test_string_config_values_reach_the_command_as_typed(tmp_path, cli):
    """``--set`` parses YAML: a typed string YAML would read as a list or mapping is quoted."""
    spec = app_spec("preprocess_data")
    regex = "[a-z]+_(\\d+)"
    argv = build_argv(spec, {"project": "/p", "group_regex": regex, "classes": "groom, on"}, tmp_path / "out")
    assert "classes=[groom, 'on']" in argv
    config = _preprocess_config(argv)  # its --show-config ignores --set: the command's own loader
    assert config.group_regex == regex and list(config.classes) == ["groom", "on"]
    spec = app_spec("train_classifier")
    prompt = "Answer: one of [groom, rear]"
    argv = build_argv(spec, {"project": "/p", "embedder": "qwen", "embedder.prompt": prompt}, tmp_path / "out")
    shown = _show_config(cli, *argv, "--model-path", str(tmp_path))["embedder (qwen, --embedder-set)"]
    assert shown["prompt"] == prompt


def _show_config(cli, *args) -> dict:
    import yaml

    res = cli(*args, "--show-config")
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(res.stdout)


def _dotted(d: dict, key: str):
    for part in key.split("."):
        d = d[part]
    return d


def test_settings_a_model_overrides_are_empty_fields(tmp_path, cli):
    """Inference: a setting the chosen bundle may override is empty (placeholder = the default bundle's
    value, checked against the real default bundle), an empty field sends nothing and any typed value is
    sent, so a bundle whose threshold is 0.3 can be run with threshold 0."""
    import json
    import shutil

    from mouseact.models import DEFAULT_BUNDLE

    spec = app_spec("inference")
    fields = {o["name"]: o for o in spec["options"] if o["store"] == "config"}
    assert {"postprocess.threshold", "segment_s", "keep_unknown"} <= set(fields)
    default_bundle = _show_config(cli, "infer")
    for name, opt in fields.items():
        assert opt["default"] is None and opt["placeholder"].startswith("default bundle: "), name
        real = _dotted(default_bundle, name)
        assert opt["suggested"] == real, name
        shown = opt["placeholder"].split(": ", 1)[1]
        assert (shown == str(real).lower()) if isinstance(real, bool) else float(shown) == real, name
    detector = next(o for o in spec["options"] if o["name"] == "detector")
    assert detector["default"] is None and detector["placeholder"] == f"default bundle: {default_bundle['detector']}"
    # a boolean a bundle may override: (default) / true / false, never a checkbox that can only send "true"
    keep = fields["keep_unknown"]
    assert keep["widget"] == "select" and keep["choices"] == ["true", "false"]
    out = tmp_path / "out"
    assert build_argv(spec, {"input": "/v.mp4"}, out) == ["infer", "/v.mp4", "--out", str(out)]
    assert build_argv(spec, {"input": "/v.mp4", **{k: "" for k in fields}, "detector": ""}, out) == \
        ["infer", "/v.mp4", "--out", str(out)]

    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    meta = json.loads((bundle / "pipeline.json").read_text())
    meta["pipeline"]["postprocess"]["threshold"] = 0.3
    meta["pipeline"]["keep_unknown"] = True
    (bundle / "pipeline.json").write_text(json.dumps(meta))
    values = {"input": "/v.mp4", "model_dir": str(bundle), "postprocess.threshold": "0", "keep_unknown": "false",
              "detector": "classical"}
    argv = build_argv(spec, values, out)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--set"] == ["postprocess.threshold=0", "keep_unknown=false"]
    assert argv[argv.index("--detector") + 1] == "classical"
    args = [a for a in argv if a != "/v.mp4"]
    assert _dotted(_show_config(cli, "infer", "--model", str(bundle)), "postprocess.threshold") == 0.3
    shown = _show_config(cli, *args)
    assert shown["postprocess"]["threshold"] == 0.0 and shown["keep_unknown"] is False
    shown = _show_config(cli, *[a for a in build_argv(spec, {**values, "keep_unknown": "true"}, out) if a != "/v.mp4"])
    assert shown["keep_unknown"] is True


def test_postprocess_suggested_values_are_the_default_bundles(cli):
    default_bundle = _show_config(cli, "infer")["postprocess"]
    for opt in app_spec("postprocess")["options"]:
        if opt["store"] == "config":
            assert opt["suggested"] == default_bundle[opt["name"]], opt["name"]


def test_train_classifier_form(tmp_path, cli):
    """Every embedder; the default model's recipe (augment_mirror, few-shot k-means) can be set; the
    embedder.* keys are the qwen/hf embedders' (help says so, placeholders are qwen's real defaults) and an
    empty one is not sent."""
    spec = app_spec("train_classifier")
    by_name = {o["name"]: o for o in spec["options"]}
    assert by_name["embedder"]["choices"] == ["fast", "appearance", "qwen", "hf"]
    out = tmp_path / "out"
    untouched = build_argv(spec, {"project": "/p"}, out)
    assert untouched == ["train", "classifier", "/p", "--out", str(out)]
    argv = build_argv(spec, {"project": "/p", "augment_mirror": True, "head.few_shot_head": "kmeans"}, out)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--set"] == ["head.few_shot_head=kmeans", "augment_mirror=true"]
    shown = _show_config(cli, *argv)["training"]
    assert shown["augment_mirror"] is True and shown["head"]["few_shot_head"] == "kmeans"
    embedder = [o for o in spec["options"] if o["name"].startswith("embedder.")]
    assert {o["name"] for o in embedder} >= {"embedder.prompt", "embedder.resized_height", "embedder.batch_size"}
    qwen = _show_config(cli, "train", "classifier", "--embedder", "qwen")["embedder (qwen, --embedder-set)"]
    for opt in embedder:
        assert opt["default"] is None and re.match(r"(qwen|qwen/hf) only:", opt["help"]), opt["name"]
        assert opt["suggested"] == qwen[opt["set_key"]] and opt["placeholder"], opt["name"]
    empty = {o["name"]: "" for o in embedder}
    assert build_argv(spec, {"project": "/p", "embedder": "appearance", **empty}, out) == \
        ["train", "classifier", "/p", "--embedder", "appearance", "--out", str(out)]
    argv = build_argv(spec, {"project": "/p", "embedder": "qwen", "embedder.prompt": "Answer: one word"}, out)
    assert argv[argv.index("--embedder-set") + 1] == 'prompt="Answer: one word"'
    shown = _show_config(cli, *argv, "--model-path", str(tmp_path))["embedder (qwen, --embedder-set)"]
    assert shown["prompt"] == "Answer: one word"


def test_no_option_that_acts_on_an_earlier_output_folder():
    """The app gives every job a new folder: resume/restart/overwrite would do nothing (or, unticked,
    send --no-resume)."""
    for name in APPS:
        names = {o["name"] for o in app_spec(name)["options"]}
        assert not names & {"resume", "no_resume", "restart", "overwrite"}, name


def test_serve_app_uses_the_commands_port():
    """The serve app's port is the CLI's default, the one the image's healthcheck probes (8001/8002)."""
    import json

    from mouseact.apps.server import APPS_DIR, command_parser

    port = next(a.default for a in command_parser(["serve", "inference"])._actions if a.dest == "port")
    config = json.loads((APPS_DIR / "serve" / "config.json").read_text())
    assert port == 8002 and config["port"] == port
    assert config["entrypoint"].split("--port")[1].split()[0] == str(port)
    assert next(o for o in app_spec("serve")["options"] if o["name"] == "port")["default"] == port


def test_postprocess_pred_is_required(tmp_path):
    """``"required": true`` in config.json: the form marks the field and refuses it empty (not the
    command's "needs --pred RUN and --out NEW", naming an option the user never sees)."""
    spec = app_spec("postprocess")
    pred = next(o for o in spec["options"] if o["name"] == "pred")
    assert pred["required"] and pred["widget"] == "path"
    for empty in ({}, {"pred": "  "}):
        with pytest.raises(MouseActError, match="^'pred' is required$"):
            build_argv(spec, empty, tmp_path)
    assert build_argv(spec, {"pred": "/runs/a"}, tmp_path) == ["postprocess", "--pred", "/runs/a", "--out", str(tmp_path)]


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


def test_form_values_cannot_become_options_or_go_astray(tmp_path):
    """A value the command line would read as an option is refused (the job would otherwise run
    `infer --show-config` and report done); a field the app does not have is an error, not dropped."""
    spec = app_spec("inference")
    field = next(o["name"] for o in spec["options"] if o["flag"] is None)  # the positional input
    with pytest.raises(MouseActError, match="must not start with '-'"):
        build_argv(spec, {field: "--show-config"}, tmp_path)
    assert build_argv(spec, {field: "./-odd-name.mp4"}, tmp_path)[1] == "./-odd-name.mp4"
    with pytest.raises(MouseActError, match="unknown field"):
        build_argv(spec, {field: "v.mp4", "treshold": "0.5"}, tmp_path)


def test_app_command_refuses_a_bad_workdir_and_port(cli, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = cli("app", "inference", "--workdir", str(afile))
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr and "Traceback" not in r.stderr
    r = cli("app", "inference", "--port", "99999")
    assert r.returncode == 2 and "is not a TCP port (1-65535)" in r.stderr


def test_app_http_errors_are_one_line(tmp_path):
    """Broken JSON, an upload without a file and a list for a one-value field: 400 with one line, no job."""
    from mouseact.apps.server import create_app

    app = create_app("inference", tmp_path / "work")
    with ServerThread(app) as srv:
        status, parsed, _ = request("POST", f"{srv.url}/api/run", raw=b"{not json", content_type="application/json")
        assert status == 400 and "\n" not in parsed["error"], parsed
        status, parsed, _ = request("POST", f"{srv.url}/api/upload", raw=b"--x--\r\n",
                                    content_type="multipart/form-data; boundary=x")
        assert status == 400 and "error" in parsed, parsed
        field = next(o["name"] for o in app_spec("inference")["options"] if o["flag"] is None)
        status, parsed, _ = request("POST", f"{srv.url}/api/run", {"values": {field: ["a.mp4", "x"]}})
        assert status == 400 and "takes one value" in parsed["error"], parsed
