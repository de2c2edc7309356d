"""One offline web server for every platform app: ``mouseact app <name>``.

Supervisely's own ``sly.Application`` page loads its widget bundle from the platform and a public
CDN, so offline a browser shows only a spinner. This server instead serves the small static
widget kit in ``apps/ui/`` (plain HTML/JS/CSS, no CDN, no build step) which renders the app's form
from its ``config.json``.

How an app is described (``apps/<name>/config.json``, beside the Supervisely keys)::

    "mouseact_ui": {
        "command": ["infer"],                    # the mouseact sub-command the app runs
        "options": ["inputs", "dense", {"name": "model", "label": "Model bundle"}],
        "results": {"images": ["ethograms/*.png"], "tables": ["summary.csv"]}
    }

Options name the sub-command's argparse destinations: type, default, choices and help text are
taken from the CLI parser itself, so the form and ``mouseact <command> --help`` always agree; a
dict may override ``label``, ``widget``, ``default``, ``help``, ``placeholder``. Without
``options`` every option of the command is shown. An ``--out`` directory is filled in by the
server (one per job) so results can be shown.

The Supervisely-style ``"options": {key: {...}}`` dict also takes config keys (``--set key=value``).
A field left at its shown default sends nothing; a field whose default is ``null`` is empty and
sends whatever is typed (use this for every setting a chosen model bundle or run may override,
with a ``placeholder`` such as ``"default bundle: 0.3"`` and the same value as ``suggested``).
``"required": true`` makes the form refuse an empty field; ``"type": "bool"`` with a ``null``
default is a (default) / true / false choice; a list default (or ``"list": true``) is a
comma-separated text field sent as a YAML list (``[0.33, 1, 3]``).

Pressing Run POSTs the form; the server builds the exact command line and runs
``python -m mouseact ...`` in a background job (the same library code as the CLI), streaming its
log lines and progress bars back through a poll endpoint; when it finishes, the result view
lists tables (CSV), images (ethograms, contact sheets) and every output file.
"""


import argparse
import csv
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mouseact.errors import MouseActError

APPS_DIR = Path(__file__).resolve().parent
UI_DIR = APPS_DIR / "ui"
UI_KEY = "mouseact_ui"

# Used when an app's config.json has no "mouseact_ui" section yet.
DEFAULT_COMMANDS = {
    "detect_crop": ["detect"],
    "preprocess_data": ["preprocess"],
    "train_localizer": ["train", "localizer"],
    "train_classifier": ["train", "classifier"],
    "inference": ["infer"],
    "serve": ["serve", "inference"],
}
DEFAULT_RESULTS = {"tables": ["summary.csv", "*/summary.csv", "intervals.csv", "*.csv"], "images": ["**/*.png", "**/*.jpg"],
                   "texts": ["report.md", "*/report.md"]}
MAX_TEXT_BYTES = 20_000
HIDDEN_DESTS = {"help", "version", "func", "command"}
PATH_METAVARS = {"PATH", "DIR", "FILE", "VIDEO", "PROJECT", "YAML", "CSV", "INPUT", "INPUTS", "MODEL"}
OUT_DESTS = {"out", "out_dir", "output"}
DIR_DESTS = {"model", "model_dir", "out", "out_dir", "workdir"}
PATH_DESTS = {"model", "model_dir", "model_path", "detector_model", "input", "inputs", "video", "project", "config"}
OPTION_ALIASES = {"model_dir": "model", "output": "out", "out_dir": "out", "input_dir": "input"}
MAX_IMAGES, MAX_TABLES, MAX_TABLE_ROWS, MAX_FILES = 12, 2, 40, 300
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# -- apps and their specs --------------------------------------------------------------------
def list_apps() -> list[str]:
    return sorted(p.parent.name for p in APPS_DIR.glob("*/config.json") if p.parent.name != "ui")


def load_config(name: str) -> dict:
    path = APPS_DIR / name / "config.json"
    if not path.is_file():
        raise MouseActError(f"no app named {name!r} (apps: {', '.join(list_apps()) or 'none'})", APPS_DIR)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MouseActError(f"config.json is not valid JSON: {exc}", path) from None


def command_parser(command: list[str]) -> argparse.ArgumentParser:
    """The argparse parser of ``mouseact COMMAND...`` (built by the real CLI)."""
    from mouseact.cli import build_parser

    parser = build_parser()
    for word in command:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or word not in sub.choices:
            raise MouseActError(f"mouseact has no command {' '.join(command)!r} in this build")
        parser = sub.choices[word]
    return parser


def _widget_for(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                           argparse.BooleanOptionalAction)):
        return "checkbox"
    if action.choices:
        return "select"
    if isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*") or \
            isinstance(action.nargs, int) and action.nargs > 1:
        return "lines"
    if action.type in (int, float):
        return "number"
    metavar = str(action.metavar or "").upper()
    if action.dest in OUT_DESTS:
        return "outdir"
    if metavar in PATH_METAVARS or not action.option_strings or action.dest in PATH_DESTS:
        return "path"
    return "text"


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


def option_from_action(action: argparse.Action) -> dict:
    widget = _widget_for(action)
    default = action.default
    if default is argparse.SUPPRESS:
        default = None
    if isinstance(action, argparse._StoreFalseAction):
        default = True  # shown as "on"; unchecking passes the flag
    help_text = (action.help or "") if action.help is not argparse.SUPPRESS else ""
    if "%(default)" in help_text:
        help_text = help_text.replace("%(default)s", str(action.default))
    return {
        "name": action.dest,
        "flag": action.option_strings[-1] if action.option_strings else None,
        "flags": list(action.option_strings),
        "label": action.dest.replace("_", " "),
        "widget": widget,
        "default": _jsonable(default),
        "choices": [str(c) for c in action.choices] if action.choices else None,
        "help": " ".join(help_text.split()),
        # a positional is required in the form even when argparse lets it be omitted (e.g. for --list)
        "required": bool(action.required) or not action.option_strings,
        "multiple": widget == "lines",
        "number_type": "int" if action.type is int else "float" if action.type is float else None,
        "store": type(action).__name__,
        # a file can be uploaded from the browser; a folder (DIR, model bundles) cannot
        "upload": widget == "path" and str(action.metavar or "").upper() != "DIR" and action.dest not in DIR_DESTS,
    }


def _config_field(key: str, meta: dict) -> dict:
    """A pipeline/stage config key (passed as ``--set key=value``) as a form field.

    ``value_type`` tells :func:`build_argv` how to write the typed text as a YAML value:
    ``list`` (comma-separated → ``[a, b]``), ``bool``, ``number`` or ``str`` (quoted when YAML would
    read it as something else)."""
    default = meta.get("default")
    choices = meta.get("choices")
    is_list = bool(meta.get("list")) or isinstance(default, (list, tuple))
    is_bool = meta.get("type") == "bool" or isinstance(default, bool)
    if is_bool and default is None:
        # a boolean that a model/run may override: "(default)" sends nothing, true/false are explicit
        widget, choices = "select", choices or ["true", "false"]
    elif meta.get("widget"):  # e.g. an empty number field (default null) that means "keep what the run used"
        widget = meta["widget"]
    elif choices:
        widget = "select"
    elif isinstance(default, bool):
        widget = "checkbox"
    elif is_list:
        widget = "text"
    elif isinstance(default, (int, float)) or meta.get("number_type"):
        widget = "number"
    else:
        widget = "text"
    number_type = meta.get("number_type") or (
        "int" if isinstance(default, int) and not isinstance(default, bool) else "float")
    value_type = ("list" if is_list else "bool" if is_bool else "number" if widget == "number"
                  else "str" if widget == "text" else None)
    placeholder = meta.get("placeholder")
    if placeholder is None and is_list:
        placeholder = "comma-separated list"
    return {"name": key, "flag": "--set", "flags": ["--set"], "label": key.replace("_", " "), "widget": widget,
            "default": _jsonable(default), "choices": [str(c) for c in choices] if choices else None,
            "help": meta.get("help", ""), "required": False, "multiple": False, "number_type": number_type,
            "placeholder": placeholder, "store": "config", "value_type": value_type}


def _options_from_dict(options: dict, actions: dict, config_path: Path, command: list[str]) -> list[dict]:
    """The Supervisely-style ``"options": {key: {"default", "help", "choices"}}`` of an app config.

    A key is a command-line option (``dense``; ``model_dir`` → ``--model``; ``resume`` → an
    inverted ``--no-resume``) or else a config key the command takes through ``--set`` (or
    ``--PREFIX-set`` for ``PREFIX.key`` when the command has one, e.g. ``--embedder-set``).
    """
    out = []
    set_flags = {f for a in actions.values() for f in a.option_strings if f.endswith("-set")}
    for key, meta in options.items():
        meta = meta if isinstance(meta, dict) else {"default": meta}
        dest = OPTION_ALIASES.get(key, key)
        if dest in actions:
            opt = option_from_action(actions[dest])
            if meta.get("default") == "default":  # "the command's own default" (e.g. the embedded model)
                opt.update(default=None, placeholder="default")
            elif "default" in meta:
                opt["default"] = _jsonable(meta["default"])
        elif isinstance(actions.get(f"no_{key}"), argparse._StoreTrueAction):
            opt = {**option_from_action(actions[f"no_{key}"]), "store": "_StoreFalseAction",
                   "default": bool(meta.get("default", True))}
        elif "." in key and f"--{key.split('.', 1)[0]}-set" in set_flags:
            # e.g. "embedder.n_frames" for a command with --embedder-set KEY=VALUE
            prefix, rest = key.split(".", 1)
            opt = {**_config_field(key, meta), "flag": f"--{prefix}-set", "flags": [f"--{prefix}-set"],
                   "set_key": rest}
        elif "overrides" in actions:  # the command's --set KEY=VALUE
            opt = _config_field(key, meta)
        else:
            raise MouseActError(f"option {key!r} is neither an option of 'mouseact {' '.join(command)}' "
                                "nor a --set config key", config_path)
        opt.update(name=key, label=meta.get("label", key.replace("_", " ")))
        if meta.get("help"):
            opt["help"] = " ".join(str(meta["help"]).split())
        if meta.get("choices") and opt["widget"] != "checkbox":
            opt.update(widget="select", choices=[str(c) for c in meta["choices"]])
        if meta.get("placeholder") is not None:
            opt["placeholder"] = str(meta["placeholder"])
        if meta.get("required"):  # refused when empty, in the page and by build_argv
            opt["required"] = True
        if "suggested" in meta:  # the value an empty field stands for (the default bundle's, qwen's, ...)
            opt["suggested"] = _jsonable(meta["suggested"])
        out.append(opt)
    return out


def app_spec(name: str) -> dict:
    """Everything the front end needs to draw the app: title, description, form options, results.

    Form fields come from (first that exists) ``mouseact_ui.options`` (list of argparse names or
    dicts), the Supervisely-style ``options`` dict, or every option of the command. The command's
    positional arguments and its output directory are always part of the form.
    """
    config_path = APPS_DIR / name / "config.json"
    config = load_config(name)
    ui = dict(config.get(UI_KEY) or {})
    command = ui.get("command") or _command_from_template(config.get("mouseact_command")) \
        or DEFAULT_COMMANDS.get(name)
    if not command:
        raise MouseActError(f"app {name!r}: config.json has no {UI_KEY}.command", config_path)
    command = command.split() if isinstance(command, str) else list(command)
    parser = command_parser(command)
    actions = {a.dest: a for a in parser._actions
               if a.dest not in HIDDEN_DESTS and not isinstance(a, (argparse._HelpAction, argparse._VersionAction,
                                                                     argparse._SubParsersAction))}
    positionals = [option_from_action(a) for a in actions.values() if not a.option_strings]
    if ui.get("options"):
        options = []
        for item in ui["options"]:
            override = {"name": item} if isinstance(item, str) else dict(item)
            action = actions.get(override["name"])
            if action is None:
                raise MouseActError(f"app {name!r}: option {override['name']!r} is not an option of "
                                    f"'mouseact {' '.join(command)}'", config_path)
            options.append({**option_from_action(action), **override})
    elif isinstance(config.get("options"), dict) and config["options"]:
        options = _options_from_dict(config["options"], actions, config_path, command)
    else:
        options = [option_from_action(a) for a in actions.values() if a.option_strings]
    names = {o["name"] for o in options}
    options = [p for p in positionals if p["name"] not in names] + options
    # the output directory is always the job's own (results are shown from it)
    if not any(o["widget"] == "outdir" for o in options):
        out = next((a for d, a in actions.items() if d in OUT_DESTS), None)
        if out is not None:
            options.append({**option_from_action(out), "widget": "outdir"})
    for o in options:
        if o["name"] in OUT_DESTS or o["name"] == OPTION_ALIASES.get("out_dir"):
            o["widget"] = "outdir"
        if o["widget"] == "outdir":
            o["help"] = ""  # the CLI's ("re-use it to resume", "must be new") is not about the job's own folder
    return {
        "app": name,
        "title": config.get("name", name),
        "description": config.get("description", ""),
        "command": command,
        "usage": parser.format_usage().strip(),
        "options": options,
        "results": {**DEFAULT_RESULTS, **(ui.get("results") or {})},
    }


def _command_from_template(template: str | None) -> list[str] | None:
    """``"mouseact infer {input} --out {output}"`` → ``["infer"]`` (the sub-command words)."""
    if not template or not isinstance(template, str):
        return None
    words = template.split()
    if words and words[0] == "mouseact":
        words = words[1:]
    command = []
    for w in words:
        if w.startswith(("-", "{")):
            break
        command.append(w)
    return command or None


# -- form values → command line ----------------------------------------------------------------
def build_argv(spec: dict, values: dict, out_dir: Path) -> list[str]:
    """The exact ``mouseact`` argument list for the submitted form (errors name the field)."""
    positionals: list[str] = []
    flags: list[str] = []
    unknown = sorted(set(values) - {o["name"] for o in spec["options"]})
    if unknown:  # a form from another version of the app, or a typo in a scripted request
        raise MouseActError(f"unknown field(s) {', '.join(unknown)} for app {spec['app']!r}")
    for opt in spec["options"]:
        raw = values.get(opt["name"], opt.get("default"))
        label = opt.get("label") or opt["name"]
        if opt["widget"] == "outdir":
            args = [str(out_dir)]
        elif opt["widget"] == "checkbox":
            on = _truthy(raw)
            if opt["store"] == "config":
                if on != _truthy(opt.get("default")):
                    flags += [opt["flag"], f"{opt.get('set_key', opt['name'])}={'true' if on else 'false'}"]
                continue
            if opt["store"] == "_StoreTrueAction":
                args = [] if not on else None
            elif opt["store"] == "_StoreFalseAction":
                args = [] if on else None  # flag passed when unticked
            else:  # BooleanOptionalAction: --x / --no-x
                if raw is None:
                    continue
                flags.append(opt["flags"][0] if on else next(f for f in opt["flags"] if f.startswith("--no-")))
                continue
            if args is None:
                flags.append(opt["flag"])
            continue
        elif opt["store"] == "config" and opt.get("value_type") == "list":
            text = ", ".join(map(str, raw)) if isinstance(raw, (list, tuple)) else str(raw or "")
            if not text.strip():
                if opt.get("required"):
                    raise MouseActError(f"'{label}' is required")
                continue
            items = _parse_list(text, label)
            if opt.get("default") is not None and _same_list(items, opt["default"]):
                continue  # unchanged (as shown, "0.33, 1, 3" for [0.33, 1.0, 3.0]): the command's default
            flags += [opt["flag"], f"{opt.get('set_key', opt['name'])}={_yaml_flow(items)}"]
            continue
        elif opt["multiple"]:
            items = raw if isinstance(raw, list) else str(raw or "").splitlines()
            args = [str(x).strip() for x in items if str(x).strip()]
        else:
            if isinstance(raw, (list, dict)):  # a scripted request: one field, one value
                raise MouseActError(f"'{label}' takes one value, got {type(raw).__name__} {raw!r}"[:200])
            text = "" if raw is None else str(raw).strip()
            args = [text] if text else []
        if args and not opt.get("required") and _same(args, opt.get("default")):
            continue  # left at its default: let the command (and the model bundle) decide
        if not args:
            if opt.get("required"):
                raise MouseActError(f"'{label}' is required")
            continue
        if opt["widget"] == "number":
            for a in args:
                try:
                    float(a)
                except ValueError:
                    raise MouseActError(f"'{label}' must be a number, got {a!r}") from None
        if opt.get("choices") and any(a not in opt["choices"] for a in args):
            raise MouseActError(f"'{label}' must be one of {', '.join(opt['choices'])}")
        if opt["store"] != "config" and opt["widget"] != "number":
            # a value the command line would read as an option ("--show-config" typed as the input)
            bad = next((a for a in args if a.startswith("-")), None)
            if bad is not None:
                raise MouseActError(f"'{label}' must not start with '-', got {bad!r} (for a file named so, "
                                    "write ./ before it)")
        if opt["store"] == "config":
            value = _yaml_str(args[0]) if opt.get("value_type") == "str" else args[0]
            flags += [opt["flag"], f"{opt.get('set_key', opt['name'])}={value}"]
        elif opt["flag"] is None:
            positionals += args
        elif opt["store"] == "_AppendAction":
            for a in args:
                flags += [opt["flag"], a]
        else:
            flags += [opt["flag"], *args]
    return [*spec["command"], *positionals, *flags]


def _same(args: list[str], default: Any) -> bool:
    """Whether submitted values equal the option's default (numbers compared as numbers)."""
    if default is None:
        return False
    defaults = default if isinstance(default, list) else [default]
    if len(defaults) != len(args):
        return False
    for a, d in zip(args, defaults):
        if isinstance(d, (int, float)) and not isinstance(d, bool):
            try:
                if float(a) != float(d):
                    return False
            except ValueError:
                return False
        elif str(a) != str(d):
            return False
    return True


def _parse_list(text: str, label: str) -> list:
    """A list as a person types it: ``0.33, 1, 3``, ``[0.33, 1, 3]`` or ``itch`` (numbers stay numbers)."""
    text = text.strip()
    if text.startswith("[") != text.endswith("]"):
        raise MouseActError(f"'{label}' must be a comma-separated list, e.g. a, b (got {text!r})")
    if text.startswith("["):
        text = text[1:-1]
    items = []
    for part in text.split(","):
        part = part.strip()
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
            items.append(part[1:-1])
            continue
        if not part:
            continue
        for kind in (int, float):
            try:
                items.append(kind(part))
                break
            except ValueError:
                pass
        else:
            items.append(part)
    return items


def _same_list(items: list, default: Any) -> bool:
    """Whether parsed list items equal a list default (numbers compared as numbers: 1 == 1.0)."""
    defaults = list(default) if isinstance(default, (list, tuple)) else [default]
    if len(items) != len(defaults):
        return False
    for a, d in zip(items, defaults):
        if isinstance(d, (int, float)) and not isinstance(d, bool) and isinstance(a, (int, float)):
            if float(a) != float(d):
                return False
        elif str(a) != str(d):
            return False
    return True


def _yaml_flow(items: list) -> str:
    """A list as one-line YAML: ``[0.33, 1, 3]``, ``[itch]`` (strings YAML would misread are quoted)."""
    import yaml

    return yaml.safe_dump(items, default_flow_style=True, width=1 << 20).strip()


def _yaml_str(text: str) -> str:
    """A string config value as YAML that reads back as exactly that string (``--set`` parses YAML):
    plain when it already does (``^(mouse\\d+)_``), else double-quoted (``[a-z]+``, ``Answer: one``,
    ``true``)."""
    import json

    import yaml

    try:
        if yaml.safe_load(text) == text:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text, ensure_ascii=False)


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "on", "yes")
    return bool(v)


# -- results -------------------------------------------------------------------------------------
def collect_results(out_dir: Path, results_spec: dict) -> dict:
    """Tables, images and the file list of a finished job (paths relative to ``out_dir``)."""
    if not out_dir.is_dir():
        return {"tables": [], "images": [], "texts": [], "files": [], "n_files": 0}
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(out_dir).parts))

    def matches(patterns: list[str]) -> list[Path]:
        seen: list[Path] = []
        for pat in patterns:
            for p in sorted(out_dir.glob(pat)):
                if p.is_file() and p not in seen and p in files:
                    seen.append(p)
        return seen

    tables = []
    for p in matches(results_spec.get("tables", []))[:MAX_TABLES]:
        header, rows, total = read_csv_preview(p)
        tables.append({"path": str(p.relative_to(out_dir)), "header": header, "rows": rows, "total_rows": total})
    images = [str(p.relative_to(out_dir)) for p in matches(results_spec.get("images", []))[:MAX_IMAGES]]
    texts = [{"path": str(p.relative_to(out_dir)),
              "text": p.read_bytes()[:MAX_TEXT_BYTES].decode("utf-8", "replace")}
             for p in matches(results_spec.get("texts", []))[:MAX_TABLES]]
    return {"tables": tables, "images": images, "texts": texts,
            "files": [{"path": str(p.relative_to(out_dir)), "bytes": p.stat().st_size} for p in files[:MAX_FILES]],
            "n_files": len(files)}


def read_csv_preview(path: Path, max_rows: int = MAX_TABLE_ROWS) -> tuple[list[str], list[list[str]], int]:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows, total = [], 0
        for row in reader:
            total += 1
            if len(rows) < max_rows:
                rows.append(row)
    return header, rows, total


# -- the web app -----------------------------------------------------------------------------------
def create_app(name: str, workdir: str | Path | None = None):
    from fastapi import FastAPI, File, UploadFile
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

    from mouseact.serve.jobs import DONE, CommandFailed, Job, JobRunner, run_mouseact

    spec = app_spec(name)  # fails now (clear error) rather than in the browser
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"mouseact-app-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    runner = JobRunner()
    app = FastAPI(title=f"MouseAct app: {spec['title']}", docs_url=None, redoc_url=None)

    from fastapi.exceptions import RequestValidationError

    from mouseact.serve.common import error_response, validation_message

    @app.exception_handler(RequestValidationError)
    async def one_line_validation_error(request, exc: RequestValidationError):  # as the services answer
        return error_response(400, f"{request.method} {request.url.path}: " + validation_message(exc.errors()))
    app.state.runner, app.state.workdir, app.state.spec = runner, work, spec
    dirs: dict[str, Path] = {}  # job id -> its folder (outputs under <folder>/out)

    def err(status: int, message: str):
        return JSONResponse(status_code=status, content={"error": " ".join(str(message).split())})

    @app.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse((UI_DIR / "index.html").read_text(encoding="utf-8"))

    @app.get("/ui/{asset}")
    def ui_asset(asset: str):
        target = (UI_DIR / asset).resolve()
        if target.parent != UI_DIR.resolve() or not target.is_file():
            return err(404, f"no asset {asset}")
        return FileResponse(target)

    @app.get("/api/health")
    def health():
        return {"status": "ok", "app": name}

    @app.get("/api/app")
    def get_spec():
        return spec

    @app.post("/api/run")
    def run(payload: dict):
        values = payload.get("values") or {}
        if not isinstance(values, dict):
            return err(400, "values must be an object of option name -> value")
        job_id_dir = Path(tempfile.mkdtemp(prefix="job-", dir=work))
        out_dir = job_id_dir / "out"
        try:
            argv = build_argv(spec, values, out_dir)
        except MouseActError as exc:
            shutil.rmtree(job_id_dir, ignore_errors=True)
            return err(400, str(exc))

        def work_fn(job: Job) -> dict:
            try:
                run_mouseact(job, argv)  # the server's cwd: relative paths mean what the user expects
            except CommandFailed as exc:
                from mouseact.errors import MouseActError as _E

                raise _E(str(exc)) from None  # one line in the UI, no traceback
            return {"argv": argv, "out_dir": str(out_dir), **collect_results(out_dir, spec["results"])}

        job = runner.submit(name, {"argv": argv}, work_fn)
        dirs[job.id] = job_id_dir
        return JSONResponse(status_code=202, content={"job_id": job.id, "argv": argv})

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str, since: int = 0):
        job = runner.get(job_id)
        if job is None:
            return err(404, f"no job {job_id}")
        return job.snapshot(since)

    @app.post("/api/jobs/{job_id}/cancel")
    def job_cancel(job_id: str):
        job = runner.cancel(job_id)
        if job is None:
            return err(404, f"no job {job_id}")
        return {"job_id": job.id, "status": job.status}

    @app.get("/api/jobs/{job_id}/files/{rel:path}")
    def job_file(job_id: str, rel: str):
        job = runner.get(job_id)
        if job is None or job.status != DONE or job_id not in dirs:
            return err(404, f"no finished job {job_id}")
        base = (dirs[job_id] / "out").resolve()
        target = (base / rel).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return err(404, f"no file {rel}")
        return FileResponse(target)

    @app.post("/api/upload")
    def upload(file: UploadFile = File(...)):
        safe = _SAFE_NAME.sub("_", Path(file.filename or "upload").name).lstrip(".") or "upload"
        dest_dir = Path(tempfile.mkdtemp(prefix="upload-", dir=work))
        dest = dest_dir / safe
        with open(dest, "wb") as f:
            shutil.copyfileobj(file.file, f, length=1 << 20)
        return {"path": str(dest), "bytes": dest.stat().st_size}

    return app
