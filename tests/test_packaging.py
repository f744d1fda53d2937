"""The wheel carries the shipped topology data and works from a fresh environment.

The wheel is built from a copy of the checkout (so no ``build/`` or ``*.egg-info`` is left in
it) without build isolation, and installed into a fresh virtual environment that reuses this
environment's dependencies through a plain path line in a ``.pth`` file: plain lines do not run
the ``.pth`` files of that directory, so the editable graphens of this environment stays out.
Everything runs offline.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("celegans_white1986_chemical.csv", "celegans_white1986_electrical.csv", "README.md",
           "__init__.py")
TIMEOUT = 180  # seconds per subprocess; the whole module takes ~15-25 s on 2 cores


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout's sources."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for folder in ("graphens", "topologies"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-index",
          "--no-build-isolation", "-q", "-w", str(dist)], cwd=base)
    (built,) = dist.glob("graphens-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed; dependencies from this one."""
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "-q", str(wheel)], cwd=venv.parent)
    # After the install, so pip does not see this environment's (editable) graphens.
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=venv.parent).strip())
    ours = dict.fromkeys(sysconfig.get_path(key) for key in ("purelib", "platlib"))
    (site / "_graphens_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    return venv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def test_the_wheel_holds_the_shipped_data_and_every_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"graphens/shipped/{name}" for name in SHIPPED} <= names
    assert not any(name.startswith("topologies/") for name in names)
    # pyproject lists the packages (so graphens.shipped can come from topologies/): every
    # package of the source tree must be in that list, hence in the wheel.
    packages = {init.parent.relative_to(ROOT).as_posix() for init in
                (ROOT / "graphens").rglob("__init__.py") if "__pycache__" not in init.parts}
    missing = {p for p in packages if f"{p}/__init__.py" not in names}
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_the_installed_wheel_loads_the_shipped_connectome(fresh_venv, tmp_path):
    script = (
        "import json, graphens\n"
        "from graphens.topology import make_topology\n"
        "from graphens.topology.connectome import topologies_dir\n"
        "g = make_topology('connectome:celegans-white1986', None, map='all')\n"
        "print(json.dumps({'file': graphens.__file__, 'data': str(topologies_dir()),\n"
        "                  'nodes': g.num_nodes, 'edges': int(g.edge_index.shape[1])}))\n")
    out = json.loads(_run([str(fresh_venv / "bin" / "python"), "-c", script], cwd=tmp_path,
                          env=_env()))
    venv = fresh_venv.resolve()
    assert Path(out["file"]).resolve().is_relative_to(venv)  # not the checkout's graphens
    assert Path(out["data"]).resolve().is_relative_to(venv)
    assert out["nodes"] == 299 and out["edges"] == 2266  # rows of the chemical edge list


def test_the_installed_cli_lists_the_shipped_connectome(fresh_venv, tmp_path):
    listed = _run([str(fresh_venv / "bin" / "graphens"), "topology", "list"], cwd=tmp_path,
                  env=_env())
    assert "connectome:celegans-white1986" in listed
