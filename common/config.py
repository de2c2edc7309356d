"""Configs: one pydantic model of defaults per stage, overridable from YAML and the CLI.

    cfg = load(LocalizerConfig, yaml_path="my.yaml", overrides=["target_recall=0.9"])

Overrides are ``dotted.key=value`` with the value parsed as YAML (``1e-3``, ``true``, ``[1,2]``).
Unknown keys are an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mouseact.errors import MouseActError

T = TypeVar("T", bound=BaseModel)


class Config(BaseModel):
    """Base for stage configs: forbids unknown keys, describes itself for --help."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    @classmethod
    def describe(cls) -> str:
        lines = []
        for name, field in cls.model_fields.items():
            lines.append(f"  {name} = {field.default!r}  {field.description or ''}".rstrip())
        return "\n".join(lines)


def _set_dotted(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


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
        if not p.is_file():
            raise MouseActError("config file not found", p)
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise MouseActError(f"invalid YAML: {exc}", p) from None
        if not isinstance(loaded, dict):
            raise MouseActError("config must be a mapping of key: value", p)
        _deep_update(data, loaded)
    for item in overrides:
        if "=" not in item:
            raise MouseActError(f"override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        _set_dotted(data, key.strip(), yaml.safe_load(raw))
    try:
        return model(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        from_file = yaml_path if first["loc"] and first["loc"][0] in loaded else None
        raise MouseActError(f"config {model.__name__}: {loc}: {first['msg']}", from_file) from None


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
