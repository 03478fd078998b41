"""The ``snapconf`` command line.

It runs the suites, manages the testbed, validates profiles, rebuilds reports, and
cleans up what runs left behind.

Bad input ends with one clear sentence on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conformance import __version__

if TYPE_CHECKING:
    from conformance.testbed.cluster import DriverChoice
    from conformance.testbed.layout import Layout

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one sentence, exit status 2."""


def _fail(message: str) -> int:
    sys.stderr.write(f"snapconf: {message}\n")
    return EXIT_USAGE


# ---------------------------------------------------------------- testbed


def _csi_driver_choice(args: argparse.Namespace) -> DriverChoice:
    """What ``testbed up`` was told to run as the CSI driver (None: keep what runs).

    Raises:
        UsageError: driver flags without ``up``/``--driver``, or a bad path or placeholder.
    """
    from conformance.testbed import driver
    from conformance.testbed.cluster import BUILTIN

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
    from conformance import testbed
    from conformance.testbed.layout import Layout

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
        from conformance.testbed.cluster import driver_lines

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
    from conformance.faults import FaultError, available_faults, validate_names
    from conformance.testbed.cluster import set_faults

    if words[:1] == ["list"]:
        from conformance.faults.hostpath import NEEDS_STATE

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


# ---------------------------------------------------------------- profile


def cmd_profile(args: argparse.Namespace) -> int:
    from conformance.profile import ProfileError, load_profile

    try:
        profile = load_profile(Path(args.path))
    except ProfileError as err:
        return _fail(str(err))
    declared = sorted(name for name, on in profile.capabilities.items() if on)
    print(f"{args.path}: valid profile for driver {profile.driver}")
    print(f"capabilities: {', '.join(declared) or '(none)'}")
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from conformance.testbed.driver import DEFAULT_ARGS, PLACEHOLDERS

    parser = argparse.ArgumentParser(
        prog="snapconf",
        description="Conformance harness for snapshot-capable CSI drivers.",
    )
    parser.add_argument("--version", action="version", version=f"snapconf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the conformance suites and write the report",
        description=(
            "Run the conformance suites against a cluster. Without --kubeconfig (and with "
            "$KUBECONFIG unset) the embedded testbed is brought up and used with the "
            "hostpath profile. Arguments after -- go to pytest."
        ),
    )
    run.add_argument("--profile", type=Path, help="driver profile (default: the hostpath profile)")
    run.add_argument("--kubeconfig", type=Path, help="kubeconfig of the cluster under test")
    run.add_argument("-n", "--workers", type=int, default=1, help="parallel workers (pytest-xdist)")
    run.add_argument(
        "--area",
        action="extend",
        nargs="+",
        default=[],
        metavar="AREA",
        help="only these areas (--area a b, or repeated)",
    )
    run.add_argument("--report-dir", type=Path, default=Path("reports"), help="where runs go")
    run.add_argument("--manifests", type=Path, help="folder of templates overriding manifests/")
    run.add_argument("--run-id", help="run id (default: generated)")
    run.add_argument("--keep-on-failure", action="store_true", help="keep a failed test's objects")
    run.add_argument("--baseline", type=Path, help="results.json of an earlier run to compare to")
    run.add_argument(
        "--namespace-prefix",
        metavar="PREFIX",
        help="namespaces are named PREFIX-<run-id>-...: a DNS label of at most 22 characters",
    )
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then pytest arguments")
    run.set_defaults(func=cmd_run)

    tb = sub.add_parser(
        "testbed",
        help="the embedded single-node cluster",
        description=(
            "The embedded testbed: a real single-node cluster as host processes. "
            "'fault set NAME...|none' switches the CSI fault interposer's faults on a "
            "running testbed; 'fault list' names them. 'up --driver PATH' runs your CSI "
            "driver binary as the node and controller plugin instead of the built-in "
            "hostpath driver, behind the same fault interposer (faults that need the "
            "built-in driver's state directory fail their calls); on a running testbed "
            "only the CSI processes are replaced. 'up' without --driver keeps the driver "
            "that runs; 'status' names it."
        ),
    )
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
    tb.set_defaults(func=cmd_testbed)

    prof = sub.add_parser("profile", help="driver profiles")
    prof_sub = prof.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    validate = prof_sub.add_parser("validate", help="check a profile; exit 2 naming a bad field")
    validate.add_argument("path")
    validate.set_defaults(func=cmd_profile)

    rep = sub.add_parser(
        "report",
        help="rebuild report.html from a run's results.json, or print its Markdown summary",
        description=(
            "Rebuild RUN_DIR/report.html from RUN_DIR/results.json (--format html, the "
            "default), or print a short Markdown summary for a CI job page and write it to "
            "RUN_DIR/summary.md (--format markdown): the verdict, areas by outcome, each "
            "failure with its reason, what the run left behind, regressions against "
            "--baseline. The exit status is 0 when the report was written, 2 for bad input; "
            "the verdict is snapconf run's."
        ),
    )
    rep.add_argument("run_dir", type=Path)
    rep.add_argument(
        "--format",
        choices=("html", "markdown"),
        default="html",
        help="html: rebuild report.html (default); markdown: print and write summary.md",
    )
    rep.add_argument("--allure", action="store_true", help="also render allure's HTML report")
    rep.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="with --format markdown: results.json of an earlier run to list regressions against",
    )
    rep.set_defaults(func=cmd_report)

    clean = sub.add_parser("cleanup", help="delete what runs left behind, by label only")
    who = clean.add_mutually_exclusive_group(required=True)
    who.add_argument("--run-id", help="the run whose objects to delete")
    who.add_argument("--all", action="store_true", help="every snapconf run's objects")
    clean.add_argument(
        "--kubeconfig", type=Path, help="kubeconfig (default: testbed or $KUBECONFIG)"
    )
    clean.add_argument(
        "--force",
        action="store_true",
        help="also release snapshots and contents that controllers keep on finalizers",
    )
    clean.set_defaults(func=cmd_cleanup)

    rb = sub.add_parser(
        "rbac",
        help="a least-privilege identity for snapconf (ClusterRole, ServiceAccount, token)",
        description=(
            "'apply' creates the ClusterRole of manifests/rbac/, a ServiceAccount in its own "
            "namespace, a binding and the admission policy that keeps the identity to "
            "snapconf's namespaces and away from Secrets (all named --name), and writes a "
            "kubeconfig with a TokenRequest token for it to --out; 'delete' removes them. "
            "--kubeconfig is an identity allowed to manage RBAC (e.g. cluster-admin)."
        ),
    )
    rb.add_argument("action", choices=["apply", "delete"])
    rb.add_argument("--kubeconfig", type=Path, required=True, help="an admin kubeconfig")
    rb.add_argument("--out", type=Path, help="with 'apply': where to write the bound kubeconfig")
    rb.add_argument("--name", default="snapconf", help="name of the objects (default: snapconf)")
    rb.add_argument(
        "--token-hours", type=float, default=12.0, help="with 'apply': token lifetime (hours)"
    )
    rb.set_defaults(func=cmd_rbac)
    return parser


def cmd_rbac(args: argparse.Namespace) -> int:
    import re

    from conformance import rbac

    if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", args.name) or len(args.name) > 63:
        raise UsageError(f"--name {args.name!r} is not a DNS label (lower-case, digits, '-')")
    if args.action == "apply" and args.out is None:
        raise UsageError("rbac apply needs --out PATH for the kubeconfig it writes")
    if args.action == "apply" and not 10 / 60 <= args.token_hours <= 24 * 365:
        raise UsageError("--token-hours must be between 0.17 (10 minutes) and 8760")
    from conformance.runner import kubeconfig_problem

    problem = kubeconfig_problem(args.kubeconfig)
    if problem:
        raise UsageError(problem)
    try:
        if args.action == "apply":
            rbac.apply(
                args.kubeconfig, args.out, name=args.name,
                token_seconds=int(args.token_hours * 3600),
            )  # fmt: skip
        else:
            rbac.delete(args.kubeconfig, name=args.name)
    except rbac.RbacError as err:
        sys.stderr.write(f"snapconf: {err}\n")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snapconf`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from conformance.kube import KubeError
    from conformance.testbed.cluster import TestbedError

    try:
        return int(args.func(args))
    except UsageError as err:
        return _fail(str(err))
    except TestbedError as err:
        sys.stderr.write(f"snapconf: {err}\n")
        return 1
    except KubeError as err:
        sys.stderr.write(f"snapconf: the cluster failed a request: {err}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("snapconf: interrupted\n")
        return 130


def cmd_run(args: argparse.Namespace) -> int:
    from conformance.runner import run

    return run(args)


def cmd_report(args: argparse.Namespace) -> int:
    from conformance.runner import rebuild_report

    return rebuild_report(args)


def cmd_cleanup(args: argparse.Namespace) -> int:
    from conformance.runner import cleanup

    return cleanup(args)


if __name__ == "__main__":
    sys.exit(main())
