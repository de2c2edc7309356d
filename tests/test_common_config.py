"""mouseact.config: defaults <- base <- YAML <- --set overrides; unknown keys are errors."""

from __future__ import annotations

import pytest
from pydantic import Field

from mouseact.config import Config, add_config_args, load
from mouseact.errors import MouseActError


class Smooth(Config):
    window: int = 5
    method: str = "median"


class StageConfig(Config):
    threshold: float = Field(0.5, description="actionness cut")
    min_frames: int = 3
    classes: list[str] = ["a"]
    smooth: Smooth = Smooth()


def test_defaults_yaml_and_overrides(tmp_path):
    assert load(StageConfig) == StageConfig()
    y = tmp_path / "c.yaml"
    y.write_text("threshold: 0.7\nsmooth:\n  window: 9\n")
    cfg = load(StageConfig, y, ["min_frames=10", "classes=[x, y]", "smooth.method=mean"])
    assert (cfg.threshold, cfg.min_frames, cfg.classes) == (0.7, 10, ["x", "y"])
    assert cfg.smooth == Smooth(window=9, method="mean")
    # the override wins over the file
    assert load(StageConfig, y, ["threshold=1e-3"]).threshold == 0.001


def test_yaml_merges_into_base_nested_values(tmp_path):
    base = {"smooth": {"window": 21, "method": "mean"}, "threshold": 0.2}
    y = tmp_path / "c.yaml"
    y.write_text("smooth:\n  window: 3\n")
    cfg = load(StageConfig, y, base=base)
    assert cfg.smooth == Smooth(window=3, method="mean")  # method kept from the base
    assert cfg.threshold == 0.2
    assert base["smooth"]["window"] == 21  # the caller's dict is not modified


def test_unknown_keys_and_bad_values(tmp_path):
    y = tmp_path / "typo.yaml"
    y.write_text("treshold: 0.7\n")
    with pytest.raises(MouseActError, match="treshold") as err:
        load(StageConfig, y)
    assert str(err.value).startswith(str(y))
    with pytest.raises(MouseActError, match="smooth.windw"):
        load(StageConfig, overrides=["smooth.windw=3"])
    with pytest.raises(MouseActError, match="min_frames"):
        load(StageConfig, overrides=["min_frames=many"])
    with pytest.raises(MouseActError, match="key=value"):
        load(StageConfig, overrides=["min_frames"])


def test_bad_files(tmp_path):
    with pytest.raises(MouseActError, match="not found"):
        load(StageConfig, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("threshold: [0.5\n")
    with pytest.raises(MouseActError, match="invalid YAML") as err:
        load(StageConfig, bad)
    assert "\n" not in str(err.value)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(MouseActError, match="mapping"):
        load(StageConfig, listy)


def test_describe_and_cli_args():
    text = StageConfig.describe()
    assert "threshold = 0.5  actionness cut" in text and "min_frames = 3" in text
    import argparse

    parser = argparse.ArgumentParser()
    add_config_args(parser)
    args = parser.parse_args(["--config", "x.yaml", "--set", "a=1", "--set", "b=2"])
    assert args.config == "x.yaml" and args.overrides == ["a=1", "b=2"]


def _leaf_commands(parser, path=()):
    """(sub-command path, parser) of every runnable ``mouseact`` command."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaf_commands(sub, (*path, name))


def test_every_configurable_command_shows_its_config_without_other_arguments(capsys):
    """``--config``/``--set`` come with ``--show-config``, and it needs none of the command's required
    arguments (INPUT, --out, --pred ...): a user looks up the keys before having anything to run."""
    from mouseact.cli import build_parser, main

    configurable = [path for path, p in _leaf_commands(build_parser())
                    if any("--config" in a.option_strings for a in p._actions)]
    assert {("infer",), ("train", "classifier"), ("train", "localizer"), ("evaluate",)} <= set(configurable)
    for path in configurable:
        parser = dict(_leaf_commands(build_parser()))[path]
        assert any("--show-config" in a.option_strings for a in parser._actions), path
        assert main([*path, "--show-config"]) == 0, path
        out = capsys.readouterr().out
        assert len(out.splitlines()) >= 3, (path, out)
