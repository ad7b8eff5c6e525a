"""Every module of the collection documents itself: ansible-doc renders it, examples parse."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.ansible import COLLECTIONS, ansible_env

MODULES = sorted(p.stem for p in (COLLECTIONS / "ansible_collections/jarvis/deploy/plugins/modules").glob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_shows_the_module(module: str) -> None:
    proc = subprocess.run(
        ["ansible-doc", "--json", f"jarvis.deploy.{module}"], capture_output=True, text=True, env=ansible_env()
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[f"jarvis.deploy.{module}"]
    assert doc["doc"]["short_description"]
    assert doc["return"], "RETURN is documented"
    examples = yaml.safe_load(doc["examples"])
    assert any(f"jarvis.deploy.{module}" in task for task in examples), "an example uses the module"
    attributes = doc["doc"]["attributes"]
    assert {"check_mode", "diff_mode", "idempotent"} <= set(attributes)


def test_modules_are_the_expected_set() -> None:
    expected = {"design", "root_credentials", "ec2_instance", "ssh_hostkeys", "dns_record", "ldap_host"}
    assert expected <= set(MODULES)


def test_the_collection_builds(tmp_path: Path) -> None:
    subprocess.run(
        [
            "ansible-galaxy",
            "collection",
            "build",
            "--output-path",
            str(tmp_path),
            str(COLLECTIONS / "ansible_collections/jarvis/deploy"),
        ],
        check=True,
        capture_output=True,
        env=ansible_env(),
    )
    assert list(tmp_path.glob("jarvis-deploy-*.tar.gz"))
