"""A user's CSI driver on the testbed, in place of the built-in hostpath plugin.

``snapconf testbed up --driver PATH [--driver-arg ARG ...] [--registrar PATH]`` runs PATH
as the node and controller plugin. It sits behind the same fault interposer as the
built-in driver: the sidecars and kubelet dial the interposer, and the interposer's
upstream is the socket the driver listens on. So faults work on a user's driver too,
except those that need the built-in driver's state directory (``restore-corrupt``): the
interposer gets no state directory, and such a fault fails the call with its own message.

The driver's arguments are templates with these placeholders (``{{`` and ``}}`` for a
literal brace):

- ``{endpoint}``: ``unix://`` URL of the socket the driver must listen on;
- ``{socket}``: the same socket as a bare path;
- ``{node}``: the node name, which kubelet expects as the CSI node id;
- ``{state_dir}``: a directory of the testbed for the driver's data (removed by ``down``).

Without ``--driver-arg`` the arguments are :data:`DEFAULT_ARGS`, the common CSI
convention; the environment also has ``CSI_ENDPOINT`` and ``KUBE_NODE_NAME``, which
deployments commonly pass. There is no placeholder for the driver's name: the testbed learns it from
the driver itself (GetPluginInfo), once it runs.

Registration with kubelet: by default the built-in hostpathplugin binary runs with
``--register-only``, serving kubelet's plugin registration for the name the driver
reported, so no node-driver-registrar binary is needed. ``--registrar PATH`` runs the
user's node-driver-registrar instead, with its standard flags (:func:`registrar_argv`).

The choice is kept in ``<state>/driver.json`` so ``status`` names it and a later ``up``
without ``--driver`` keeps it.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapconf_testbed.layout import DRIVER_NAME, NODE_NAME, Layout

PLACEHOLDERS: Mapping[str, str] = {
    "endpoint": "unix:// URL of the socket the driver must listen on",
    "socket": "the same socket as a bare path",
    "node": "the node name, the CSI node id kubelet expects",
    "state_dir": "a directory of the testbed for the driver's data",
}
DEFAULT_ARGS: tuple[str, ...] = ("--endpoint={endpoint}", "--nodeid={node}")
"""The driver's arguments when no ``--driver-arg`` is given (the common CSI convention)."""

DRIVER = "csi-driver"
"""Component name of the user's driver: its PID file and ``logs/csi-driver.log``."""
REGISTRAR = "csi-registrar"
"""Component name of what registers it with kubelet: ``logs/csi-registrar.log``."""

# A CSIDriver's name: a DNS subdomain of at most 63 characters (the CSI spec's limit).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class DriverError(ValueError):
    """Bad ``--driver``/``--driver-arg``/``--registrar`` input: one sentence for the user."""


class PluginInfoError(RuntimeError):
    """The driver did not answer GetPluginInfo usefully."""


@dataclass(frozen=True)
class DriverSpec:
    """A user's CSI driver as ``testbed up --driver`` was given it.

    ``args`` are templates (placeholders unsubstituted); ``name`` and ``vendor_version``
    are what the driver answered to GetPluginInfo, empty until it has run.
    """

    path: Path
    args: tuple[str, ...] = DEFAULT_ARGS
    registrar: Path | None = None
    name: str = field(default="", compare=False)
    vendor_version: str = field(default="", compare=False)

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "args": list(self.args),
            "registrar": str(self.registrar) if self.registrar else None,
            "name": self.name,
            "vendorVersion": self.vendor_version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> DriverSpec:
        args = data.get("args")
        registrar = data.get("registrar")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError("args must be a list of strings")
        return cls(
            path=Path(str(data["path"])),
            args=tuple(args),
            registrar=Path(str(registrar)) if registrar else None,
            name=str(data.get("name") or ""),
            vendor_version=str(data.get("vendorVersion") or ""),
        )


def _placeholders(arg: str) -> list[str]:
    """The placeholder names in one argument template.

    Raises:
        DriverError: a lone brace, an empty ``{}``, a conversion or format spec, or a
            name that is not a placeholder.
    """
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    try:
        parsed = list(string.Formatter().parse(arg))
    except ValueError as err:
        raise DriverError(
            f"--driver-arg {arg!r}: unbalanced braces (write {{{{ and }}}} for literal braces)"
        ) from err
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        if name not in PLACEHOLDERS or spec or conversion:
            raise DriverError(
                f"--driver-arg {arg!r}: unknown placeholder {shown}}}; the placeholders are "
                f"{known} (write {{{{ and }}}} for literal braces)"
            )
        names.append(name)
    return names


def check_args(args: Sequence[str]) -> None:
    """Raise :class:`DriverError` for the first argument with a bad placeholder."""
    for arg in args:
        _placeholders(arg)


def substitute(args: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The arguments with their placeholders filled in from ``values``."""
    check_args(args)
    return [arg.format_map(values) for arg in args]


def placeholder_values(layout: Layout) -> dict[str, str]:
    """What each placeholder stands for on this testbed."""
    return {
        "endpoint": f"unix://{layout.csi_socket}",
        "socket": str(layout.csi_socket),
        "node": NODE_NAME,
        "state_dir": str(layout.driver_data),
    }


def _executable(path: Path, flag: str) -> Path:
    """``path`` made absolute, or DriverError when it is no executable file."""
    full = Path(os.path.abspath(path.expanduser()))
    if not full.exists():
        raise DriverError(f"{flag} {path}: no such file")
    if not full.is_file():
        raise DriverError(f"{flag} {path}: not a file")
    if not os.access(full, os.X_OK):
        raise DriverError(f"{flag} {path}: not executable (chmod +x it)")
    return full


def make_spec(
    path: Path, args: Sequence[str] | None = None, registrar: Path | None = None
) -> DriverSpec:
    """Check the user's input and make the :class:`DriverSpec` (paths made absolute).

    Raises:
        DriverError: a path that is no executable file, or a bad placeholder.
    """
    templates = tuple(args) if args else DEFAULT_ARGS
    check_args(templates)
    return DriverSpec(
        path=_executable(path, "--driver"),
        args=templates,
        registrar=_executable(registrar, "--registrar") if registrar is not None else None,
    )


def driver_argv(spec: DriverSpec, layout: Layout) -> list[str]:
    """The user's driver's command line."""
    return [str(spec.path), *substitute(spec.args, placeholder_values(layout))]


def driver_env(layout: Layout) -> dict[str, str]:
    """Environment for the driver: the variables CSI deployments commonly pass."""
    values = placeholder_values(layout)
    return {"CSI_ENDPOINT": values["endpoint"], "KUBE_NODE_NAME": values["node"]}


def registrar_argv(spec: DriverSpec, layout: Layout, name: str, hostpathplugin: Path) -> list[str]:
    """The command line of what registers the driver ``name`` with kubelet.

    Kubelet is told to dial the interposer's socket, so its Node calls pass the faults
    too. The user's node-driver-registrar asks the driver's own socket for the name
    (``--csi-address``); the built-in one is told it (``--drivername``).
    """
    if spec.registrar is not None:
        return [
            str(spec.registrar),
            f"--csi-address={layout.csi_socket}",
            f"--kubelet-registration-path={layout.interposer_socket}",
            f"--plugin-registration-path={layout.plugins_registry}",
        ]
    return [
        str(hostpathplugin),
        "--register-only",
        f"--drivername={name}",
        f"--plugin-registration-dir={layout.plugins_registry}",
        f"--kubelet-registration-path={layout.interposer_socket}",
    ]


def registration_socket(layout: Layout, name: str) -> Path:
    """Where kubelet finds the registration of ``name`` (node-driver-registrar's naming)."""
    return layout.plugins_registry / f"{name}-reg.sock"


def save(layout: Layout, spec: DriverSpec | None) -> None:
    """Record the testbed's driver (None: the built-in one)."""
    if spec is None:
        layout.driver_file.unlink(missing_ok=True)
        return
    layout.driver_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = layout.driver_file.with_name(layout.driver_file.name + ".tmp")
    tmp.write_text(json.dumps(spec.to_json(), indent=2) + "\n")
    tmp.replace(layout.driver_file)


def load(layout: Layout) -> DriverSpec | None:
    """The user's driver the testbed runs, or None for the built-in one.

    An unreadable record counts as none: the testbed is then not healthy (the built-in
    plugin does not run) and the next ``up`` starts afresh.
    """
    try:
        data = json.loads(layout.driver_file.read_text())
        return DriverSpec.from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def check_name(name: str) -> None:
    """Raise PluginInfoError unless ``name`` can name a CSIDriver object."""
    if not name:
        raise PluginInfoError("GetPluginInfo returned an empty name")
    if len(name) > 63 or not _NAME.match(name):
        raise PluginInfoError(
            f"GetPluginInfo returned the name {name!r}, which cannot name a CSIDriver "
            "(lower-case letters, digits, '-' and '.', at most 63 characters)"
        )


def plugin_info(socket: Path, proto_dir: Path, timeout: float = 30.0) -> tuple[str, str]:
    """Ask the driver on ``socket`` its name and vendor version (CSI GetPluginInfo).

    Asked on the driver's own socket, not through the interposer, so no active fault
    changes the answer.

    Raises:
        PluginInfoError: no answer within ``timeout`` seconds, an error, or a bad name.
    """
    # not at the top: keeps `snapconf testbed --help` free of grpc (it reads DEFAULT_ARGS)
    import grpc

    from snapconf_testbed.faults.proto import load_csi

    method = load_csi(proto_dir).method("GetPluginInfo")
    with grpc.insecure_channel(f"unix://{socket}") as channel:
        call: Any = channel.unary_unary(
            method.path,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=method.response_type.FromString,
        )
        try:
            reply = call(method.request_type(), timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PluginInfoError(
                    f"no answer to GetPluginInfo on {socket} within {timeout:.0f}s"
                ) from None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            name = code.name if code is not None else "error"
            raise PluginInfoError(f"GetPluginInfo on {socket} failed: {name}: {details}") from None
    name = str(reply.name)
    check_name(name)
    return name, str(reply.vendor_version)


def describe(spec: DriverSpec | None, layout: Layout) -> list[str]:
    """Lines for ``snapconf testbed status`` (and ``up``) naming the testbed's CSI driver."""
    if spec is None:
        return [f"CSI driver: built-in hostpathplugin ({DRIVER_NAME})"]
    info = f"GetPluginInfo name {spec.name}" if spec.name else "name not known yet"
    if spec.vendor_version:
        info += f", vendor version {spec.vendor_version}"
    args = " ".join(substitute(spec.args, placeholder_values(layout)))
    if spec.registrar is not None:
        registrar = f"{spec.registrar} (node-driver-registrar flags)"
    else:
        registrar = "built-in hostpathplugin --register-only"
    return [
        f"CSI driver: {spec.path} ({info})",
        f"  args: {args or '(none)'}",
        f"  registered with kubelet by: {registrar}",
        f"  logs: {layout.log(DRIVER)}, {layout.log(REGISTRAR)}",
    ]
