"""execution-environment.yml: ansible-builder makes its build context offline, and it holds what jarvis needs.

No container engine runs here, so the image is not built; instead the context's two offline steps are
run for real: its galaxy stage's ``ansible-galaxy collection install -r requirements.yml`` (the collection
from this repository) and its builder stage's introspection of the installed collection. The
collection's requirements.txt must name a package for every third-party import of its plugins.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "collections" / "ansible_collections" / "jarvis" / "deploy"
BIN = Path(sys.executable).parent
# Import name -> the package that provides it, for imports whose names differ from their package's.
PACKAGE_OF = {"dns": "dnspython", "yaml": "pyyaml", "pyVmomi": "pyvmomi", "pyVim": "pyvmomi"}
NOT_THIRD_PARTY = {"ansible", "ansible_collections", "__future__"}


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(normalize(line.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0]))
    return names


def normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ee") / "context"
    proc = subprocess.run(
        [BIN / "ansible-builder", "create", "--file", REPO / "execution-environment.yml", "--context", target],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def test_the_definition_pins_what_jarvis_pins() -> None:
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    pins = {normalize(dep.split(">")[0].split("<")[0].split("=")[0]): dep for dep in _pyproject_dependencies()}
    assert definition["dependencies"]["ansible_core"]["package_pip"] == pins["ansible-core"]
    assert definition["dependencies"]["ansible_runner"]["package_pip"] == pins["ansible-runner"]
    assert definition["images"]["base_image"]["name"]


def _pyproject_dependencies() -> list[str]:
    dependencies: list[str] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return dependencies


def test_the_containerfile_installs_the_collection_and_its_requirements(context: Path) -> None:
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "COPY _build/bindep.txt bindep.txt" in containerfile
    assert "introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "ansible-core>=2.17,<2.20 ansible-runner>=2.4" in containerfile
    build = context / "_build"
    assert (build / "requirements.txt").read_text() == (COLLECTION / "requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (COLLECTION / "bindep.txt").read_text()
    assert yaml.safe_load((build / "requirements.yml").read_text()) == {
        "collections": [{"name": "./jarvis.deploy", "type": "dir"}]
    }
    assert (build / "jarvis.deploy" / "galaxy.yml").is_file()


def test_the_galaxy_and_introspection_steps_work_offline(context: Path, tmp_path: Path) -> None:
    """What the image build runs in /build, run here: install the collection, then collect its requirements."""
    build = context / "_build"
    installed = tmp_path / "collections"
    proc = subprocess.run(
        [BIN / "ansible-galaxy", "collection", "install", "-r", "requirements.yml", "--collections-path", installed],
        capture_output=True,
        text=True,
        cwd=build,
        env={**os.environ, "ANSIBLE_GALAXY_DISABLE_GPG_VERIFY": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collection = installed / "ansible_collections" / "jarvis" / "deploy"
    assert (collection / "plugins" / "modules" / "design.py").is_file()
    assert (collection / "roles" / "pipeline" / "tasks" / "validate.yml").is_file()
    assert not (collection / "tests" / "output").exists(), "galaxy.yml's build_ignore applies"
    pip, bindep = tmp_path / "pip.txt", tmp_path / "bindep.txt"
    proc = subprocess.run(
        [sys.executable, build / "scripts" / "introspect.py", "introspect", installed]
        + [f"--write-pip={pip}", f"--write-bindep={bindep}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = requirement_names(pip)
    assert {"boto3", "ldap3", "linode-api4", "pyvmomi", "dnspython"} <= found
    assert "openssh-clients [platform:rpm]  # from collection jarvis.deploy" in bindep.read_text()


def third_party_imports() -> dict[str, set[str]]:
    """Top-level names the collection's plugins import that are neither stdlib nor Ansible, with where."""
    found: dict[str, set[str]] = {}
    for path in sorted((COLLECTION / "plugins").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in NOT_THIRD_PARTY:
                    found.setdefault(top, set()).add(str(path.relative_to(COLLECTION)))
    return found


def test_requirements_cover_every_third_party_import_of_the_plugins() -> None:
    imports = third_party_imports()
    assert {"boto3", "ldap3", "dns", "pyVmomi", "linode_api4"} <= set(imports), "the scan finds the imports"
    required = requirement_names(COLLECTION / "requirements.txt")
    missing = {
        name: sorted(where) for name, where in imports.items() if normalize(PACKAGE_OF.get(name, name)) not in required
    }
    assert not missing, f"add these to {COLLECTION / 'requirements.txt'} (and to PACKAGE_OF if named otherwise)"
    pinned = {normalize(dep.split(">")[0].split("<")[0].split("=")[0]) for dep in _pyproject_dependencies()}
    assert required - {"botocore", "requests"} <= pinned, "the collection needs nothing jarvis does not install"


def test_bindep_names_the_programs_the_modules_run() -> None:
    text = (COLLECTION / "bindep.txt").read_text()
    for program in ("openssh-clients [platform:rpm]", "openssh-client [platform:dpkg]", "git", "openssl"):
        assert program in text
    meta = yaml.safe_load((COLLECTION / "meta" / "execution-environment.yml").read_text())
    assert meta == {"version": 1, "dependencies": {"python": "requirements.txt", "system": "bindep.txt"}}
