# Private to this collection.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One pyvmomi session with a vCenter (or an ESXi host), for the jarvis.deploy.vsphere_instance module.

Every call maps vSphere faults (vim.fault.*, vmodl.MethodFault) and connection errors to a VsphereError
whose message names what was attempted and the fault's class, never the password.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import traceback

from ansible_collections.jarvis.deploy.plugins.module_utils._instance import poll

try:
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl
except ImportError:
    vim = vmodl = None
    PYVMOMI_IMPORT_ERROR = traceback.format_exc()
else:
    PYVMOMI_IMPORT_ERROR = None

FIRST_POLL = 0.1  # seconds before the first look again at a vSphere task or guest (the poll backs off)


class VsphereError(Exception):
    """A failure whose message is safe to show: it names the call and vSphere's fault, never a secret."""


def fault_text(fault):
    """A vSphere fault as "vim.fault.InvalidState: message"."""
    name = type(fault).__name__  # pyvmomi names fault classes by their vmodl name
    message = getattr(fault, "msg", None) or ""
    if not message and getattr(fault, "faultMessage", None):
        message = "; ".join(m.message for m in fault.faultMessage if getattr(m, "message", None))
    return f"{name}: {message}" if message else name


class Vcenter:
    """One session with a vCenter (or ESXi) whose every call fails with a VsphereError naming what was attempted."""

    def __init__(self, host, port, username, password, validate_certs):
        self.where = f"{host}:{port}"
        # pyvmomi skips certificate checks for localhost unless given a context: validate_certs decides.
        context = ssl.create_default_context() if validate_certs else None
        try:
            self._si = SmartConnect(
                host=host,
                port=port,
                user=username,
                pwd=password,
                sslContext=context,
                disableSslCertValidation=not validate_certs,
                httpConnectionTimeout=60,
            )
        except vmodl.MethodFault as exc:
            raise VsphereError(f"logging in to vCenter {self.where} as {username} failed: {fault_text(exc)}") from None
        except ssl.SSLCertVerificationError as exc:
            raise VsphereError(
                f"cannot connect to vCenter {self.where}: its certificate is not trusted ({exc.verify_message}); "
                "install its CA or set validate_certs=false"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise VsphereError(f"cannot connect to vCenter {self.where}: {exc}") from None
        except Exception as exc:  # pyVim raises plain Exception for a server that is no vCenter
            raise VsphereError(f"cannot connect to vCenter {self.where}: {exc}") from None
        self.content = self.call("reading the service content", self._si.RetrieveContent)

    def close(self):
        with contextlib.suppress(vmodl.MethodFault, OSError, http.client.HTTPException):
            Disconnect(self._si)

    def call(self, what, func, *args, **kwargs):
        """Call FUNC; WHAT says in words what it was for, in case it fails."""
        try:
            return func(*args, **kwargs)
        except vmodl.MethodFault as exc:
            raise VsphereError(f"{what} failed: {fault_text(exc)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise VsphereError(f"{what} failed: lost vCenter {self.where}: {exc}") from None

    def wait_task(self, what, task, budget):
        """Wait for TASK within what is left of BUDGET; return its result or raise its fault."""

        def attempt():
            info = self.call(what, getattr, task, "info")
            if info.state == "error":
                raise VsphereError(f"{what} failed: {fault_text(info.error)}")
            return info.state == "success", info.result

        def expired():
            return VsphereError(
                f"{what} did not finish within wait_timeout ({budget.seconds}s for the whole task); "
                f"vCenter task {task._moId} goes on"
            )

        return poll(budget, attempt, expired, FIRST_POLL)

    def retrieve(self, what, root, kind, paths):
        """PATHS of every KIND below ROOT, as {managed object: {path: value}}, in one collector call."""
        view = self.call(what, self.content.viewManager.CreateContainerView, root, [kind], True)
        try:
            collector = vmodl.query.PropertyCollector
            spec = collector.FilterSpec(
                objectSet=[
                    collector.ObjectSpec(
                        obj=view,
                        skip=True,
                        selectSet=[
                            collector.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)
                        ],
                    )
                ],
                propSet=[collector.PropertySpec(type=kind, pathSet=list(paths))],
            )
            return self._collect(what, [spec])
        finally:
            self.call(what, view.DestroyView)

    def properties(self, what, obj, paths):
        """PATHS of the one managed object OBJ, as {path: value}."""
        collector = vmodl.query.PropertyCollector
        spec = collector.FilterSpec(
            objectSet=[collector.ObjectSpec(obj=obj, skip=False)],
            propSet=[collector.PropertySpec(type=type(obj), pathSet=list(paths))],
        )
        found = self._collect(what, [spec])
        return found.get(obj, {})

    def _collect(self, what, specs):
        collector = self.content.propertyCollector
        result = self.call(what, collector.RetrievePropertiesEx, specs, vmodl.query.PropertyCollector.RetrieveOptions())
        found = {}
        while result is not None:
            for content in result.objects or []:
                found[content.obj] = {prop.name: prop.val for prop in content.propSet or []}
            token = result.token
            result = self.call(what, collector.ContinueRetrievePropertiesEx, token) if token else None
        return found

    def find(self, what, root, kind, name):
        """The KINDs below ROOT named NAME (vSphere allows several, in different folders)."""
        found = self.retrieve(what, root, kind, ["name"])
        return [obj for obj, props in found.items() if props.get("name") == name]

    def one(self, root, kind, name, label, where):
        """The one KIND named NAME below ROOT, or a VsphereError saying what is missing (LABEL, WHERE)."""
        found = self.find(f"looking up {label} {name}", root, kind, name)
        if not found:
            raise VsphereError(f"{label} {name} not found {where}")
        if len(found) > 1:
            raise VsphereError(f"several {label}s are named {name} {where}: {', '.join(o._moId for o in found)}")
        return found[0]

    def datacenter_of(self, obj):
        """The name of the datacenter OBJ is in, or None."""
        current = obj
        for _depth in range(32):
            parent = self.properties("reading the inventory", current, ["parent"]).get("parent")
            if parent is None:
                return None
            if isinstance(parent, vim.Datacenter):
                return self.properties("reading the inventory", parent, ["name"]).get("name")
            current = parent
        return None
