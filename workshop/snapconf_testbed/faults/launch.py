"""The interposer's command line, for the testbed to start it as one more host process.

Kept apart from ``interposer.py`` so building argv imports no gRPC server code, and so
``python -m snapconf_testbed.faults.interposer`` is never imported twice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

StrPath = str | os.PathLike[str]


def _endpoint(value: StrPath) -> str:
    text = os.fspath(value)
    if text.startswith("unix:"):
        return text
    return f"unix://{Path(text).resolve()}"


def interposer_argv(
    listen: StrPath,
    upstream: StrPath,
    control: StrPath | None,
    hostpath_state: StrPath | None,
    fault_module: StrPath | None = None,
    *,
    faults: Iterable[str] = (),
    proto_dir: StrPath | None = None,
    python: str | None = None,
) -> list[str]:
    """The argv that runs the interposer.

    Args:
        listen: socket the interposer serves (a path or ``unix:///path``); what the
            sidecars' ``--csi-address`` and kubelet's registration path should name.
        upstream: the hostpath plugin's socket (its ``--endpoint``).
        control: the control file ``snapconf testbed fault set`` writes; None for none.
        hostpath_state: the plugin's ``--statedir`` (needed by ``restore-corrupt``).
        fault_module: a user's Python file with more faults.
        faults: faults active at start; with ``control`` they are written into it, and
            with none given the control file's current content applies.
        proto_dir: what :func:`snapconf_testbed.faults.ensure_proto` returned; without it the
            interposer runs ``ensure_proto()`` on the default cache at start.
        python: the interpreter (default: this one).
    """
    argv = [
        python or sys.executable, "-m", "snapconf_testbed.faults.interposer",
        "--listen", _endpoint(listen), "--upstream", _endpoint(upstream),
    ]  # fmt: skip
    names = [n for n in faults if n]
    if names:
        argv += ["--faults", ",".join(names)]
    if control is not None:
        argv += ["--control", str(Path(control).resolve())]
    if hostpath_state is not None:
        argv += ["--hostpath-state", str(Path(hostpath_state).resolve())]
    if fault_module is not None:
        argv += ["--fault-module", str(Path(fault_module).resolve())]
    if proto_dir is not None:
        argv += ["--proto-dir", str(Path(proto_dir).resolve())]
    return argv
