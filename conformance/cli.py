"""The ``snapconf`` command line.

It runs the suites, validates profiles, rebuilds reports, and cleans up what runs left
behind; ``snapconf testbed`` is the testbed extra's (:mod:`conformance.testbed_hook`).

Bad input ends with one clear sentence on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conformance import __version__, testbed_hook

if TYPE_CHECKING:
    from conformance.testbed_hook import TestbedHook

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one sentence, exit status 2."""


def _fail(message: str) -> int:
    sys.stderr.write(f"snapconf: {message}\n")
    return EXIT_USAGE


def _testbed_missing(args: argparse.Namespace) -> int:
    raise UsageError(testbed_hook.MISSING)


# ---------------------------------------------------------------- profile


def cmd_profile(args: argparse.Namespace) -> int:
    # here, not at the top: keeps `snapconf --help` fast (PyYAML and the profile model)
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


def build_parser(testbed: TestbedHook | None = None) -> argparse.ArgumentParser:
    """The ``snapconf`` parser; ``snapconf testbed``'s arguments come from ``testbed``.

    Without it (the extra is not installed, or the command is not ``testbed``: loading
    the testbed would slow every other command) ``testbed`` is only named.
    """
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
            "$KUBECONFIG unset) the embedded testbed (the testbed extra) is brought up and "
            "used with the hostpath profile. Arguments after -- go to pytest."
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
        help="the embedded single-node cluster (the testbed extra)",
        description=testbed_hook.MISSING,
    )
    if testbed is not None:
        testbed.configure_command(tb)
    else:
        tb.set_defaults(func=_testbed_missing)

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
    # here, not at the top: keeps `snapconf --help` fast (rbac loads the kubernetes client)
    from conformance import rbac

    if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", args.name) or len(args.name) > 63:
        raise UsageError(f"--name {args.name!r} is not a DNS label (lower-case, digits, '-')")
    if args.action == "apply" and args.out is None:
        raise UsageError("rbac apply needs --out PATH for the kubeconfig it writes")
    if args.action == "apply" and not 10 / 60 <= args.token_hours <= 24 * 365:
        raise UsageError("--token-hours must be between 0.17 (10 minutes) and 8760")
    # here, not at the top: keeps `snapconf --help` fast (the runner loads pytest)
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
    words = list(sys.argv[1:] if argv is None else argv)
    testbed = None
    if words[:1] == ["testbed"]:
        testbed = testbed_hook.load()
        if testbed is None:
            return _fail(testbed_hook.MISSING)
    parser = build_parser(testbed)
    args = parser.parse_args(words)
    # here, not at the top: keeps `snapconf --help` fast (it exits in parse_args, before
    # the kubernetes client loads)
    from conformance.kube import KubeError

    try:
        return int(args.func(args))
    except UsageError as err:
        return _fail(str(err))
    except testbed_hook.TestbedFailed as err:
        sys.stderr.write(f"snapconf: {err}\n")
        return 1
    except KubeError as err:
        sys.stderr.write(f"snapconf: the cluster failed a request: {err}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("snapconf: interrupted\n")
        return 130


def cmd_run(args: argparse.Namespace) -> int:
    # here, not at the top: keeps `snapconf --help` fast (the runner loads pytest)
    from conformance.runner import run

    return run(args)


def cmd_report(args: argparse.Namespace) -> int:
    # here, not at the top: keeps `snapconf --help` fast (the runner loads pytest)
    from conformance.runner import rebuild_report

    return rebuild_report(args)


def cmd_cleanup(args: argparse.Namespace) -> int:
    # here, not at the top: keeps `snapconf --help` fast (the runner loads pytest)
    from conformance.runner import cleanup

    return cleanup(args)


if __name__ == "__main__":
    sys.exit(main())
