"""Static checks of the Docker deployment (no Docker engine on the build machine).

The compose file is parsed and interpolated the way docker compose does it (variables from the
``.env`` beside it, ``${VAR:-default}``), then checked for what the deployment promises: a
detector and an inference service, a healthcheck that gates inference, every ``.env`` variable
used, volume sources that exist relative to ``.env``, no route out at run time. The Dockerfiles
are parsed instruction by instruction.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
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
    # the CUDA image too: its CUDA comes from torch's wheels (test_cuda_image_*), not a CUDA base image
    assert base == "python:3.11-slim"
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
    # the health check finds the port itself (serve/healthcheck.py): no fixed URL or port in it
    health = dict(ins)["HEALTHCHECK"]
    assert json.loads(health.split("CMD", 1)[1]) == ["python", "-m", "mouseact.serve.healthcheck"]
    assert set(dict(ins)["EXPOSE"].split()) == {"8001", "8002", "8080"}
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


# -- the image's health check, for every documented way of running the image ----------------------
README = REPO / "inference_script" / "README.md"


def documented_runs() -> list[tuple[list[str], dict[str, str], str | None]]:
    """(entry arguments, environment, published container port) for each way the docs run the image:
    the ``docker run ... mouseact:cpu ARGS`` lines of inference_script/README.md and the compose services."""
    runs = []
    text = re.sub(r"\\\n\s*", " ", README.read_text())  # join continuation lines
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("docker run "):
            continue
        tokens = shlex.split(line.split("  #", 1)[0])
        image = next(i for i, t in enumerate(tokens) if t.startswith("mouseact:"))
        published = [tokens[i + 1].rsplit(":", 1)[1] for i, t in enumerate(tokens[:image]) if t == "-p"]
        runs.append((tokens[image + 1:], {}, published[0] if published else None))
    doc = yaml.safe_load(COMPOSE.read_text())
    for svc in doc["services"].values():
        env = {k: str(v) for k, v in svc["environment"].items() if k != "MOUSEACT_PORT"}  # found without it too
        runs.append((svc["command"], env, (svc.get("expose") or [None])[0]))
    return runs


def test_healthcheck_target_for_every_documented_run():
    from mouseact.serve.healthcheck import target_from_cmdline

    seen = set()
    for args, env, published in documented_runs():
        # PID 1 right after start (the entry script) and after its exec (the server's own command line)
        target = target_from_cmdline(["/opt/mouseact/docker/entrypoint.sh", *args], env)
        assert target is not None, args
        seen.add(target.kind)
        if target.kind == "job":
            assert published is None, f"{args}: publishes a port but serves nothing"
            continue
        assert str(target.port) == published, f"{args}: health check probes {target.port}, docs publish {published}"
        exec_line = {"detector": ["python", "-m", "mouseact", "serve", "detector", "--host", "0.0.0.0",
                                  "--port", str(target.port)],
                     "inference-service": ["python", "-m", "mouseact", "serve", "inference", "--host", "0.0.0.0",
                                           "--port", str(target.port)],
                     "app": ["python", "-m", "mouseact", *args]}[target.kind]
        after = target_from_cmdline(exec_line, env)
        assert (after.kind, after.port, after.host) == (target.kind, target.port, target.host), exec_line
    assert seen == {"job", "detector", "inference-service", "app"}, seen


def test_healthcheck_reads_ports_like_the_entry_script():
    from mouseact.serve.healthcheck import target_from_cmdline as target

    entry = "/opt/mouseact/docker/entrypoint.sh"
    assert target([entry, "detector"], {"DETECTOR_PORT": "9001"}).port == 9001
    assert target([entry, "inference-service"], {"INFERENCE_PORT": "9002"}).port == 9002
    assert target([entry, "inference-service", "--port", "9003"], {"INFERENCE_PORT": "9002"}).port == 9003
    assert target([entry, "app", "train_classifier", "--port=9004"], {}).port == 9004
    assert target(["/sbin/docker-init", "--", entry, "app", "inference"], {}).port == 8080  # docker run --init
    assert target([entry], {}).kind == "job"  # the image's CMD: the batch job
    assert target(["python", "-m", "mouseact.inference.container_entry"], {}).kind == "job"
    assert target([entry, "app", "--list"], {}).kind == "job"
    # a folder called mouseact in an argument is not the program
    assert target(["python", "-m", "http.server", "--directory", "/srv/mouseact"], {}) is None


# -- the CUDA image: one CUDA, from the wheels, and the driver it needs written down -------------------
# NVIDIA's minor-version compatibility: the oldest driver that runs any release of a CUDA major
MIN_DRIVER = {12: 525, 13: 580}


def _lock_pin(name: str) -> str:
    for line in (REPO / "requirements.lock.txt").read_text().splitlines():
        if line.startswith(name + "=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} not pinned in requirements.lock.txt")


def test_cuda_image_uses_the_wheels_cuda_and_documents_the_driver():
    ins = parse_dockerfile(DOCKERFILES["cuda"])
    assert dict(ins)["FROM"] == "python:3.11-slim", "an nvidia/cuda base would add a CUDA that torch does not use"
    install = next(a for i, a in ins if i == "RUN" and "-r requirements.lock.txt" in a)
    # PyPI's torch (the lock's pin) is the CUDA build; another index would bring another build
    assert "index-url" not in install and "download.pytorch.org" not in DOCKERFILES["cuda"].read_text()
    major = int(next(a for i, a in ins if i == "ARG" and a.startswith("TORCH_CUDA_MAJOR=")).split("=")[1])
    assert "TORCH_CUDA_MAJOR" in install and "torch.version.cuda" in install  # the build stops on a mismatch
    env = " ".join(a for i, a in ins if i == "ENV")
    assert re.search(r"NVIDIA_DRIVER_CAPABILITIES=\S*compute", env)
    readme = README.read_text()
    assert re.search(rf"NVIDIA driver {MIN_DRIVER[major]} or newer", readme), "driver requirement not documented"
    assert f"CUDA {major}." in readme
    assert f"torch {_lock_pin('torch')}" in readme


def test_cuda_build_guard_against_the_installed_torch(tmp_path):
    """The Dockerfile's own check, run here on the venv's torch (installed from the same lock pin)."""
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
                           capture_output=True, text=True, timeout=300)
    version, cuda = probe.stdout.split()
    if cuda == "None" or version.split("+")[0] != _lock_pin("torch"):
        pytest.skip(f"the venv's torch {version} is not the lock's PyPI CUDA build")
    ins = parse_dockerfile(DOCKERFILES["cuda"])
    major = next(a for i, a in ins if i == "ARG" and a.startswith("TORCH_CUDA_MAJOR=")).split("=")[1]
    assert cuda.split(".")[0] == major, f"PyPI torch {version} is built for CUDA {cuda}, the image says {major}"
    guard = next(a for i, a in ins if i == "RUN" and "TORCH_CUDA_MAJOR" in a)
    guard = guard.replace("pip install -r requirements.lock.txt", "true")
    path = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    ok = subprocess.run(["sh", "-c", guard], env={**os.environ, "PATH": path, "TORCH_CUDA_MAJOR": major},
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and f"torch is built for CUDA {cuda}" in ok.stdout, ok.stderr
    wrong = subprocess.run(["sh", "-c", guard], env={**os.environ, "PATH": path, "TORCH_CUDA_MAJOR": "12"},
                           capture_output=True, text=True, timeout=300)
    assert wrong.returncode != 0 and "update TORCH_CUDA_MAJOR and the driver requirement" in wrong.stderr
