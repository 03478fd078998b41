"""``snapconf testbed``: its arguments and actions (bring up, down, status, faults).

The core's ``snapconf`` command line hands ``snapconf testbed ...`` to :func:`configure`
and :func:`cmd_testbed` through :mod:`conformance.testbed_hook`; bad input raises the core's
:class:`~conformance.cli.UsageError` (one sentence, exit status 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from conformance.cli import UsageError
from snapconf_testbed import testbed
from snapconf_testbed.layout import Layout
from snapconf_testbed.testbed import driver
from snapconf_testbed.testbed.cluster import BUILTIN, DriverChoice, driver_lines, set_faults
from snapconf_testbed.testbed.driver import DEFAULT_ARGS, PLACEHOLDERS

#: ``snapconf testbed --help``: what the testbed is and does.
DESCRIPTION = (
    "The embedded testbed: a real single-node cluster as host processes. "
    "'fault set NAME...|none' switches the CSI fault interposer's faults on a "
    "running testbed; 'fault list' names them. 'up --driver PATH' runs your CSI "
    "driver binary as the node and controller plugin instead of the built-in "
    "hostpath driver, behind the same fault interposer (faults that need the "
    "built-in driver's state directory fail their calls); on a running testbed "
    "only the CSI processes are replaced. 'up' without --driver keeps the driver "
    "that runs; 'status' names it."
)


def configure(tb: argparse.ArgumentParser) -> None:
    """The arguments of ``snapconf testbed``."""
    tb.description = DESCRIPTION
    tb.add_argument("action", choices=["up", "down", "status", "kubeconfig", "fault"])
    tb.add_argument("fault_args", nargs="*", metavar="ARG", help="for 'fault': set NAME...|list")
    tb.add_argument(
        "--fault",
        action="append",
        default=None,
        metavar="NAME[,NAME...]",
        help="with 'up': faults the CSI interposer applies (see 'testbed fault list')",
    )
    tb.add_argument(
        "--fault-module", type=Path, help="with 'up': a Python file defining more faults"
    )
    tb.add_argument(
        "--driver",
        type=Path,
        metavar="PATH",
        help="with 'up': your CSI driver binary, run as the node and controller plugin "
        "(logs/csi-driver.log); it must serve CSI on {endpoint}",
    )
    tb.add_argument(
        "--driver-arg",
        action="append",
        default=None,
        metavar="ARG",
        help="with 'up --driver': one argument of the driver (repeatable; write "
        "--driver-arg=--flag=value when it starts with '-'). Placeholders: "
        + ", ".join(f"{{{name}}} ({text})" for name, text in PLACEHOLDERS.items())
        + "; {{ and }} are literal braces. Without any: "
        + " ".join(DEFAULT_ARGS).replace("%", "%%"),
    )
    tb.add_argument(
        "--registrar",
        type=Path,
        metavar="PATH",
        help="with 'up --driver': a node-driver-registrar binary to register the driver with "
        "kubelet, run with --csi-address, --kubelet-registration-path and "
        "--plugin-registration-path (logs/csi-registrar.log); without it the built-in "
        "hostpathplugin --register-only registers the name the driver reports (GetPluginInfo)",
    )
    tb.add_argument(
        "--builtin-driver",
        action="store_true",
        help="with 'up': run the built-in hostpath driver (switches a testbed running "
        "--driver back)",
    )


def _csi_driver_choice(args: argparse.Namespace) -> DriverChoice:
    """What ``testbed up`` was told to run as the CSI driver (None: keep what runs).

    Raises:
        UsageError: driver flags without ``up``/``--driver``, or a bad path or placeholder.
    """
    given = [
        flag
        for flag, value in (
            ("--driver", args.driver),
            ("--driver-arg", args.driver_arg),
            ("--registrar", args.registrar),
            ("--builtin-driver", args.builtin_driver or None),
        )
        if value is not None
    ]
    if given and args.action != "up":
        raise UsageError(f"{given[0]} goes with 'testbed up', not 'testbed {args.action}'")
    if args.builtin_driver and args.driver is not None:
        raise UsageError("--driver and --builtin-driver exclude each other")
    if args.driver is None:
        if args.driver_arg is not None or args.registrar is not None:
            flag = "--driver-arg" if args.driver_arg is not None else "--registrar"
            raise UsageError(f"{flag} needs --driver PATH (the CSI driver binary)")
        return BUILTIN if args.builtin_driver else None
    try:
        return driver.make_spec(args.driver, args.driver_arg, args.registrar)
    except driver.DriverError as err:
        raise UsageError(str(err)) from err


def cmd_testbed(args: argparse.Namespace) -> int:
    layout = Layout.default()
    if args.action != "fault" and args.fault_args:
        raise UsageError(f"testbed {args.action} takes no arguments: {' '.join(args.fault_args)}")
    choice = _csi_driver_choice(args)
    if args.action == "fault":
        return _cmd_fault(layout, args.fault_args)
    if args.action == "up":
        faults = [n for item in args.fault or [] for n in item.split(",") if n]
        testbed.up(
            layout, faults=faults if args.fault is not None else None,
            fault_module=args.fault_module, csi_driver=choice,
        )  # fmt: skip
    elif args.action == "down":
        testbed.down(layout)
    elif args.action == "kubeconfig":
        print(layout.kubeconfig)
        return 0 if layout.kubeconfig.exists() else 1
    else:
        rows = testbed.status(layout)
        width = max(len(r.name) for r in rows)
        for row in rows:
            state = "running" if row.running else ("dead" if row.pid else "stopped")
            pid = f"pid {row.pid}" if row.pid else ""
            print(f"{row.name:<{width}}  {state:<8} {pid}")
        for line in driver_lines(layout):
            print(line)
        up = all(r.running for r in rows)
        print(f"kubeconfig: {layout.kubeconfig}" if up else "testbed is not (fully) up")
        return 0 if up else 1
    return 0


def _cmd_fault(layout: Layout, words: list[str]) -> int:
    # not at the top: keeps `snapconf testbed --help` free of grpc (the faults load it)
    from snapconf_testbed.faults import FaultError, available_faults, validate_names

    if words[:1] == ["list"]:
        # not at the top: keeps `snapconf testbed --help` free of grpc (the faults load it)
        from snapconf_testbed.faults.hostpath import NEEDS_STATE

        for name, summary in available_faults(layout.user_fault_module()).items():
            only = " (built-in driver only)" if name in NEEDS_STATE else ""
            print(f"{name:<24} {summary}{only}")
        return 0
    if words[:1] != ["set"] or len(words) < 2:
        raise UsageError("usage: snapconf testbed fault set NAME...|none, or fault list")
    names = [n for word in words[1:] for n in word.split(",") if n]
    try:
        validate_names(names, available_faults(layout.user_fault_module()))
    except FaultError as err:
        raise UsageError(str(err)) from err
    set_faults(layout, [] if names == ["none"] else names)
    return 0
