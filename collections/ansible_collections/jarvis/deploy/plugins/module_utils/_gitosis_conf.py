# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gitosis.conf and the key directory of a gitosis-admin clone: what to change for one member, as text.

gitosis reads ``gitosis.conf`` with Python 2's ConfigParser and takes the key of member M from
``keydir/M.pub``. The file is edited line by line, never re-written through a config parser, so that
comments, order and every other section stay as they were.
"""

from __future__ import annotations

import re

CONF_FILE = "gitosis.conf"
KEY_DIR = "keydir"

_SECTION_RE = re.compile(r"^\[(?P<name>[^\]]*)\]")
_OPTION_RE = re.compile(r"^(?P<key>[^\s=:#;\[][^=:]*?)\s*[=:]")


def _sections(lines):
    """(name, header index, end index) of every section, the name's whitespace collapsed."""
    found = []
    for index, line in enumerate(lines):
        match = _SECTION_RE.match(line)
        if match:
            if found:
                found[-1][2] = index
            found.append([" ".join(match.group("name").split()), index, len(lines)])
    return [tuple(section) for section in found]


def _group_sections(lines):
    """{group name: (header index, end index)} for every ``[group NAME]``; the first one wins."""
    groups = {}
    for name, start, end in _sections(lines):
        words = name.split(" ", 1)
        if words[0] == "group" and len(words) == 2:
            groups.setdefault(words[1], (start, end))
    return groups


def _split_comment(line, first):
    """(value part, inline comment) of a value line; ConfigParser strips `` ;...`` on the option's line only."""
    if first:
        match = re.search(r"\s;", line)
        if match:
            return line[: match.start()], line[match.start() :].lstrip()
    return line, ""


def _members_lines(lines, start, end):
    """Indexes of the lines holding the ``members`` value in section [start, end): option line first."""
    for index in range(start + 1, end):
        match = _OPTION_RE.match(lines[index])
        if match and match.group("key").strip().lower() == "members":
            found = [index]
            for following in range(index + 1, end):
                text = lines[following]
                if not text.strip() or text[0] in "#;":
                    continue
                if not text[0].isspace():
                    break
                found.append(following)
            return found
    return []


def _value_start(line):
    """Where the value begins on an option line: after the first ``=`` or ``:``, as ConfigParser splits it."""
    return re.search(r"[=:]", line).end()


def _tokens(lines, indexes):
    tokens = []
    for position, index in enumerate(indexes):
        value = _split_comment(lines[index], position == 0)[0]
        tokens.extend((value[_value_start(value) :] if position == 0 else value).split())
    return tokens


def add_member(conf_text, group, member):
    """(new text, action) with MEMBER added to [group GROUP], the group created when missing; action None if there."""
    lines = conf_text.split("\n")
    section = _group_sections(lines).get(group)
    if section is None:
        body = conf_text
        if body and not body.endswith("\n"):
            body += "\n"
        if body.strip() and not body.endswith("\n\n"):
            body += "\n"
        body += f"[group {group}]\nmembers = {member}\n"
        return body, f"create group {group} with member {member} in {CONF_FILE}"
    indexes = _members_lines(lines, *section)
    if not indexes:
        lines.insert(section[0] + 1, f"members = {member}")
    elif member in _tokens(lines, indexes):
        return conf_text, None
    else:
        last = indexes[-1]
        value, comment = _split_comment(lines[last], len(indexes) == 1)
        lines[last] = f"{value.rstrip()} {member}" + (f" {comment}" if comment else "")
    return "\n".join(lines), f"add {member} to group {group} in {CONF_FILE}"


def remove_member(conf_text, member):
    """(new text, actions) with MEMBER taken out of every group's members; other lines untouched."""
    lines = conf_text.split("\n")
    actions = []
    drop = set()
    for group, section in _group_sections(lines).items():
        indexes = _members_lines(lines, *section)
        if member not in _tokens(lines, indexes):
            continue
        for position, index in enumerate(indexes):
            value, comment = _split_comment(lines[index], position == 0)
            if position == 0:
                separator = _value_start(value)
                head, rest = value[:separator], value[separator:]
            else:
                head, rest = value[: len(value) - len(value.lstrip())], value.lstrip()
            words = rest.split()
            if member not in words:
                continue
            kept = [word for word in words if word != member]
            if position > 0 and not kept and not comment:
                drop.add(index)
                continue
            if position == 0 and not kept and comment:
                # "members = ; note" would be read as members ";", "note": the comment gets a line of its own.
                lines[index] = f"{comment}\n{head.rstrip()}"
                continue
            lines[index] = (head + (" " if position == 0 and kept else "") + " ".join(kept)).rstrip() + (
                f" {comment}" if comment else ""
            )
        actions.append(f"remove {member} from group {group} in {CONF_FILE}")
    if not actions:
        return conf_text, []
    return "\n".join(line for index, line in enumerate(lines) if index not in drop), actions


# --- the change -------------------------------------------------------------------------------


def key_file(member):
    return f"{KEY_DIR}/{member}.pub"


def plan(files, member, public_key, group, state):
    """What to change: {"files": {path: new text or None to delete}, "actions": [...], "message": str}.

    FILES maps the repository paths of gitosis.conf and the member's key file to their text (None when missing).
    """
    key_path = key_file(member)
    old_key, old_conf = files.get(key_path), files.get(CONF_FILE)
    changes, actions = {}, []
    if state == "present":
        wanted_key = public_key + "\n"
        if old_key is None:
            changes[key_path] = wanted_key
            actions.append(f"add {key_path}")
        elif old_key.strip() != public_key:
            changes[key_path] = wanted_key
            actions.append(f"replace the key in {key_path}")
        new_conf, action = add_member(old_conf or "", group, member)
        if action:
            changes[CONF_FILE] = new_conf
            actions.append(action)
        verb = "add" if old_key is None else "update"
    else:
        if old_key is not None:
            changes[key_path] = None
            actions.append(f"remove {key_path}")
        new_conf, conf_actions = remove_member(old_conf or "", member)
        if conf_actions:
            changes[CONF_FILE] = new_conf
            actions.extend(conf_actions)
        verb = "remove"
    return {"files": changes, "actions": actions, "message": f"jarvis: {verb} {member}"}


def file_diffs(files, changes):
    """Ansible diff entries (one per changed file) for the CHANGES planned over FILES."""
    return [
        {"before_header": path, "after_header": path, "before": files.get(path) or "", "after": text or ""}
        for path, text in sorted(changes.items())
    ]
