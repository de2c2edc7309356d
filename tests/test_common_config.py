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


class Ranges(Config):
    gap_s: float = 0.5                      # no bounds: nan/inf used to pass
    rate: float = Field(1.0, gt=0)          # a lower bound: inf used to pass
    windows_s: tuple[float, ...] = (1.0,)
    per_class: dict[str, dict[str, float]] = {}
    cut: float | None = None
    limit: float = Field(1.0, allow_inf_nan=True)  # a field where inf means "no limit" opts in
    smooth: Smooth = Smooth()


@pytest.mark.parametrize("override", ["gap_s=nan", "gap_s=.nan", "gap_s=inf", "gap_s=-.inf", "gap_s=1e400",
                                      "rate=inf", "windows_s=[1, nan]", "per_class={a: {t: .inf}}",
                                      "cut=nan"])
def test_non_finite_floats_are_refused(override, tmp_path):
    key = override.split("=")[0]
    with pytest.raises(MouseActError, match=f"config Ranges: {key}.*finite number") as err:
        load(Ranges, overrides=[override])
    assert "\n" not in str(err.value)
    y = tmp_path / "c.yaml"
    y.write_text(override.replace("=", ": ", 1) + "\n")
    with pytest.raises(MouseActError, match="finite number") as err:
        load(Ranges, y)
    assert str(err.value).startswith(f"{y}: ")


def test_a_field_may_allow_inf_and_finite_values_still_pass():
    assert load(Ranges, overrides=["limit=.inf"]).limit == float("inf")
    cfg = load(Ranges, overrides=["gap_s=0", "rate=1e-3", "windows_s=[0.5, 2]", "per_class={a: {t: 0.7}}"])
    assert (cfg.gap_s, cfg.rate, cfg.windows_s, cfg.per_class) == (0.0, 0.001, (0.5, 2.0), {"a": {"t": 0.7}})


def test_real_stage_configs_refuse_nan_and_inf():
    from mouseact.localizer.proposals import ProposalConfig
    from mouseact.postprocess import PostprocessConfig

    for model, override in ((ProposalConfig, "max_gap_s=nan"), (ProposalConfig, "min_duration_s=inf"),
                            (PostprocessConfig, "smooth_s=inf"),
                            (PostprocessConfig, "per_class={groom: {threshold: nan}}")):
        with pytest.raises(MouseActError, match="finite number"):
            load(model, overrides=[override])


def test_config_files_that_are_not_utf8_text_or_not_readable(tmp_path, monkeypatch):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    with pytest.raises(MouseActError, match=r"not a UTF-8 text file \(byte 0x89 at offset 0\)") as err:
        load(StageConfig, binary)
    assert str(err.value).startswith(f"{binary}: ") and "\n" not in str(err.value)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("classes: [Größe]\n".encode("latin-1"))
    with pytest.raises(MouseActError, match="not a UTF-8 text file"):
        load(StageConfig, latin1)
    # what Windows editors write is fine: UTF-8 with a BOM, UTF-16 with a BOM
    for encoding in ("utf-8-sig", "utf-16"):
        y = tmp_path / f"{encoding}.yaml"
        y.write_bytes("classes: [Größe]\nthreshold: 0.7\n".encode(encoding))
        cfg = load(StageConfig, y)
        assert (cfg.classes, cfg.threshold) == (["Größe"], 0.7), encoding
    with pytest.raises(MouseActError, match="is a folder, not a YAML file"):
        load(StageConfig, tmp_path)
    from pathlib import Path

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # as root chmod 000 would not stop us reading
    with pytest.raises(MouseActError, match="cannot read config file: Permission denied") as err:
        load(StageConfig, binary)
    assert str(err.value).startswith(f"{binary}: ")


def test_odd_overrides_are_one_line_errors():
    with pytest.raises(MouseActError, match="not valid YAML"):
        load(StageConfig, overrides=["classes=[a, b"])
    with pytest.raises(MouseActError, match="smooth is a single value"):
        load(StageConfig, overrides=["smooth=3", "smooth.window=5"])
    with pytest.raises(MouseActError, match="config StageConfig: 1: Keys should be strings"):
        load(StageConfig, base={1: 2})


def test_binary_that_starts_like_utf16_is_not_taken_for_text(tmp_path):
    y = tmp_path / "binary.yaml"
    y.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(MouseActError, match=r"not a UTF-8 text file \(byte 0xff at offset 0\)"):
        load(StageConfig, y)


def test_unknown_keys_get_a_hint(tmp_path):
    """A key under the wrong section or misspelt names what was probably meant."""
    from mouseact.inference.pipeline import PipelineConfig
    from mouseact.postprocess import PostprocessConfig

    with pytest.raises(MouseActError, match=r"min_duration_s: Extra inputs .*did you mean postprocess\.min_duration_s\?"):
        load(PipelineConfig, overrides=["min_duration_s=1"])
    with pytest.raises(MouseActError, match=r"did you mean postprocess\.threshold\?\)$"):
        load(PipelineConfig, overrides=["postprocess.treshold=0.5"])
    with pytest.raises(MouseActError, match=r"no 'postprocess\.' prefix: drop it"):
        load(PostprocessConfig, overrides=["postprocess.min_duration_s=1"])
    with pytest.raises(MouseActError, match=r"bogus: Extra inputs are not permitted$"):
        load(PipelineConfig, overrides=["bogus=1"])
