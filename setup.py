"""Maps the fixed top-level folders into the ``mouseact`` namespace and discovers sub-packages.

The repository layout is fixed (apps/ preprocess/ train/ serve/ inference_script/ common/); each
folder becomes one importable namespace so nothing collides with other packages named
"common" or "train". ``common/`` *is* the ``mouseact`` package (the shared library).
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
FOLDERS = {
    "mouseact": "common",
    "mouseact.preprocess": "preprocess",
    "mouseact.train": "train",
    "mouseact.serve": "serve",
    "mouseact.inference": "inference_script",
    "mouseact.apps": "apps",
}


def discover() -> tuple[list[str], dict[str, str]]:
    packages, package_dir = [], {}
    for pkg, folder in FOLDERS.items():
        package_dir[pkg] = folder
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            if any(part.startswith((".", "_")) or part == "node_modules" for part in rel.parts):
                continue
            packages.append(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    return packages, package_dir


packages, package_dir = discover()
setup(packages=packages, package_dir=package_dir)
