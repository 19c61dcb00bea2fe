"""The layers (import-linter, contracts in pyproject.toml): the composition root (tracecert_app) above the services
(registry, verifier), which stay apart, above the shared core (tracecert), which imports no HTTP framework and no
database. The check passes on the project and fails on a core module that imports a service."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )


def test_the_project_keeps_its_layers() -> None:
    out = subprocess.run([str(LINT), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(" KEPT") == 2, out.stdout


def _project(tmp_path: Path, modules: dict[str, str]) -> Path:
    """A project with the same four packages and contracts, and these modules."""
    for package in ("tracecert", "registry", "verifier", "tracecert_app"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for name, source in modules.items():
        (tmp_path / name.replace(".", "/")).with_suffix(".py").write_text(source)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    lines = ["[tool.importlinter]"]
    lines.append("root_packages = " + repr(config["root_packages"]).replace("'", '"'))
    lines.append(f"include_external_packages = {str(config['include_external_packages']).lower()}")
    for contract in config["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{key} = " + repr(value).replace("'", '"') for key, value in contract.items()]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return tmp_path


# The services' own imports of their frameworks, so that the forbidden modules exist in the graph.
SERVICES = {
    "registry.web": "import fastapi\nimport sqlalchemy\nimport starlette\nimport uvicorn\nimport tracecert\n",
    "verifier.web": "import fastapi\nimport tracecert\n",
    "tracecert_app.cli": "import registry.web\nimport verifier.web\n",
}


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("tracecert.bad", "import registry.web\n", "tracecert.bad -> registry.web"),  # the core imports a service
        ("tracecert.bad", "from verifier import web\n", "tracecert.bad -> verifier.web"),
        ("registry.bad", "import verifier.web\n", "registry.bad -> verifier.web"),  # one service imports the other
        ("verifier.bad", "import tracecert_app.cli\n", "verifier.bad -> tracecert_app.cli"),  # a service, the root
        ("tracecert.bad", "import fastapi\n", "tracecert.bad -> fastapi"),  # the core imports an HTTP framework
        ("tracecert.bad", "import sqlalchemy\n", "tracecert.bad -> sqlalchemy"),
    ],
)
def test_the_check_fails_when_a_layer_is_crossed(tmp_path: Path, module: str, source: str, broken: str) -> None:
    out = _lint(_project(tmp_path, {**SERVICES, module: source}))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "BROKEN" in out.stdout and broken in out.stdout, out.stdout


def test_the_check_passes_on_a_project_that_keeps_them(tmp_path: Path) -> None:
    out = _lint(_project(tmp_path, SERVICES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(" KEPT") == 2, out.stdout
