# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Puppet on the deployed host: install the agent, point it at a server, run it, read its summary."""

from __future__ import annotations

import os
import re

from ansible_collections.jarvis.deploy.plugins.module_utils._files import write_atomically

PACKAGE = "puppet-agent"
CONF = "/etc/puppet/puppet.conf"
CONF_MODE = 0o644
NAME_RE = re.compile(r"^[A-Za-z0-9._:-]+$")
# `puppet … --detailed-exitcodes`: 0 nothing to do, 2 changes applied, 4 failures, 6 changes and failures.
CHANGED_CODES = {2}
FAILED_CODES = {1, 4, 6}


def installed_version(module):
    rc, out, dummy = module.run_command(["dpkg-query", "-W", "-f=${Status} ${Version}", PACKAGE])
    if rc != 0 or not out.startswith("install ok installed"):
        return None
    return out.split()[-1]


def wanted_conf(current, server, environment):
    """puppet.conf with [agent] server and environment set, everything else kept."""
    lines = current.splitlines()
    settings = {"environment": environment}
    if server:
        settings["server"] = server
    out, in_agent, seen_agent, done = [], False, False, set()
    for line in lines:
        section = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if section:
            if in_agent:
                out += [f"{key} = {value}" for key, value in settings.items() if key not in done]
                done.update(settings)
            in_agent = section.group(1) == "agent"
            seen_agent = seen_agent or in_agent
            out.append(line)
            continue
        key = re.match(r"^\s*([a-z_]+)\s*=", line)
        if in_agent and key and key.group(1) in settings:
            out.append(f"{key.group(1)} = {settings[key.group(1)]}")
            done.add(key.group(1))
            continue
        out.append(line)
    if in_agent:
        out += [f"{key} = {value}" for key, value in settings.items() if key not in done]
    elif not seen_agent:
        out += ["[agent]"] + [f"{key} = {value}" for key, value in settings.items()]
    return "\n".join(out) + "\n"


def write_conf(path, text):
    """Replace puppet.conf at PATH with TEXT, world-readable, creating its directory if needed."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomically(path, text, CONF_MODE)


def summary(output):
    """Puppet's own last words: its error lines and the closing 'Notice: Applied catalog …' line."""
    keep = [line.strip() for line in output.splitlines() if re.match(r"^\s*(Error|Notice: Applied catalog)", line)]
    if keep:
        return "; ".join(keep[-5:])
    lines = output.strip().splitlines()
    return lines[-1] if lines else "no output"
