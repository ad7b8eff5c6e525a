"""The whole sandbox at once: start, stop and describe its servers, and write jarvis's config for it.

``up`` is idempotent: servers already running are kept. The config it writes (mode 0600) points
jarvis at the sandbox's endpoints and credentials, maps the design images ``Debian 6`` and
``Debian 12`` to the sandbox's AMI, and authorises the sandbox's own deploy key on new hosts.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from sandbox import alertmanager, designs, ec2, gitserver, hosts, linode, named, ngircd, prosody, slapd, vsphere

SERVERS = ("ldap", "dns", "ec2", "linode", "vsphere", "xmpp", "alertmanager")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def prefix_for(state_dir: Path) -> str:
    """Container and network names of this sandbox, distinct per state dir so several coexist."""
    return "jarvis-" + hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:6]


def up(state_dir: Path) -> dict[str, Any]:
    """Start every server (keeping those already up), write the config, return the description."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    ldap_info = slapd.start(state_dir / "ldap")
    dns_info = named.start(state_dir / "dns")
    prefix = prefix_for(state_dir)
    ec2_info = ec2.start(state_dir / "ec2", prefix)
    linode_info = linode.start(state_dir / "linode", prefix + "l")
    vsphere_info = vsphere.start(state_dir / "vsphere", prefix + "v")
    alertmanager_info = alertmanager.start(state_dir / "alertmanager", password=_secret(state_dir, "alertmanager"))
    git_info = gitserver.start(state_dir / "git")
    irc_info = ngircd.start(state_dir / "irc")
    xmpp_passwords = _chat_passwords(state_dir)
    xmpp_info = prosody.start(state_dir / "xmpp", xmpp_passwords)
    design_files = state_dir / "designs" / "files"
    design_files.mkdir(parents=True, exist_ok=True)
    for example in EXAMPLES.glob("*.yml"):
        shutil.copy(example, design_files / example.name)
    designs_info = designs.start(state_dir / "designs", design_files)
    deploy_key = _deploy_key(state_dir)
    vault_password = state_dir / "vault-password"
    if not vault_password.exists():
        _write_private(vault_password, secrets.token_urlsafe(32) + "\n")
    config = {
        "vault_password_file": str(vault_password),
        "authorized_keys": [deploy_key.with_suffix(".pub").read_text().strip()],
        "ssh_private_key": str(deploy_key),
        "address": "private",
        "ec2": {"subnet_id": ec2_info.subnet_id, "security_group_ids": [ec2_info.security_group_id]},
        "vsphere": {
            "cluster": vsphere_info.cluster,
            "datastore": vsphere_info.datastore,
            "network": vsphere_info.network,
        },
        "mappings": {
            "ec2": {"images": dict.fromkeys(("debian 6", "debian 12", "debian-12"), ec2_info.image_id)},
            "vsphere": {
                "images": dict.fromkeys(("debian 6", "debian 12", "debian-12"), vsphere_info.template),
                "regions": {"atlanta": vsphere_info.datacenter},
            },
        },
        # A sandbox host reboots by ending its PID 1; the reconciler starts it again (see sandbox/hosts.py).
        "reboot": {"command": hosts.REBOOT_COMMAND, "boot_time_command": hosts.BOOT_TIME_COMMAND},
        # The zones of the sandbox's named: designs may name no others.
        "zones": dns_info.zones,
        # The examples' gitosis-admin lives on the sandbox's git server.
        "gitosis": {
            "remotes": {"gitosis@freyr.websages.com:gitosis-admin.git": git_info.remote},
            "port": git_info.port,
            "ssh_private_key": git_info.private_key,
            "known_hosts": git_info.known_hosts,
        },
        "bot": {
            "nick": "jarvis",
            "irc": {"host": irc_info.host, "port": irc_info.port, "channels": ["#ops"]},
            "xmpp": {
                "jid": xmpp_info.jid("jarvis"),
                "password": xmpp_passwords["jarvis"],
                "rooms": [xmpp_info.room("ops")],
                "host": xmpp_info.host,
                "port": xmpp_info.port,
                "allow_plaintext": True,
            },
            # The sandbox trusts everyone on this machine (to redeploy and destroy too; approving a production
            # host's change still takes a second person); a real site names its operators.
            "access": {
                "destroy": ["irc:*!*@127.0.0.1", f"xmpp:alice@{xmpp_info.domain}"],
                "status": ["irc:*!*@*", f"xmpp:*@{xmpp_info.domain}"],
            },
            "sources": {
                "urls": {"allowed_hosts": ["127.0.0.1"], "allow_private": True, "ca_file": designs_info.ca_file},
                "directories": [str(EXAMPLES), str(design_files)],
            },
        },
        "credentials": {
            "aws": {
                "access_key": ec2_info.access_key,
                "secret_key": ec2_info.secret_key,
                "endpoint_url": ec2_info.endpoint_url,
                "region": ec2_info.region,
            },
            "dns": {
                "server": dns_info.server,
                "port": str(dns_info.port),
                "key_name": dns_info.tsig_key_name,
                "key_secret": dns_info.tsig_secret,
                "key_algorithm": dns_info.tsig_algorithm,
            },
            "linode": {"token": linode_info.token, "api_url": linode_info.base_url},
            "alertmanager": {
                "url": alertmanager_info.url,
                "username": alertmanager_info.username,
                "password": alertmanager_info.password,
            },
            "vsphere": {
                "host": vsphere_info.host,
                "port": str(vsphere_info.port),
                "username": vsphere_info.username,
                "password": vsphere_info.password,
                "validate_certs": "false",
            },
            "ldap": {
                "uri": ldap_info.uri,
                "bind_dn": ldap_info.bind_dn,
                "bind_password": ldap_info.bind_password,
                "hosts_dn": ldap_info.hosts_dn,
            },
        },
    }
    _write_private(state_dir / "config.yml", "# Written by `jarvis sandbox up`.\n" + yaml.safe_dump(config))
    description = {
        "state_dir": str(state_dir),
        "config": str(state_dir / "config.yml"),
        "ssh_key": str(deploy_key),
        "ldap": asdict(ldap_info),
        "dns": asdict(dns_info),
        "ec2": asdict(ec2_info),
        "linode": asdict(linode_info),
        "vsphere": asdict(vsphere_info),
        "alertmanager": asdict(alertmanager_info),
        "git": asdict(git_info),
        "irc": asdict(irc_info),
        "xmpp": {**asdict(xmpp_info), "passwords": xmpp_passwords},
        "designs": asdict(designs_info),
    }
    _write_private(state_dir / "sandbox.json", json.dumps(description, indent=2))
    return description


def down(state_dir: Path) -> None:
    """Stop every server and remove the sandbox's hosts; data dirs stay for a later ``up``."""
    designs.stop(state_dir / "designs")
    alertmanager.stop(state_dir / "alertmanager")
    gitserver.stop(state_dir / "git")
    prosody.stop(state_dir / "xmpp")
    ngircd.stop(state_dir / "irc")
    vsphere.stop(state_dir / "vsphere")
    linode.stop(state_dir / "linode")
    ec2.stop(state_dir / "ec2")
    named.stop(state_dir / "dns")
    slapd.stop(state_dir / "ldap")
    (state_dir / "sandbox.json").unlink(missing_ok=True)
    (state_dir / "config.yml").unlink(missing_ok=True)


def status(state_dir: Path) -> dict[str, Any]:
    """What is up, without secrets."""
    try:
        description: dict[str, Any] = json.loads((state_dir / "sandbox.json").read_text())
    except FileNotFoundError:
        return {"state_dir": str(state_dir), "up": False}
    for server in SERVERS:
        for key in ("bind_password", "tsig_secret", "secret_key", "token", "password", "passwords"):
            description[server].pop(key, None)
    return {"up": True, **description}


def _secret(state_dir: Path, name: str) -> str:
    """A random secret for a sandbox server, made once and kept in the state dir (mode 0600)."""
    path = state_dir / f"{name}.secret"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(24))
    return path.read_text()


def _chat_passwords(state_dir: Path) -> dict[str, str]:
    """The sandbox XMPP accounts (the bot's and alice's, for a person to try it), made once."""
    path = state_dir / "xmpp-passwords.json"
    if not path.exists():
        _write_private(path, json.dumps({user: secrets.token_urlsafe(12) for user in ("jarvis", "alice")}))
    passwords: dict[str, str] = json.loads(path.read_text())
    return passwords


def _deploy_key(state_dir: Path) -> Path:
    """The sandbox's own SSH key, authorised as root on the hosts it deploys."""
    key = state_dir / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "jarvis-sandbox", "-f", str(key)],
            check=True,
        )
    return key


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    path.write_text(text)
