# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a controller-side module inside Ansible's worker process instead of a new Python process.

The steps that only talk to an API (providers, DNS, LDAP, Alertmanager, gitosis) run on the controller
(``delegate_to: localhost``). Started the usual way, each such task builds an AnsiballZ payload, starts a
Python interpreter and imports the SDK again: about half a second of CPU per task per host, most of the
pipeline's time. Run here, the module's own ``main()`` gets exactly the arguments it would have been sent
(module defaults, the internal ``_ansible_*`` keys for check mode, diff and no_log, the task's
environment) and its JSON answer goes through the same parser, so the module's interface — argument
spec, check mode, diff, no_log, warnings, its documentation — is the one ``ansible-doc`` shows.

The module is imported when Ansible's strategy first loads this action (in the controller's main process),
so every worker forked afterwards finds its SDK already imported.

Anything that would not have run on the controller with the controller's Python (another connection,
become, async, another interpreter) runs the module the usual way.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from types import ModuleType
from typing import Any

from ansible.module_utils import basic
from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.plugins.action import ActionBase
from ansible.vars.clean import remove_internal_keys

PROFILE = "legacy"  # the serialization profile of a Python module without metadata (all of this collection's)


class InProcessModule(ActionBase):
    """The action of a controller-side module: its ``main()`` called here when the task runs on the controller."""

    MODULE: ModuleType  # the module's Python module, imported by the subclass at load time
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        result.update(self.run_module(self.arguments(task_vars), task_vars))
        return result

    def arguments(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        """The module's arguments: the task's (with its module defaults); raise AnsibleActionFail to refuse."""
        return dict(self._task.args)

    @property
    def module_name(self) -> str:
        """The module's FQCN, from where its Python module lives (ansible_collections.NS.COLL.plugins.modules.NAME)."""
        parts = self.MODULE.__name__.split(".")
        return ".".join((parts[1], parts[2], parts[-1]))

    def run_module(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """The module's result for ARGS: run here when it would have run on this machine, else the usual way."""
        if self.runs_here(task_vars):
            return self.run_module_here(args, task_vars)
        return self._execute_module(module_name=self.module_name, module_args=args, task_vars=task_vars)

    def runs_here(self, task_vars: dict[str, Any]) -> bool:
        """Whether the module would have run on this machine, as this user, with this Python."""
        if self._connection.transport not in ("local", "ansible.builtin.local"):
            return False
        if self._play_context.become or self._task.async_val:
            return False
        host_vars = task_vars.get("ansible_delegated_vars", {}).get(self._task.delegate_to, task_vars)
        interpreter = host_vars.get("ansible_python_interpreter")
        if interpreter is None:
            return True  # the implicit localhost's is this Python; discovery would pick a system one
        interpreter = self._templar.template(interpreter)
        if not isinstance(interpreter, str) or not interpreter.startswith("/"):
            return interpreter in ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
        return os.path.realpath(interpreter) == os.path.realpath(sys.executable)

    def run_module_here(self, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """The module's result, as ``_execute_module`` would have parsed it."""
        name = self.module_name
        self._update_module_args(name, args, task_vars)
        encoder = get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)
        environment: dict[str, str] = {}
        self._compute_environment_string(raw_environment_out=environment)
        stdout = io.StringIO()
        previous = (basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE)
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}, cls=encoder).encode()
        basic._ANSIBLE_PROFILE = PROFILE
        try:
            # exit_json and fail_json end with sys.exit once the answer is printed
            with _environment(environment), contextlib.redirect_stdout(stdout), contextlib.suppress(SystemExit):
                self.MODULE.main()
        except Exception:  # a bug in the module: what its own process would have printed on stderr
            return {
                "failed": True,
                "msg": f"MODULE FAILURE: {name} raised an exception",
                "module_stdout": stdout.getvalue(),
                "module_stderr": traceback.format_exc(),
            }
        finally:
            basic._ANSIBLE_ARGS, basic._ANSIBLE_PROFILE = previous
        self._used_interpreter = None
        data = self._parse_returned_data({"stdout": stdout.getvalue(), "stderr": "", "rc": 0}, PROFILE)
        remove_internal_keys(data)
        return data


@contextlib.contextmanager
def _environment(values: dict[str, str]):  # type: ignore[no-untyped-def]
    """The task's ``environment`` set for the duration of the module, as its own process would have had it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update({key: str(value) for key, value in values.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
