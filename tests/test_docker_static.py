"""Static checks of the Docker deployment (no Docker engine on the build machine).

The compose file is parsed and interpolated the way docker compose does it (variables from the
``.env`` beside it, ``${VAR:-default}``), then checked for what the deployment promises: a
detector and an inference service, a healthcheck that gates inference, every ``.env`` variable
used, volume sources that exist relative to ``.env``, no route out at run time. The Dockerfiles
are parsed instruction by instruction.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "inference_script" / "docker-compose.yml"
GPU_COMPOSE = REPO / "inference_script" / "docker-compose.gpu.yml"
ENV_FILE = REPO / "inference_script" / ".env"
DOCKERFILES = {"cpu": REPO / "docker" / "Dockerfile.cpu", "cuda": REPO / "docker" / "Dockerfile.cuda"}
ENTRY = REPO / "docker" / "entrypoint.sh"

_VAR = re.compile(r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")


def read_env(path: Path) -> dict[str, str]:
    """docker compose's .env syntax: KEY=VALUE lines, # comments, optional quotes."""
    env = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f"{path}:{n}: not KEY=VALUE: {line!r}"
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def interpolate(obj, env: dict[str, str], used: set[str]):
    """Compose variable substitution over a parsed YAML tree (strings only, as compose does)."""
    if isinstance(obj, dict):
        return {k: interpolate(v, env, used) for k, v in obj.items()}
    if isinstance(obj, list):
        return [interpolate(v, env, used) for v in obj]
    if not isinstance(obj, str):
        return obj

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("braced") or m.group("bare")
        used.add(name)
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return arg
            return value
        if op in (":?", "?"):
            assert value not in (None, "") if op == ":?" else value is not None, f"${{{name}}} required: {arg}"
            return value
        assert value is not None, f"${{{name}}} is used in {COMPOSE.name} but not defined in .env and has no default"
        return value

    return _VAR.sub(sub, obj)


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return read_env(ENV_FILE)


@pytest.fixture(scope="module")
def compose(env) -> tuple[dict, set[str]]:
    used: set[str] = set()
    raw = yaml.safe_load(COMPOSE.read_text())
    return interpolate(raw, env, used), used


def test_env_defines_the_three_paths(env):
    assert {"MODEL_DIR", "INPUT", "OUTPUT"} <= set(env)
    for key in ("MODEL_DIR", "INPUT", "OUTPUT"):
        assert not Path(env[key]).is_absolute(), f"{key} must be relative to the .env (as in the seed)"


def test_every_env_variable_is_interpolated(compose, env):
    _, used = compose
    assert set(env) <= used, f".env variables never used in the compose file: {set(env) - used}"


def test_services_healthcheck_and_dependency(compose):
    doc, _ = compose
    services = doc["services"]
    assert set(services) >= {"detector", "inference"}
    det, inf = services["detector"], services["inference"]
    test = det["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1:4] == ["python", "-m", "mouseact.serve.healthcheck"]
    port = re.search(r":(\d+)/health$", test[-1]).group(1)
    assert det["environment"]["DETECTOR_PORT"] == port, "healthcheck must probe the port the detector serves on"
    assert inf["depends_on"]["detector"]["condition"] == "service_healthy"
    assert inf["environment"]["DETECTOR_URL"] == f"http://detector:{port}"
    assert det["command"] == ["detector"] and inf["command"] == ["inference"]
    # the inference container gets the same variables the entry reads, pointing at its mounts
    mounts = {v.split(":")[1]: v.split(":")[0] for v in inf["volumes"]}
    for var in ("MODEL_DIR", "INPUT", "OUTPUT"):
        assert inf["environment"][var] in mounts, f"{var} is not a mounted path"


def test_volumes_exist_relative_to_env_file(compose):
    doc, _ = compose
    base = ENV_FILE.parent
    seen = 0
    for name, svc in doc["services"].items():
        for vol in svc.get("volumes", []):
            src, dst, *mode = vol.split(":")
            assert dst.startswith("/"), vol
            host = (base / src).resolve()
            assert host.is_dir(), f"{name}: volume source {src} -> {host} does not exist"
            seen += 1
    assert seen >= 4
    inf = {v.split(":")[1]: v for v in doc["services"]["inference"]["volumes"]}
    assert inf["/models"].endswith(":ro") and inf["/data/input"].endswith(":ro")
    assert not inf["/data/output"].endswith(":ro")


def test_default_model_dir_is_a_model_bundle(env):
    model_dir = (ENV_FILE.parent / env["MODEL_DIR"]).resolve()
    from mouseact.models import BUNDLE_FILE

    assert (model_dir / BUNDLE_FILE).is_file(), f"MODEL_DIR {model_dir} has no {BUNDLE_FILE}"


def test_offline_network_and_build(compose):
    doc, _ = compose
    nets = doc["networks"]
    for name, svc in doc["services"].items():
        assert svc["networks"], name
        for net in svc["networks"]:
            assert nets[net].get("internal") is True, f"{name} is on a network with a route out"
        build = svc["build"]
        dockerfile = (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve()
        assert dockerfile == DOCKERFILES["cpu"]
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "YOLO_OFFLINE"):
        assert doc["services"]["inference"]["environment"][key] == "1"


def test_gpu_override_uses_cuda_image(env):
    used: set[str] = set()
    doc = interpolate(yaml.safe_load(GPU_COMPOSE.read_text()), env, used)
    for name in ("detector", "inference"):
        build = doc["services"][name]["build"]
        assert (GPU_COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILES["cuda"]
    devices = doc["services"]["inference"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, cur = [], ""
    for line in path.read_text().splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        instr, _, args = cur.strip().partition(" ")
        out.append((instr.upper(), args.strip()))
        cur = ""
    return out


@pytest.mark.parametrize("kind", ["cpu", "cuda"])
def test_dockerfile(kind):
    path = DOCKERFILES[kind]
    ins = parse_dockerfile(path)
    names = [i for i, _ in ins]
    base = dict(ins)["FROM"]
    if kind == "cpu":
        assert base == "python:3.11-slim"
    else:
        assert base.startswith("nvidia/cuda:") and "runtime" in base
        assert any("python3.11" in a for i, a in ins if i == "RUN")
    # installs the pinned set, then the project; copies every mapped source folder
    runs = [a for i, a in ins if i == "RUN"]
    assert any("-r requirements.lock.txt" in r for r in runs)
    assert any("pip install --no-deps -e ." in r for r in runs)
    copied = {a.split()[0] for i, a in ins if i == "COPY"}
    for folder in ("common", "preprocess", "train", "serve", "inference_script", "apps", "requirements.lock.txt",
                   "samples"):  # samples: `mouseact demo` works in the container
        assert folder in copied, f"{folder} not copied into the image"
    licences = " ".join(a for i, a in ins if i == "COPY")
    assert "LICENSE" in licences and "NOTICE.md" in licences  # AGPL + the sample's GPL attribution ship along
    for i, a in ins:
        if i == "COPY":
            for source in [p for p in a.split()[:-1] if not p.startswith("--")]:
                assert (REPO / source).exists(), f"COPY source {source} missing from the repository"
    # no weights fetched at build time and offline switches set for run time
    text = path.read_text()
    assert not re.search(r"\b(wget|curl)\b", text)
    assert not re.search(r"\.(pt|pth|safetensors|bin|onnx)\b", text), "no model weight files in the image recipe"
    assert "huggingface-cli" not in text and "hf_hub_download" not in text
    env_text = " ".join(a for i, a in ins if i == "ENV")
    for key in ("YOLO_OFFLINE=1", "HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"):
        assert key in env_text
    # non-root, health check, entry = the entry script (exec form)
    users = [a for i, a in ins if i == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert names.index("USER") > max(k for k, n in enumerate(names) if n == "RUN"), "USER before the last RUN"
    health = dict(ins)["HEALTHCHECK"]
    assert "mouseact.serve.healthcheck" in health and "CMD" in health
    entry = json.loads(dict(ins)["ENTRYPOINT"])
    assert entry == ["/opt/mouseact/docker/entrypoint.sh"]
    assert any(a.split()[:2] == ["docker/entrypoint.sh", "./docker/entrypoint.sh"] for i, a in ins if i == "COPY")
    assert json.loads(dict(ins)["CMD"]) == ["inference"]


def test_entry_script_dispatch():
    text = ENTRY.read_text()
    assert text.startswith("#!/bin/sh")
    assert subprocess.run(["sh", "-n", str(ENTRY)]).returncode == 0
    # each compose command maps to the module the tests run outside Docker
    assert "inference)" in text and "mouseact.inference.container_entry" in text
    assert "detector)" in text and "mouseact serve detector" in text


def test_docker_compose_config_when_available(tmp_path):
    """``docker compose config`` needs only the client's compose plugin, not an engine."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker client not installed")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker client has no compose plugin (docker compose version failed)")
    res = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--format", "json"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    cfg = json.loads(res.stdout)
    assert cfg["services"]["inference"]["depends_on"]["detector"]["condition"] == "service_healthy"
