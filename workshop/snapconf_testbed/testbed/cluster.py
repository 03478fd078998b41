"""Bring the testbed up, tear it down, and say what runs.

``up`` is idempotent: a healthy testbed is left as it is; anything else (a testbed whose
processes were killed, stale mounts, a leftover bridge) is cleaned first. A component that
fails to start stops the bring-up with its log path and last lines, and everything started
so far is torn down again, so nothing is left half-started.

The CSI plugin is the built-in hostpath driver, or a user's driver (``up --driver``, see
``snapconf_testbed.testbed.driver``) with a registrar beside it. A running testbed switches
between them in place: only the CSI processes (interposer, plugin, registrar, sidecars)
are replaced, unless volumes or snapshots of the running driver exist, which the next one
could not know; then the testbed is brought up afresh.
"""

from __future__ import annotations

import contextlib
import http.client
import shlex
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from conformance import __version__
from snapconf_testbed import build
from snapconf_testbed.layout import CNI_BRIDGE, DRIVER_NAME, NODE_NAME, SERVICE_CIDR, Layout
from snapconf_testbed.testbed import configs, driver, images, pki, preflight, processes
from snapconf_testbed.testbed.driver import DRIVER, REGISTRAR, DriverSpec

if TYPE_CHECKING:
    from conformance.kube import Kube
    from conformance.waits import Waiter

Say = Callable[[str], None]
DriverChoice: TypeAlias = "DriverSpec | Literal['builtin'] | None"

_CLUSTER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "snapshot-controller",
)
SIDECARS = ("csi-provisioner", "csi-snapshotter", "csi-resizer")
BUILTIN_PLUGIN = ("hostpathplugin",)
USER_PLUGIN = (DRIVER, REGISTRAR)
#: Start order of the testbed with the built-in driver; ``down`` stops in reverse.
COMPONENTS = (*_CLUSTER, "csi-interposer", *BUILTIN_PLUGIN, *SIDECARS)
#: Every component either kind of testbed may run, in start order.
ALL_COMPONENTS = (*_CLUSTER, "csi-interposer", *BUILTIN_PLUGIN, *USER_PLUGIN, *SIDECARS)
#: The components a driver switch replaces, in start order.
CSI_COMPONENTS = ALL_COMPONENTS[ALL_COMPONENTS.index("csi-interposer") :]
BUILTIN: Literal["builtin"] = "builtin"
"""``up(csi_driver=BUILTIN)``: run the built-in hostpath driver (``up --builtin-driver``)."""
DRIVER_DEREGISTER_TIMEOUT = 30.0
CGROUP_CONTROLLERS = (
    "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory",
    "net_cls", "net_prio", "perf_event", "pids", "rdma", "systemd",
)  # fmt: skip
STARTUP_TIMEOUT = 120.0
GROUP_SNAPSHOT_GATE = "CSIVolumeGroupSnapshot"
"""external-snapshotter's feature gate for VolumeGroupSnapshots (snapshot-controller and
csi-snapshotter ``--feature-gates``; GA and on by default in v8.7.0)."""


class TestbedError(RuntimeError):
    """Bring-up or teardown failed; the message is meant for the user as it is."""


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``snapconf testbed status``."""

    name: str
    pid: int | None
    running: bool


def components_for(spec: DriverSpec | None) -> tuple[str, ...]:
    """The components of a testbed running ``spec`` (None: the built-in driver), in order."""
    plugin = BUILTIN_PLUGIN if spec is None else USER_PLUGIN
    return (*_CLUSTER, "csi-interposer", *plugin, *SIDECARS)


def active_components(layout: Layout) -> tuple[str, ...]:
    """The components of this testbed, by the driver it records."""
    return components_for(driver.load(layout))


def csi_log_files(layout: Layout) -> dict[str, Path]:
    """The log file of each snapshot and CSI host process of this testbed, by component.

    The snapshot-controller, the interposer, the driver (and its registrar, for a user's
    driver) and the sidecars: what a failed test's diagnostics carry.
    """
    names = active_components(layout)
    return {name: layout.log(name) for name in names[names.index("snapshot-controller") :]}


def _argv(
    layout: Layout,
    bins: dict[str, Path],
    proto_dir: Path | None = None,
    spec: DriverSpec | None = None,
) -> dict[str, list[str]]:
    """The command line of every component (but a user driver's registrar: see below).

    The sidecars and kubelet reach the plugin through the fault interposer, which is
    transparent until ``snapconf testbed fault set`` (or ``up --fault``) turns faults on.
    With a user's driver (``spec``) the interposer gets no hostpath state directory, so
    faults that need it fail the call with their own message; the registrar's command
    line needs the driver's name, known once it runs (:func:`driver.registrar_argv`).
    """
    # not at the top: keeps `snapconf testbed --help` free of grpc (the faults load it)
    from snapconf_testbed.faults import interposer_argv

    pki_dir, cfg, ports = layout.pki, layout.config, layout.ports
    admin = str(layout.kubeconfig)
    sock = str(layout.interposer_socket)
    module = layout.user_fault_module()
    # The controllers' client-side rate limit: their default (5 QPS, burst 10) made the
    # snapshot-controller wait ~600 times in one full run (a group snapshot took 14 s to
    # become ready, most of it "client-side throttling"), and a group deleted within that
    # lag hit the controller race that resources.wait_group_content_gone takes over. One
    # node and one apiserver on loopback take far more; a user's cluster keeps its own.
    sidecar = [
        "--kubeconfig", admin, "--leader-election=false", "--v=3",
        "--kube-api-qps=50", "--kube-api-burst=100",
    ]  # fmt: skip
    # VolumeGroupSnapshots (issue 15). external-snapshotter v8.7.0's gate is GA and on by
    # default (pkg/features: CSIVolumeGroupSnapshot, Default: true, GA); it is named here
    # so the testbed does not depend on that default (setting a GA gate logs one warning
    # at start). Both binaries look for the group CRDs once, at start, and run without
    # group snapshots when they are missing: _bring_up installs every CRD of the pinned
    # client/config/crd (group ones included) before starting them.
    group_snapshots = f"--feature-gates={GROUP_SNAPSHOT_GATE}=true"
    plugin: dict[str, list[str]] = (
        {
            "hostpathplugin": [
                str(bins["hostpathplugin"]),
                f"--endpoint=unix://{layout.csi_socket}", f"--nodeid={NODE_NAME}",
                f"--statedir={layout.csi_data}",
                f"--plugin-registration-dir={layout.plugins_registry}",
                f"--kubelet-registration-path={sock}",
            ],
        }
        if spec is None
        else {DRIVER: driver.driver_argv(spec, layout)}
    )  # fmt: skip
    return {
        "etcd": [
            shutil.which("etcd") or "etcd",
            "--name=snapconf", f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls=http://127.0.0.1:{ports.etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{ports.etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-cluster=snapconf=http://127.0.0.1:{ports.etcd_peer}",
            "--listen-metrics-urls=", "--log-level=warn", "--quota-backend-bytes=2147483648",
        ],
        "kube-apiserver": [
            str(bins["kube-apiserver"]),
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={ports.apiserver}", "--endpoint-reconciler-type=none",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
            f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
            f"--client-ca-file={pki_dir / 'ca.crt'}",
            f"--kubelet-client-certificate={pki_dir / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki_dir / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki_dir / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--service-account-key-file={pki_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", "--allow-privileged=true",
            "--profiling=false", "--v=1",
        ],
        "kube-controller-manager": [
            str(bins["kube-controller-manager"]),
            f"--kubeconfig={cfg / 'controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={cfg / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={cfg / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={ports.controller_manager}",
            f"--service-account-private-key-file={pki_dir / 'sa.key'}",
            f"--root-ca-file={pki_dir / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
            f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
            # no --controllers: the default set. 1.34 listed cloud-node-lifecycle-controller
            # (a no-op without a cloud provider) so it was excluded here; 1.37 no longer has
            # it and refuses an unknown name ("is not in the list of known controllers").
            "--use-service-account-credentials=true", "--leader-elect=false",
            "--profiling=false", "--v=1",
        ],
        "kube-scheduler": [
            str(bins["kube-scheduler"]),
            f"--kubeconfig={cfg / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={cfg / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={cfg / 'scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={ports.scheduler}",
            "--leader-elect=false", "--profiling=false", "--v=1",
        ],
        "containerd": [
            shutil.which("containerd") or "containerd",
            f"--config={cfg / 'containerd.toml'}", "--log-level=warn",
        ],
        "kubelet": [
            str(bins["kubelet"]),
            f"--config={cfg / 'kubelet.yaml'}",
            f"--kubeconfig={cfg / 'kubelet.kubeconfig'}",
            f"--root-dir={layout.kubelet_root}",
            f"--cert-dir={layout.kubelet_root / 'pki'}",
            f"--hostname-override={NODE_NAME}", "--v=1",
        ],
        "snapshot-controller": [str(bins["snapshot-controller"]), *sidecar, group_snapshots],
        **plugin,
        "csi-interposer": interposer_argv(
            layout.interposer_socket, layout.csi_socket, layout.fault_control,
            layout.csi_data if spec is None else None, module, proto_dir=proto_dir,
        ),
        "csi-provisioner": [
            str(bins["csi-provisioner"]), f"--csi-address={sock}", *sidecar,
            "--feature-gates=Topology=true", "--extra-create-metadata=true", "--timeout=60s",
        ],
        "csi-snapshotter": [
            str(bins["csi-snapshotter"]), f"--csi-address={sock}", *sidecar,
            "--extra-create-metadata=true", "--timeout=60s", group_snapshots,
        ],
        "csi-resizer": [
            str(bins["csi-resizer"]), f"--csi-address={sock}", *sidecar, "--timeout=60s",
        ],
    }  # fmt: skip


def _https_ok(layout: Layout, port: int, path: str) -> bool:
    context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    context.load_cert_chain(str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _http_ok(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def apiserver_ready(layout: Layout) -> bool:
    """The apiserver answers /readyz with the admin certificate."""
    return (layout.pki / "admin.crt").exists() and _https_ok(
        layout, layout.ports.apiserver, "/readyz"
    )


def _ready_checks(layout: Layout) -> dict[str, Callable[[], bool]]:
    """Host-level readiness of the components that have one (the rest are checked via the API)."""
    return {
        "etcd": lambda: _http_ok(layout.ports.etcd_client, "/health"),
        "kube-apiserver": lambda: apiserver_ready(layout),
        "containerd": lambda: images.ctr(layout, "version").returncode == 0,
        "kubelet": lambda: _http_ok(layout.ports.kubelet_healthz, "/healthz"),
        "hostpathplugin": layout.csi_socket.exists,
        DRIVER: layout.csi_socket.exists,
        "csi-interposer": layout.interposer_socket.exists,
    }


def _start(
    layout: Layout,
    name: str,
    argv: Sequence[str],
    say: Say,
    *,
    check: Callable[[], bool] | None = None,
    env: dict[str, str] | None = None,
    hint: str = "",
) -> None:
    """Start one component and wait until it is ready (or at least did not exit at once).

    ``check`` overrides the component's readiness probe; ``hint`` ends a failure's first
    line (what the user may have to change).
    """
    proc = processes.start(layout, name, argv, env=env)
    check = check or _ready_checks(layout).get(name)
    if check is None:
        # no host-level probe: at least make sure it did not exit at once
        if processes.wait_until(lambda: not processes.alive(proc), 1.0):
            raise _start_failure(layout, name, "exited right after starting" + hint)
        say(f"  started {name} (pid {proc.pid})")
        return
    ready = check
    ok = processes.wait_until(lambda: ready() or not processes.alive(proc), STARTUP_TIMEOUT)
    if not ok or not processes.alive(proc):
        reason = (
            "exited" if not processes.alive(proc) else f"not ready after {STARTUP_TIMEOUT:.0f}s"
        )
        raise _start_failure(layout, name, reason + hint)
    say(f"  started {name} (pid {proc.pid})")


def _start_failure(layout: Layout, name: str, reason: str) -> TestbedError:
    # the state directory goes away with the teardown; its logs are kept beside it
    return TestbedError(
        f"{name} {reason}; its log is {layout.failed_logs / layout.log(name).name}, "
        "last lines:\n" + processes.log_tail(layout, name)
    )


def _write_configs(layout: Layout) -> None:
    pki.ensure(layout)
    configs.kubeconfig(layout, "admin", layout.kubeconfig)
    configs.kubeconfig(
        layout, "controller-manager", layout.config / "controller-manager.kubeconfig"
    )
    configs.kubeconfig(layout, "scheduler", layout.config / "scheduler.kubeconfig")
    configs.kubeconfig(layout, "kubelet-client", layout.config / "kubelet.kubeconfig")
    configs.containerd_config(layout)
    configs.cni_config(layout)
    configs.kubelet_config(layout)
    for path in (
        layout.csi_socket_dir, layout.csi_data, layout.driver_data, layout.plugins_registry,
        layout.etcd_data,
    ):  # fmt: skip
        path.mkdir(parents=True, exist_ok=True)
    layout.etcd_data.chmod(0o700)


def healthy(layout: Layout) -> bool:
    """Every component (of the recorded driver's testbed) runs and the apiserver answers."""
    running = {p.name for p in processes.recorded(layout) if processes.alive(p)}
    return running >= set(active_components(layout)) and apiserver_ready(layout)


def _wanted(current: DriverSpec | None, choice: DriverChoice) -> DriverSpec | None:
    """The driver ``up`` should run: the recorded one unless the user chose another."""
    if choice is None:
        return current
    if choice == BUILTIN:
        return None
    if isinstance(choice, DriverSpec):
        return choice
    raise TestbedError(f"unknown CSI driver choice {choice!r}")


def up(
    layout: Layout | None = None,
    say: Say = print,
    *,
    faults: Sequence[str] | None = None,
    fault_module: Path | None = None,
    csi_driver: DriverChoice = None,
) -> Path:
    """Bring the testbed up (or find it up) and return the admin kubeconfig path.

    ``faults`` (names, see ``snapconf_testbed.faults``) are made active in the CSI interposer;
    on a testbed that is already up they are switched without a restart. A
    ``fault_module`` (the user's Python file of faults) needs a fresh bring-up.

    ``csi_driver``: a user's driver (``driver.make_spec``), :data:`BUILTIN` for the
    built-in hostpath driver, or None to keep what the testbed records (the built-in
    driver on a fresh testbed). Another driver than the running one replaces the CSI
    processes in place (see the module docstring).
    """
    # not at the top: keeps `snapconf testbed --help` free of grpc (the faults load it)
    from snapconf_testbed.faults import FaultError, available_faults, ensure_proto, write_active

    layout = layout or Layout.default()
    try:
        known = available_faults(fault_module) if fault_module or faults else None
    except FaultError as err:
        raise TestbedError(str(err)) from err
    try:
        preflight.check_host()
        preflight.check_programs()
    except preflight.PreflightError as err:
        raise TestbedError(str(err)) from err
    current = driver.load(layout)
    wanted = _wanted(current, csi_driver)
    if healthy(layout) and fault_module is None:
        if wanted == current:
            if faults is not None:
                set_faults(layout, faults, say)
            for line in driver.describe(current, layout):
                say(line)
            say(f"testbed is already up; kubeconfig: {layout.kubeconfig}")
            return layout.kubeconfig
        if _switch_driver(layout, current, wanted, say):
            if faults is not None:
                set_faults(layout, faults, say)
            say(f"testbed is up; kubeconfig: {layout.kubeconfig}")
            return layout.kubeconfig
    if csi_driver is None and current is not None:
        say(f"keeping the CSI driver {current.path} (up --builtin-driver runs the built-in one)")
    if layout.state.exists() or processes.recorded(layout):
        say("cleaning a previous testbed first")
        down(layout, say=say, quiet=True)
    try:
        preflight.check_ports(layout)
    except preflight.PreflightError as err:
        raise TestbedError(str(err)) from err
    started = time.monotonic()
    try:
        bins = build.build_all(layout, say)
        archives = images.build_archives(layout, build.pause_source())
        crd_dir = build.snapshot_crd_dir()
        proto_dir = ensure_proto(layout.cache)
    except (build.BuildError, FaultError, subprocess.CalledProcessError, OSError) as err:
        raise TestbedError(f"building the testbed failed: {err}") from err
    say("starting the testbed")
    try:
        _write_configs(layout)
        write_active(layout.fault_control, list(faults or ()), known=known)
        if fault_module is not None:
            layout.fault_module.write_text(f"{fault_module.resolve()}\n")
        driver.save(layout, wanted)
        _bring_up(layout, bins, archives, crd_dir, proto_dir, say, wanted)
        _warn_state_faults(layout, list(faults or ()), say)
    except BaseException as err:
        say("bring-up failed; stopping what was started")
        down(layout, say=say, quiet=True, keep_logs=True)
        if isinstance(err, TestbedError):
            raise
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        raise TestbedError(f"bring-up failed: {err}") from err
    if wanted is not None:
        for line in driver.describe(driver.load(layout), layout):
            say(line)
    say(f"testbed is up in {time.monotonic() - started:.0f}s; kubeconfig: {layout.kubeconfig}")
    return layout.kubeconfig


def _bring_up(
    layout: Layout,
    bins: dict[str, Path],
    archives: dict[str, Path],
    crd_dir: Path,
    proto_dir: Path,
    say: Say,
    spec: DriverSpec | None = None,
) -> None:
    # not at the top: keeps `snapconf testbed --help` free of kubernetes (tests patch Kube there)
    from conformance.kube import Kube
    from conformance.waits import Waiter
    from snapconf_testbed.testbed import bootstrap

    argv = _argv(layout, bins, proto_dir, spec)
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        _start(layout, name, argv[name], say)
    _start(layout, "containerd", argv["containerd"], say)
    images.import_images(layout, archives)
    _start(layout, "kubelet", argv["kubelet"], say)
    kube = Kube(str(layout.kubeconfig))
    try:
        waiter = Waiter(kube)
        bootstrap.install_node_reads(layout.kubeconfig)
        bootstrap.install_crds(kube, waiter, crd_dir, STARTUP_TIMEOUT)
        # a user's driver's CSIDriver object follows once it has said its name
        bootstrap.install_classes(kube, DRIVER_NAME if spec is None else None)
        _start(layout, "snapshot-controller", argv["snapshot-controller"], say)
        name = _start_csi(layout, bins, argv, proto_dir, spec, kube, say)
        bootstrap.wait_node(waiter, STARTUP_TIMEOUT)
        bootstrap.wait_driver(waiter, STARTUP_TIMEOUT, name)
        bootstrap.wait_default_service_account(waiter, STARTUP_TIMEOUT)
        _probe(kube, waiter, name, say)
    finally:
        kube.close()


def _start_csi(
    layout: Layout,
    bins: dict[str, Path],
    argv: dict[str, list[str]],
    proto_dir: Path,
    spec: DriverSpec | None,
    kube: Kube,
    say: Say,
) -> str:
    """Start the interposer, the plugin (and registrar) and the sidecars; the driver's name."""
    _start(layout, "csi-interposer", argv["csi-interposer"], say)
    if spec is None:
        _start(layout, "hostpathplugin", argv["hostpathplugin"], say)
        name = DRIVER_NAME
    else:
        name = _start_user_driver(layout, bins, argv[DRIVER], proto_dir, spec, kube, say)
    for sidecar in SIDECARS:
        _start(layout, sidecar, argv[sidecar], say)
    return name


def _start_user_driver(
    layout: Layout,
    bins: dict[str, Path],
    argv: list[str],
    proto_dir: Path,
    spec: DriverSpec,
    kube: Kube,
    say: Say,
) -> str:
    """Start a user's driver, learn its name, make its CSIDriver object, and register it.

    The name comes from the driver's own GetPluginInfo; it is recorded with the driver
    (``status`` shows it) and names the CSIDriver object and the kubelet registration.
    """
    # not at the top: keeps `snapconf testbed --help` free of kubernetes (bootstrap loads it)
    from snapconf_testbed.testbed import bootstrap

    layout.driver_data.mkdir(parents=True, exist_ok=True)
    endpoint = driver.placeholder_values(layout)["endpoint"]
    _start(
        layout, DRIVER, argv, say, env=driver.driver_env(layout),
        hint=f" (run as: {shlex.join(argv)}; it must listen on {endpoint})",
    )  # fmt: skip
    try:
        name, vendor = driver.plugin_info(layout.csi_socket, proto_dir)
    except driver.PluginInfoError as err:
        raise _start_failure(layout, DRIVER, f"is not usable: {err}") from err
    spec = replace(spec, name=name, vendor_version=vendor)
    driver.save(layout, spec)
    say(f"  {DRIVER} says it is {name} ({vendor or 'no vendor version'})")
    bootstrap.ensure(kube, bootstrap.csidriver(name))
    socket = driver.registration_socket(layout, name)
    if socket.is_socket():
        socket.unlink()  # left by a killed registrar: it would pass for the new one
    _start(
        layout, REGISTRAR, driver.registrar_argv(spec, layout, name, bins["hostpathplugin"]),
        say, check=socket.exists,
    )  # fmt: skip
    return name


def _probe(kube: Kube, waiter: Waiter, name: str, say: Say) -> None:
    """The provisioning probe, when the testbed's classes are the driver's."""
    # not at the top: keeps `snapconf testbed --help` free of kubernetes (bootstrap loads it)
    from snapconf_testbed.testbed import bootstrap

    if name == DRIVER_NAME:
        bootstrap.probe_provisioning(kube, waiter, STARTUP_TIMEOUT)
        return
    say(
        f"  no provisioning probe: the testbed's classes ({bootstrap.STORAGE_CLASS}, ...) "
        f"are for {DRIVER_NAME}, not {name}; a profile for {name} makes its own "
        "(storageClass: {create: ...})"
    )


def _stop_csi(layout: Layout, say: Say) -> None:
    """Stop the CSI processes (sidecars, registrar, plugin, interposer) by PID."""
    known = {p.name: p for p in processes.recorded(layout)}
    for name in reversed(CSI_COMPONENTS):
        proc = known.get(name)
        if proc is not None:
            say(f"  stopping {name} (pid {proc.pid})")
            processes.stop(layout, proc)


def _reset_driver_data(layout: Layout, say: Say) -> None:
    """Give the next user driver an empty ``{state_dir}`` (unless something is mounted there)."""
    if layout.driver_data.exists():
        if _mounts_under(layout.driver_data):
            say(f"  {layout.driver_data} still has mounts; left as it is")
            return
        shutil.rmtree(layout.driver_data)
    layout.driver_data.mkdir(parents=True, exist_ok=True)


def _switch_driver(
    layout: Layout, current: DriverSpec | None, wanted: DriverSpec | None, say: Say
) -> bool:
    """Replace the CSI processes of a running testbed to run ``wanted``.

    Returns False, changing nothing, when PersistentVolumes or VolumeSnapshotContents of
    the running driver exist (the caller then brings the testbed up afresh). A failure
    while switching stops the testbed, as a failed bring-up does.
    """
    # not at the top: keeps `snapconf testbed --help` free of kubernetes and grpc; tests patch Kube
    from conformance.kube import Kube
    from conformance.waits import Waiter, WaitTimeout
    from snapconf_testbed.faults import FaultError, ensure_proto
    from snapconf_testbed.testbed import bootstrap

    old_name = DRIVER_NAME if current is None else current.name
    kube = Kube(str(layout.kubeconfig))
    try:
        held = bootstrap.driver_objects(kube, old_name) if old_name else []
        if held:
            more = f" and {len(held) - 3} more" if len(held) > 3 else ""
            say(
                f"the testbed holds volumes or snapshots of {old_name} "
                f"({', '.join(held[:3])}{more}), which another driver would not know; "
                "bringing the testbed up afresh"
            )
            return False
        try:
            bins = build.build_all(layout, say)
            proto_dir = ensure_proto(layout.cache)
        except (build.BuildError, FaultError, subprocess.CalledProcessError, OSError) as err:
            raise TestbedError(f"building the testbed failed: {err}") from err
        target = "the built-in hostpathplugin" if wanted is None else str(wanted.path)
        say(f"switching the CSI driver to {target}; the cluster keeps running")
        try:
            _stop_csi(layout, say)
            waiter = Waiter(kube)
            if old_name:
                try:
                    bootstrap.wait_driver_gone(waiter, DRIVER_DEREGISTER_TIMEOUT, old_name)
                except WaitTimeout:
                    say(f"  kubelet still lists {old_name} on the node; going on")
            _reset_driver_data(layout, say)
            driver.save(layout, wanted)
            if wanted is None:
                bootstrap.ensure(kube, bootstrap.csidriver())
            name = _start_csi(
                layout, bins, _argv(layout, bins, proto_dir, wanted), proto_dir, wanted, kube, say
            )
            if old_name and old_name != name:
                kube.delete("CSIDriver", old_name)
            bootstrap.wait_driver(waiter, STARTUP_TIMEOUT, name)
            _probe(kube, waiter, name, say)
        except BaseException as err:
            say("switching the CSI driver failed; stopping the testbed")
            down(layout, say=say, quiet=True, keep_logs=True)
            if isinstance(err, (TestbedError, KeyboardInterrupt, SystemExit)):
                raise
            raise TestbedError(f"switching the CSI driver failed: {err}") from err
    finally:
        kube.close()
    for line in driver.describe(driver.load(layout), layout):
        say(line)
    return True


def status(layout: Layout | None = None) -> list[ComponentStatus]:
    """Each component of the testbed (by its recorded driver) with its PID and whether it runs."""
    layout = layout or Layout.default()
    known = {p.name: p for p in processes.recorded(layout)}
    result = []
    for name in active_components(layout):
        proc = known.get(name)
        running = proc is not None and processes.alive(proc)
        result.append(ComponentStatus(name, proc.pid if proc else None, running))
    return result


def driver_lines(layout: Layout | None = None) -> list[str]:
    """What ``status`` says of the testbed's CSI driver (nothing when there is no testbed)."""
    layout = layout or Layout.default()
    if not layout.state.exists():
        return []
    return driver.describe(driver.load(layout), layout)


def _delete_pods(layout: Layout, say: Say) -> None:
    """Delete every pod through the API so kubelet unmounts their volumes cleanly."""
    if not apiserver_ready(layout):
        return
    running = {p.name for p in processes.recorded(layout) if processes.alive(p)}
    if "kubelet" not in running or not running & {"hostpathplugin", DRIVER}:
        return
    # not at the top: keeps `snapconf testbed --help` free of kubernetes (tests patch Kube there)
    from conformance.kube import Kube, KubeError
    from conformance.waits import Waiter, WaitTimeout

    kube = Kube(str(layout.kubeconfig))
    try:
        pods, _ = kube.list("Pod")
        for pod in pods:
            meta = pod["metadata"]
            kube.delete("Pod", meta["name"], meta["namespace"])
        waiter = Waiter(kube)
        for pod in pods:
            meta = pod["metadata"]
            waiter.gone("Pod", meta["name"], meta["namespace"], timeout=30, op="pod-deleted")
    except (KubeError, WaitTimeout, OSError) as err:
        say(f"  could not delete pods through the API ({err}); unmounting by hand")
    finally:
        kube.close()


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) if root.exists() else str(root)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def _unmount_all(root: Path) -> list[str]:
    for _ in range(3):  # a bind mount onto itself shows up more than once
        for point in _mounts_under(root):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)
    return _mounts_under(root)


def _detach_loops(root: Path) -> None:
    listing = subprocess.run(
        ["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
        capture_output=True,
        text=True,
    ).stdout
    for line in listing.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip().startswith(str(root)):
            subprocess.run(["losetup", "-d", parts[0]], capture_output=True)


def _remove_cgroups() -> None:
    for controller in CGROUP_CONTROLLERS:
        top = Path("/sys/fs/cgroup", controller, "kubepods")
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _remove_network() -> None:
    if Path("/sys/class/net", CNI_BRIDGE).exists():
        subprocess.run(["ip", "link", "delete", CNI_BRIDGE], capture_output=True)
    results = Path("/var/lib/cni/results")
    if results.is_dir():
        for entry in results.glob("snapconf-*"):
            entry.unlink(missing_ok=True)


def down(
    layout: Layout | None = None, say: Say = print, *, quiet: bool = False, keep_logs: bool = False
) -> None:
    """Stop every testbed process by PID, unmount, and remove the state directory."""
    layout = layout or Layout.default()
    started = time.monotonic()
    _delete_pods(layout, say)
    known = {p.name: p for p in processes.recorded(layout)}
    for name in reversed(ALL_COMPONENTS):
        proc = known.pop(name, None)
        if name == "containerd":
            _kill_containers(layout)
        if proc is not None:
            if not quiet:
                say(f"  stopping {name} (pid {proc.pid})")
            processes.stop(layout, proc)
    for proc in known.values():
        processes.stop(layout, proc)
    # shims and containers outlive containerd; they carry our socket path on their command line
    processes.kill_pids(processes.find_by_cmdline(str(layout.containerd)))
    leftover = _unmount_all(layout.state)
    _detach_loops(layout.state)
    _remove_network()
    _remove_cgroups()
    if leftover:
        raise TestbedError(f"could not unmount: {', '.join(leftover)}")
    if layout.state.exists():
        if keep_logs and layout.logs.exists():
            shutil.rmtree(layout.failed_logs, ignore_errors=True)
            shutil.copytree(layout.logs, layout.failed_logs)
            say(f"  logs of the failed bring-up kept in {layout.failed_logs}")
        shutil.rmtree(layout.state, ignore_errors=True)
    if not quiet:
        say(f"testbed is down ({time.monotonic() - started:.1f}s)")


def _kill_containers(layout: Layout) -> None:
    if not layout.containerd_socket.exists():
        return
    tasks = images.ctr(layout, "tasks", "ls", "-q").stdout.split()
    for task in tasks:
        images.ctr(layout, "tasks", "kill", "--signal", "SIGKILL", task)


#: The components that come from Debian, by the package that installs them.
DEBIAN_PACKAGES = {"etcd": "etcd-server", "containerd": "containerd"}


def _debian_version(package: str) -> str:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
    )
    return f"debian {result.stdout.strip()}" if result.returncode == 0 else "debian package"


def components(layout: Layout | None = None) -> list[dict[str, str]]:
    """The running testbed's components with their pinned versions and binaries.

    For results.json: on the testbed the snapshot controller and sidecars are host
    processes, not pods, so their versions come from the pins they were built from.
    """
    layout = layout or Layout.default()
    versions: dict[str, tuple[str, Path]] = {}
    try:
        bins = build.binaries(layout)
        for module in build.MODULES:
            for name in module.binaries:
                versions[name] = (module.version(), bins[name])
    except (build.BuildError, OSError, subprocess.CalledProcessError):
        return []
    versions["csi-interposer"] = (f"snapconf {__version__}", Path(sys.executable))
    spec = driver.load(layout)
    if spec is not None:
        versions[DRIVER] = (spec.vendor_version or "unknown", spec.path)
        versions[REGISTRAR] = (
            ("unknown", spec.registrar)
            if spec.registrar is not None
            else ("local (hostpathplugin --register-only)", bins["hostpathplugin"])
        )
    for name, package in DEBIAN_PACKAGES.items():
        versions[name] = (_debian_version(package), Path(shutil.which(name) or name))
    found = []
    for row in status(layout):
        if not row.running:
            continue
        version, binary = versions.get(row.name, ("unknown", Path(row.name)))
        found.append({"name": row.name, "version": version, "binary": str(binary)})
    return found


def set_faults(layout: Layout, names: Sequence[str], say: Say = print) -> list[str]:
    """Switch the interposer's active faults on a running testbed (``none``: all off)."""
    # not at the top: keeps `snapconf testbed --help` free of grpc (the faults load it)
    from snapconf_testbed.faults import FaultError, available_faults, write_active

    if not healthy(layout):
        raise TestbedError("the testbed is not up; start it with: snapconf testbed up")
    module = layout.user_fault_module()
    try:
        active = write_active(layout.fault_control, names, known=available_faults(module))
    except FaultError as err:
        raise TestbedError(str(err)) from err
    say(f"active faults: {', '.join(active) or 'none'}")
    _warn_state_faults(layout, active, say)
    return active


def _warn_state_faults(layout: Layout, names: Sequence[str], say: Say) -> None:
    """Say which active faults cannot work on a user's driver (no hostpath state dir)."""
    # not at the top: keeps `snapconf testbed --help` free of grpc (the faults load it)
    from snapconf_testbed.faults.hostpath import NEEDS_STATE

    spec = driver.load(layout)
    blind = [name for name in names if name in NEEDS_STATE]
    if spec is not None and blind:
        say(
            f"  {', '.join(blind)} only work with the built-in driver (they change its state "
            f"directory); with {spec.name or spec.path} they fail the calls they touch"
        )


def kill_component(layout: Layout, name: str) -> processes.Running:
    """SIGKILL one running component (a crash, for chaos benchmarks); its PID file stays.

    The PID file keeps the command line, which :func:`restart_component` starts again.
    """
    proc = processes.read_pidfile(layout, name)
    if proc is None or not processes.alive(proc):
        raise TestbedError(f"{name} does not run on the testbed")
    processes.kill_pids([proc.pid])
    if not processes.wait_until(lambda: not processes.alive(proc), 10.0):
        raise TestbedError(f"{name} (pid {proc.pid}) did not die after SIGKILL")
    return proc


def restart_component(layout: Layout, name: str) -> processes.Running:
    """Start a component again with the command line of its PID file (after a kill).

    A component that still runs is left alone (and returned as it is).
    """
    proc = processes.read_pidfile(layout, name)
    if proc is not None and processes.alive(proc):
        return proc
    argv = processes.recorded_argv(layout, name)
    if not argv:
        raise TestbedError(f"no command line recorded for {name}; restart the testbed")
    started = processes.start(layout, name, argv)
    if processes.wait_until(lambda: not processes.alive(started), 1.0):
        raise _start_failure(layout, name, "exited right after a restart")
    return started
