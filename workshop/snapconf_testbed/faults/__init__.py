"""Fault injection for CSI drivers: an interposer that imitates real driver bugs.

The interposer (``python -m snapconf_testbed.faults.interposer``) sits between the CSI callers
(sidecars, kubelet) and a plugin's socket, forwards every call, and applies the active
faults. The conformance suites run against it to show that they catch each bug. Faults
are switched without a restart through a control file (:mod:`snapconf_testbed.faults.control`).

For the testbed::

    proto_dir = ensure_proto(layout.cache)          # build step, once per CSI version
    argv = interposer_argv(listen, upstream, control, hostpath_state, proto_dir=proto_dir)
    write_active(control, ["never-ready"])          # later: switch faults at run time

Writing a fault
---------------
A fault is a function (or a class whose instances are callable, for faults that keep
state) taking a :class:`Call` and returning a :class:`Reply`, registered by name with
:func:`fault`. Its docstring is required: its first line is the summary shown to users,
and it should say which real driver bug the fault imitates::

    from snapconf_testbed.faults import Call, Reply, fault

    @fault("expand-noop", methods=["ControllerExpandVolume"])
    def expand_noop(call: Call) -> Reply:
        '''Expansion reports success but the volume keeps its size.

        Imitates drivers that acknowledge ControllerExpandVolume before the backend
        resize, which then fails silently.
        '''
        return call.reply(call.csi.ControllerExpandVolumeResponse(
            capacity_bytes=call.request.capacity_range.required_bytes))

Put such faults in a file and pass it with ``--fault-module PATH`` (repeatable); it is run
as a module, and faults it registers join the built-in ones (a name clash is an error).

What a fault may do with ``call``:

- ``call.method.name``: the bare CSI method name (``"CreateVolume"``); a fault is only
  called for the ``methods`` it registered (omit ``methods`` for every unary method).
- ``call.request``: the request message (``csi.v1`` protobuf), parsed on first use;
  changes to it (or assigning a new one) are what goes upstream.
- ``call.forward()``: run the next active fault, or upstream after the last; returns a
  :class:`Reply` whose ``.message`` is parsed on first use and may be changed or replaced.
  Not calling it means the plugin never sees the call.
- ``call.reply(message)``: a reply the fault makes itself.
- ``call.invoke("ListSnapshots", request)``: a side call upstream no fault sees; returns
  the response message.
- ``call.abort(grpc.StatusCode.UNAVAILABLE, "...")``: fail the call. Upstream errors come
  out of ``forward()``/``invoke()`` as :class:`CallError` (``code``, ``details``).
- ``call.csi``: the generated CSI module (``call.csi.CreateVolumeResponse()``).
- ``call.sleep(seconds)``: wait; returns False early when the caller gives up.
- ``call.hostpath_state``: the hostpath plugin's state dir (``--hostpath-state``) or None.
- ``call.log(text)``: a line on the interposer's stderr, tagged with fault and method.

A function fault serves every activation; a class fault is instantiated (no arguments)
each time it is switched on, so counters start afresh. Several active faults chain in the
order they were listed, the first outermost. Calls run concurrently: guard shared state
with a lock. Streaming and unknown methods always pass through untouched.
"""

from __future__ import annotations

from pathlib import Path

from snapconf_testbed.faults import builtin as _builtin  # noqa: F401 - registers the faults
from snapconf_testbed.faults.call import Call, CallError, CsiMessage, Reply
from snapconf_testbed.faults.control import (
    ControlError,
    UnknownFaultError,
    read_active,
    validate_names,
    write_active,
)
from snapconf_testbed.faults.errors import FaultError
from snapconf_testbed.faults.launch import interposer_argv
from snapconf_testbed.faults.proto import ProtoError, ensure_proto
from snapconf_testbed.faults.registry import BUILTIN, FaultModuleError, fault, registry_with

KNOWN_FAULTS: tuple[str, ...] = BUILTIN.names()
"""The built-in faults, in definition order."""


def available_faults(fault_module: Path | None = None) -> dict[str, str]:
    """Every fault name with its one-line summary: built-in, plus a user module's.

    Raises:
        FaultModuleError: the module cannot be loaded.
    """
    registry = registry_with([fault_module] if fault_module is not None else [])
    return {spec.name: spec.summary for spec in registry}


__all__ = [
    "KNOWN_FAULTS",
    "Call",
    "CallError",
    "ControlError",
    "CsiMessage",
    "FaultError",
    "FaultModuleError",
    "ProtoError",
    "Reply",
    "UnknownFaultError",
    "available_faults",
    "ensure_proto",
    "fault",
    "interposer_argv",
    "read_active",
    "validate_names",
    "write_active",
]
