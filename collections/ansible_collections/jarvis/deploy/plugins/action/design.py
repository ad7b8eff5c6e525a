# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of jarvis.deploy.design: a design given as variables is read as data, never as a template.

A design comes from people jarvis does not trust (a gist, an LDAP entry, a shared file). Given with
``-e @design.yml``, its strings are extra vars that Ansible trusts as templates: naming them in the task's
arguments (``instance: "{{ instance }}"``) would render a ``{{ lookup('pipe', ...) }}`` in them on the
controller. With ``design_vars: true`` this plugin takes ``instance``, ``instances`` and ``defaults`` from
the play's variables untemplated, marked unsafe, and refuses a design file that sets other variables.
"""

from __future__ import annotations

from ansible import context
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.jarvis.deploy.plugins.modules import design
from ansible_collections.jarvis.deploy.plugins.plugin_utils._in_process import InProcessModule

DESIGN_VARIABLES = ("instance", "instances", "defaults")
VAULT_HEADER = b"$ANSIBLE_VAULT"


class ActionModule(InProcessModule):
    MODULE = design

    def run(self, tmp=None, task_vars=None):
        return wrap_var(super().run(tmp, task_vars))

    def arguments(self, task_vars):
        args = dict(self._task.args)
        if not args.pop("design_vars", False):
            return args
        given = [key for key in DESIGN_VARIABLES if key in args]
        if given:
            raise AnsibleActionFail(f"design_vars reads {given[0]} from the variables: do not pass it too")
        problem = foreign_design_variables(context.CLIARGS.get("extra_vars") or ())
        if problem:
            raise AnsibleActionFail(problem)
        for key in DESIGN_VARIABLES:
            raw = task_vars.get(key)
            if isinstance(raw, str):
                # Not a design but a template that builds one from other variables: an AWX job template's
                # survey, written by whoever wrote the job (a design file holding one is refused above).
                raw = self._templar.template({key: raw}).get(key)  # in a mapping, omit drops the key
                if isinstance(raw, str) and raw.startswith("__omit_place_holder__"):  # ansible-core < 2.19
                    raw = None
            if raw is not None:
                args[key] = wrap_var(raw)
        if "instance" not in args and "instances" not in args:
            raise AnsibleActionFail("no design: give it with -e @design.yml (instance or instances)")
        return args


def foreign_design_variables(extra_vars):
    """Why a design file given with ``-e @FILE`` may not be used, or None.

    A design holds only instance, instances and defaults; any other top-level key of such a file would
    be an extra var that overrides jarvis's own (``jarvis_force``) or Ansible's (``ansible_ssh_common_args``),
    and a design that is a template string would be rendered. A job's own ``env/extravars`` (ansible-runner's
    layout, where AWX writes a job template's variables and its launch's, the latter marked unsafe) is the
    platform's, not a design file.
    """
    import yaml  # only needed for plain ansible-playbook runs

    for argument in extra_vars:
        argument = to_text(argument)
        if not argument.startswith("@"):
            continue
        path = argument[1:]
        if path.endswith("/env/extravars"):
            continue
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            continue  # ansible-playbook itself read it: a file that moved since is not a design we can vet
        if data.lstrip().startswith(VAULT_HEADER):
            continue
        try:
            document = yaml.safe_load(data)
        except yaml.YAMLError:
            continue
        if not isinstance(document, dict) or not any(key in document for key in ("instance", "instances")):
            continue
        templated = [key for key in DESIGN_VARIABLES if isinstance(document.get(key), str)]
        if templated:
            return f"the design file {path}: {templated[0]} must be a mapping or a list, not a string"
        foreign = sorted(str(key) for key in document if key not in DESIGN_VARIABLES)
        if foreign:
            return (
                f"the design file {path} sets {', '.join(foreign)}: a design holds only instance, instances "
                "and defaults (give other variables separately)"
            )
    return None
