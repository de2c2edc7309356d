"""Configs: one pydantic model of defaults per stage, overridable from YAML and the CLI.

    cfg = load(LocalizerConfig, yaml_path="my.yaml", overrides=["target_recall=0.9"])

Overrides are ``dotted.key=value`` with the value parsed as YAML (``1e-3``, ``true``, ``[1,2]``).
Unknown keys are an error (a typo must not silently fall back to a default). Float settings must be
finite: ``nan``/``inf`` (from YAML or ``--set``) are refused unless a field opts in with
``Field(..., allow_inf_nan=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mouseact.errors import MouseActError

T = TypeVar("T", bound=BaseModel)


class Config(BaseModel):
    """Base for stage configs: forbids unknown keys and non-finite floats, describes itself for --help.

    ``allow_inf_nan=False``: a threshold, duration or rate of ``nan`` passes no ``ge``/``le`` check
    meaningfully and ``inf`` passes every lower bound, then breaks the stage later (``int(inf)``,
    comparisons that are always false). A field where ``inf`` means something (no limit) says so
    with ``Field(..., allow_inf_nan=True)``.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    @classmethod
    def describe(cls) -> str:
        lines = []
        for name, field in cls.model_fields.items():
            lines.append(f"  {name} = {field.default!r}  {field.description or ''}".rstrip())
        return "\n".join(lines)


def _set_dotted(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    for i, p in enumerate(parts[:-1]):
        if d.get(p) is None:
            d[p] = {}
        elif not isinstance(d[p], dict):
            raise MouseActError(f"override {key}: {'.'.join(parts[:i + 1])} is a single value "
                                f"({d[p]!r}), not a group of settings")
        d = d[p]
    d[parts[-1]] = value


def _read_yaml_text(p: Path) -> str:
    """The text of a config file: UTF-8 (a BOM is fine) or UTF-16 with a BOM (Windows editors);
    anything else is one line naming the file, not a ``UnicodeDecodeError``."""
    if p.is_dir():
        raise MouseActError("config is a folder, not a YAML file", p)
    if not p.is_file():
        raise MouseActError("config file not found", p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise MouseActError(f"cannot read config file: {exc.strerror or exc}", p) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # `mouseact ... --show-config > my.yaml` in PowerShell
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            text = ""
        # config keys are ASCII: binary data that merely starts like a UTF-16 mark decodes to other scripts
        if text.strip() and sum(c < "\x80" for c in text) >= 0.5 * len(text):
            return text
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MouseActError(f"not a UTF-8 text file (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
                            "a config must be YAML text", p) from None


def _deep_update(dst: dict, src: dict) -> dict:
    """Merge ``src`` into ``dst`` key by key, so a YAML that sets one nested value keeps the
    base's other nested values (a plain ``dict.update`` would replace the whole sub-dict)."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            dst[k] = _deep_update(dict(dst[k]), v)
        else:
            dst[k] = v
    return dst


def load(model: type[T], yaml_path: str | Path | None = None, overrides: Sequence[str] = (),
         base: dict | None = None) -> T:
    """Defaults of ``model`` <- ``base`` <- YAML file <- ``key=value`` overrides (later wins)."""
    import copy

    data: dict = copy.deepcopy(dict(base or {}))
    loaded: dict = {}
    if yaml_path:
        p = Path(yaml_path)
        text = _read_yaml_text(p)
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise MouseActError(f"invalid YAML: {exc}", p) from None
        if not isinstance(loaded, dict):
            raise MouseActError("config must be a mapping of key: value", p)
        _deep_update(data, loaded)
    for item in overrides:
        if "=" not in item:
            raise MouseActError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise MouseActError(f"override {item!r}: the value is not valid YAML: {exc}") from None
        _set_dotted(data, key.strip(), value)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        from_file = yaml_path if first["loc"] and first["loc"][0] in loaded else None
        hint = _key_hint(model, loc, data) if first.get("type") == "extra_forbidden" else ""
        raise MouseActError(f"config {model.__name__}: {loc}: {first['msg']}{hint}", from_file) from None


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key of a config model, nested models included (``postprocess.min_duration_s``)."""
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += config_keys(sub, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _key_hint(model: type[BaseModel], key: str, data: dict) -> str:
    """' (did you mean ...?)' for a key that is not the model's: the same key under or without a
    section prefix (``min_duration_s`` for infer's ``postprocess.min_duration_s``), or a close spelling."""
    import difflib

    if "." not in key and isinstance(data.get(key), dict):  # e.g. postprocess.* given to `mouseact postprocess`
        return f" (this command's keys have no '{key}.' prefix: drop it)"
    known = config_keys(model)
    prefix, _, tail = key.rpartition(".")
    candidates = [k for k in known if k.split(".")[-1] == tail and k != key]
    same_section = {k.rpartition(".")[2]: k for k in known if k.rpartition(".")[0] == prefix}
    candidates += [same_section[m] for m in difflib.get_close_matches(tail, list(same_section), n=2, cutoff=0.75)
                   if same_section[m] not in candidates]
    return f" (did you mean {' or '.join(candidates[:3])}?)" if candidates else ""


def add_config_args(parser, set_example: str = "KEY=VALUE",
                    show_help: str = "print the effective config (defaults, then --config, then --set) and exit") -> None:
    """The three generic options every configurable command takes: ``--config``, ``--set``, ``--show-config``
    (the command handles ``args.show_config`` before doing any work)."""
    parser.add_argument("--config", metavar="YAML", help="YAML file of config values (see --show-config)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override one config value, e.g. --set {set_example} (repeatable)")
    parser.add_argument("--show-config", action="store_true", help=show_help)


def flat_settings(d, prefix: str = "") -> dict:
    """Nested settings as ``{"a.b": value}``."""
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(flat_settings(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
