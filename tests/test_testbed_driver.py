"""A user's CSI driver on the testbed (``testbed up --driver``), with no cluster.

Argument templates and their placeholders (and the one-sentence error for a bad one), the
command lines of the driver, its registrar and the interposer, the record in the state
directory, what ``status`` prints, what ``up`` decides on a running testbed, and, with
Go, our own driver started as a user's would be: asked its name, given its CSIDriver
object and registered by ``hostpathplugin --register-only``. Processes started here are
stopped by their PIDs.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeKube
from offline import forbid_cluster

from conformance.cli import main
from snapconf_testbed.faults import ensure_proto
from snapconf_testbed.layout import DRIVER_NAME, NODE_NAME, Layout
from snapconf_testbed.paths import data_dir
from snapconf_testbed.testbed import bootstrap, cluster, driver, processes
from snapconf_testbed.testbed.driver import DEFAULT_ARGS, DriverError, DriverSpec, PluginInfoError

EXIT_USAGE = 2
GO_ENV = {"GOFLAGS": "-mod=readonly", "GOSUMDB": "off"}
needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="needs go to build the plugin")


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(state=tmp_path / "state", cache=tmp_path / "cache")


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    return executable(tmp_path / "mydriver")


def fake_bins() -> dict[str, Path]:
    names = [
        "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
        "snapshot-controller", "csi-snapshotter", "csi-provisioner", "csi-resizer",
        "hostpathplugin",
    ]  # fmt: skip
    return {name: Path("/opt/bin") / name for name in names}


# ---------------------------------------------------------------- placeholders


def test_default_args_are_the_csi_convention(layout: Layout) -> None:
    assert DEFAULT_ARGS == ("--endpoint={endpoint}", "--nodeid={node}")
    assert driver.substitute(DEFAULT_ARGS, driver.placeholder_values(layout)) == [
        f"--endpoint=unix://{layout.state}/csi/csi.sock",
        f"--nodeid={NODE_NAME}",
    ]


def test_every_placeholder_and_literal_braces(layout: Layout) -> None:
    args = ["-e", "{endpoint}", "--sock={socket}", "{node}:{state_dir}", '--json={{"a": 1}}']
    assert driver.substitute(args, driver.placeholder_values(layout)) == [
        "-e",
        f"unix://{layout.csi_socket}",
        f"--sock={layout.csi_socket}",
        f"{NODE_NAME}:{layout.driver_data}",
        '--json={"a": 1}',
    ]


@pytest.mark.parametrize(
    ("arg", "says"),
    [
        ("--nodeid={nodeid}", "unknown placeholder {nodeid}"),
        ("--name={driver_name}", "unknown placeholder {driver_name}"),
        ("--x={}", "unknown placeholder {}"),
        ("--x={0}", "unknown placeholder {0}"),
        ("--x={node!r}", "unknown placeholder {node!r}"),
        ("--x={node:>9}", "unknown placeholder {node:>9}"),
        ("--x={node", "unbalanced braces"),
        ("--x=node}", "unbalanced braces"),
    ],
)
def test_a_bad_placeholder_is_one_sentence(arg: str, says: str) -> None:
    with pytest.raises(DriverError) as caught:
        driver.check_args(["--endpoint={endpoint}", arg])
    message = str(caught.value)
    assert message.startswith(f"--driver-arg {arg!r}: {says}")
    assert "\n" not in message
    assert "{{ and }}" in message
    if "unknown" in says:
        assert "{endpoint}, {socket}, {node}, {state_dir}" in message


def test_make_spec_checks_paths_and_makes_them_absolute(
    tmp_path: Path, binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = driver.make_spec(Path("mydriver"))
    assert spec == DriverSpec(path=binary, args=DEFAULT_ARGS, registrar=None)
    registrar = executable(tmp_path / "node-driver-registrar")
    spec = driver.make_spec(binary, ["--endpoint={endpoint}"], Path("node-driver-registrar"))
    assert spec.registrar == registrar
    assert spec.args == ("--endpoint={endpoint}",)

    plain = tmp_path / "plain"
    plain.write_text("")
    for path, says in [
        (tmp_path / "missing", "no such file"),
        (tmp_path, "not a file"),
        (plain, "not executable (chmod +x it)"),
    ]:
        with pytest.raises(DriverError) as caught:
            driver.make_spec(path)
        assert str(caught.value) == f"--driver {path}: {says}"
    with pytest.raises(DriverError, match=r"^--registrar .*missing: no such file"):
        driver.make_spec(binary, None, tmp_path / "missing")
    with pytest.raises(DriverError, match=r"unknown placeholder \{nodeid\}"):
        driver.make_spec(binary, ["--nodeid={nodeid}"])


# ---------------------------------------------------------------- command lines


def test_driver_and_registrar_argv(layout: Layout, binary: Path) -> None:
    spec = driver.make_spec(binary, ["--endpoint={endpoint}", "--statedir={state_dir}"])
    assert driver.driver_argv(spec, layout) == [
        str(binary),
        f"--endpoint=unix://{layout.csi_socket}",
        f"--statedir={layout.driver_data}",
    ]
    assert driver.driver_env(layout) == {
        "CSI_ENDPOINT": f"unix://{layout.csi_socket}",
        "KUBE_NODE_NAME": NODE_NAME,
    }
    # ours: told the name, kubelet dials the interposer
    assert driver.registrar_argv(spec, layout, "my.csi.example.com", Path("/b/hp")) == [
        "/b/hp",
        "--register-only",
        "--drivername=my.csi.example.com",
        f"--plugin-registration-dir={layout.plugins_registry}",
        f"--kubelet-registration-path={layout.interposer_socket}",
    ]
    # the user's node-driver-registrar: its standard flags, the name from the driver
    theirs = DriverSpec(path=binary, registrar=Path("/b/node-driver-registrar"))
    assert driver.registrar_argv(theirs, layout, "my.csi.example.com", Path("/b/hp")) == [
        "/b/node-driver-registrar",
        f"--csi-address={layout.csi_socket}",
        f"--kubelet-registration-path={layout.interposer_socket}",
        f"--plugin-registration-path={layout.plugins_registry}",
    ]
    assert driver.registration_socket(layout, "my.csi.example.com") == (
        layout.plugins_registry / "my.csi.example.com-reg.sock"
    )


def test_testbed_argv_with_a_user_driver(layout: Layout, binary: Path) -> None:
    builtin = cluster._argv(layout, fake_bins(), None, None)
    assert "hostpathplugin" in builtin
    assert driver.DRIVER not in builtin
    assert "--hostpath-state" in builtin["csi-interposer"]

    spec = driver.make_spec(binary)
    theirs = cluster._argv(layout, fake_bins(), None, spec)
    assert "hostpathplugin" not in theirs
    assert theirs[driver.DRIVER] == driver.driver_argv(spec, layout)
    interposer = theirs["csi-interposer"]
    assert "--hostpath-state" not in interposer  # faults needing it fail their calls
    # the interposer stands in front of the driver's socket, as it does for ours
    upstream = interposer[interposer.index("--upstream") + 1]
    assert upstream == f"unix://{layout.csi_socket.resolve()}"
    for sidecar in cluster.SIDECARS:
        assert f"--csi-address={layout.interposer_socket}" in theirs[sidecar]


def test_components_by_driver(layout: Layout, binary: Path) -> None:
    assert cluster.active_components(layout) == cluster.COMPONENTS
    assert "hostpathplugin" in cluster.COMPONENTS
    theirs = cluster.components_for(DriverSpec(path=binary))
    assert "hostpathplugin" not in theirs
    tail = theirs[theirs.index("csi-interposer") :]
    assert tail == (
        "csi-interposer", "csi-driver", "csi-registrar",
        "csi-provisioner", "csi-snapshotter", "csi-resizer",
    )  # fmt: skip
    # down stops every kind, the registrar before its driver
    order = list(reversed(cluster.ALL_COMPONENTS))
    assert set(theirs) | set(cluster.COMPONENTS) == set(order)
    assert order.index("csi-registrar") < order.index("csi-driver")

    driver.save(layout, DriverSpec(path=binary))
    assert cluster.active_components(layout) == theirs
    logs = cluster.csi_log_files(layout)
    assert logs["csi-driver"] == layout.logs / "csi-driver.log"
    assert logs["csi-registrar"] == layout.logs / "csi-registrar.log"
    assert "hostpathplugin" not in logs
    assert "kubelet" not in logs


# ---------------------------------------------------------------- the record


def test_the_record_round_trips(layout: Layout, binary: Path) -> None:
    assert driver.load(layout) is None
    spec = DriverSpec(
        path=binary, args=("--endpoint={endpoint}",), registrar=Path("/b/ndr"),
        name="my.csi.example.com", vendor_version="1.2.3",
    )  # fmt: skip
    driver.save(layout, spec)
    loaded = driver.load(layout)
    assert loaded is not None
    assert (loaded.path, loaded.args, loaded.registrar) == (spec.path, spec.args, spec.registrar)
    assert (loaded.name, loaded.vendor_version) == ("my.csi.example.com", "1.2.3")
    # the name is learnt from the driver: not part of what the user chose
    assert loaded == DriverSpec(
        path=binary, args=("--endpoint={endpoint}",), registrar=Path("/b/ndr")
    )

    driver.save(layout, None)
    assert not layout.driver_file.exists()
    assert driver.load(layout) is None
    layout.driver_file.write_text("{not json")
    assert driver.load(layout) is None


def test_describe(layout: Layout, binary: Path) -> None:
    assert driver.describe(None, layout) == [f"CSI driver: built-in hostpathplugin ({DRIVER_NAME})"]
    spec = DriverSpec(path=binary, name="my.csi.example.com", vendor_version="1.2.3")
    assert driver.describe(spec, layout) == [
        f"CSI driver: {binary} (GetPluginInfo name my.csi.example.com, vendor version 1.2.3)",
        f"  args: --endpoint=unix://{layout.csi_socket} --nodeid={NODE_NAME}",
        "  registered with kubelet by: built-in hostpathplugin --register-only",
        f"  logs: {layout.logs}/csi-driver.log, {layout.logs}/csi-registrar.log",
    ]
    theirs = DriverSpec(path=binary, registrar=Path("/b/ndr"))
    lines = driver.describe(theirs, layout)
    assert lines[0] == f"CSI driver: {binary} (name not known yet)"
    assert lines[2] == "  registered with kubelet by: /b/ndr (node-driver-registrar flags)"


@pytest.mark.parametrize(
    "name", ["", "Upper.case", "under_score", "-lead", "trail.", "x" * 64]
)  # fmt: skip
def test_a_name_that_cannot_name_a_csidriver(name: str) -> None:
    with pytest.raises(PluginInfoError):
        driver.check_name(name)


def test_csidriver_object_of_a_user_driver_keeps_the_spec() -> None:
    ours, theirs = bootstrap.csidriver(), bootstrap.csidriver("my.csi.example.com")
    assert ours["metadata"]["name"] == DRIVER_NAME
    assert theirs["metadata"]["name"] == "my.csi.example.com"
    assert theirs["spec"] == ours["spec"]


def test_driver_objects_are_the_drivers_volumes_and_snapshots() -> None:
    kube = FakeKube()
    for name, drv in [("pv-a", DRIVER_NAME), ("pv-b", "other.csi"), ("pv-c", None)]:
        spec: dict[str, Any] = {"csi": {"driver": drv}} if drv else {"hostPath": {"path": "/x"}}
        kube.put({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                  "spec": spec})  # fmt: skip
    kube.put({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
              "metadata": {"name": "snapcontent-a"}, "spec": {"driver": DRIVER_NAME}})  # fmt: skip
    held = bootstrap.driver_objects(kube, DRIVER_NAME)  # type: ignore[arg-type]
    assert held == ["PersistentVolume/pv-a", "VolumeSnapshotContent/snapcontent-a"]
    assert bootstrap.driver_objects(kube, "nobody.csi") == []  # type: ignore[arg-type]


# ---------------------------------------------------------------- up's decisions


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.switches: list[tuple[DriverSpec | None, DriverSpec | None]] = []

    def say(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch, layout: Layout) -> Recorder:
    """A testbed that counts as healthy; a switch is recorded, not done."""
    seen = Recorder()
    monkeypatch.setattr(cluster.preflight, "check_host", lambda: None)
    monkeypatch.setattr(cluster.preflight, "check_programs", lambda: None)
    monkeypatch.setattr(cluster, "healthy", lambda _layout: True)

    def switch(_layout: Layout, current: Any, wanted: Any, _say: Any) -> bool:
        seen.switches.append((current, wanted))
        driver.save(_layout, wanted)
        return True

    monkeypatch.setattr(cluster, "_switch_driver", switch)
    layout.state.mkdir(parents=True)
    return seen


def test_up_without_driver_keeps_what_runs(running: Recorder, layout: Layout, binary: Path) -> None:
    spec = DriverSpec(path=binary, name="my.csi.example.com")
    driver.save(layout, spec)
    assert cluster.up(layout, running.say) == layout.kubeconfig
    assert running.switches == []
    assert running.lines[0] == f"CSI driver: {binary} (GetPluginInfo name my.csi.example.com)"
    assert running.lines[-1] == f"testbed is already up; kubeconfig: {layout.kubeconfig}"
    # the same driver again: nothing to do either
    cluster.up(layout, running.say, csi_driver=driver.make_spec(binary))
    assert running.switches == []


def test_up_with_another_driver_switches_in_place(
    running: Recorder, layout: Layout, binary: Path
) -> None:
    spec = driver.make_spec(binary, ["--endpoint={endpoint}"])
    cluster.up(layout, running.say, csi_driver=spec)
    assert running.switches == [(None, spec)]
    cluster.up(layout, running.say, csi_driver=cluster.BUILTIN)
    assert running.switches == [(None, spec), (spec, None)]
    assert driver.load(layout) is None
    cluster.up(layout, running.say, csi_driver=cluster.BUILTIN)
    assert len(running.switches) == 2
    assert running.lines[-1] == f"testbed is already up; kubeconfig: {layout.kubeconfig}"


class ClosableFakeKube(FakeKube):
    def close(self) -> None:
        pass


def test_a_switch_with_the_drivers_volumes_left_says_so_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, layout: Layout, binary: Path
) -> None:
    kube = ClosableFakeKube()
    kube.put({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-a"},
              "spec": {"csi": {"driver": DRIVER_NAME}}})  # fmt: skip
    monkeypatch.setattr("conformance.kube.Kube", lambda *_a, **_k: kube)
    refuse = "no build, no stopping: the switch must not start"

    def forbidden(*_a: object, **_k: object) -> None:
        raise AssertionError(refuse)

    monkeypatch.setattr(cluster.build, "build_all", forbidden)
    monkeypatch.setattr(cluster, "_stop_csi", forbidden)
    lines: list[str] = []
    assert not cluster._switch_driver(layout, None, DriverSpec(path=binary), lines.append)
    assert lines == [
        f"the testbed holds volumes or snapshots of {DRIVER_NAME} (PersistentVolume/pv-a), "
        "which another driver would not know; bringing the testbed up afresh"
    ]
    assert driver.load(layout) is None


def test_faults_needing_the_hostpath_state_say_they_are_ours_only(
    layout: Layout, binary: Path
) -> None:
    lines: list[str] = []
    cluster._warn_state_faults(layout, ["restore-corrupt", "never-ready"], lines.append)
    assert lines == []  # the built-in driver: they work
    driver.save(layout, DriverSpec(path=binary, name="my.csi.example.com"))
    cluster._warn_state_faults(layout, ["restore-corrupt", "never-ready"], lines.append)
    assert lines == [
        "  restore-corrupt only work with the built-in driver (they change its state "
        "directory); with my.csi.example.com they fail the calls they touch"
    ]


# ---------------------------------------------------------------- the command line


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Layout:
    forbid_cluster(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("SNAPCONF_TESTBED_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SNAPCONF_CACHE_DIR", str(tmp_path / "cache"))
    return Layout.default()


def usage_error(capsys: pytest.CaptureFixture[str], status: int) -> str:
    out, err = capsys.readouterr()
    assert status == EXIT_USAGE, (out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("snapconf: ")
    return lines[0]


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--driver-arg=--nodeid={nodeid}"], "unknown placeholder {nodeid}"),
        (["--driver-arg=--x={"], "unbalanced braces"),
        (["--driver-arg=x", "--driver-arg=--name={driver_name}"], "unknown placeholder"),
    ],
)
def test_up_with_a_bad_placeholder_exits_2_before_anything_starts(
    capsys: pytest.CaptureFixture[str], binary: Path, argv: list[str], says: str
) -> None:
    line = usage_error(capsys, main(["testbed", "up", "--driver", str(binary), *argv]))
    assert says in line  # and the guard on testbed.up did not fire


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["up", "--driver", "/no/such/driver"], "--driver /no/such/driver: no such file"),
        (["up", "--driver-arg=--x"], "--driver-arg needs --driver PATH"),
        (["up", "--registrar", "/bin/sh"], "--registrar needs --driver PATH"),
        (["status", "--driver", "/bin/sh"], "--driver goes with 'testbed up'"),
        (["down", "--builtin-driver"], "--builtin-driver goes with 'testbed up'"),
        (["up", "--driver", "/bin/sh", "--builtin-driver"], "exclude each other"),
    ],
)
def test_driver_flags_misused_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert says in usage_error(capsys, main(["testbed", *argv]))


@pytest.mark.usefixtures("offline")
def test_up_passes_the_driver_on(monkeypatch: pytest.MonkeyPatch, binary: Path) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("snapconf_testbed.testbed.up", lambda *_a, **kw: calls.append(kw))
    argv = ["--driver-arg=--endpoint={endpoint}", "--driver-arg=--statedir={state_dir}"]
    assert main(["testbed", "up", "--driver", str(binary), *argv]) == 0
    assert main(["testbed", "up", "--builtin-driver"]) == 0
    assert main(["testbed", "up"]) == 0
    assert [c["csi_driver"] for c in calls] == [
        DriverSpec(path=binary, args=("--endpoint={endpoint}", "--statedir={state_dir}")),
        cluster.BUILTIN,
        None,
    ]


def test_help_names_the_placeholders_and_the_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside a flag name
    with pytest.raises(SystemExit):
        main(["testbed", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for word in ["--driver PATH", "--driver-arg ARG", "--registrar PATH", "--builtin-driver",
                 "{endpoint}", "{socket}", "{node}", "{state_dir}",
                 "Without any: --endpoint={endpoint} --nodeid={node}",
                 "--csi-address", "--kubelet-registration-path", "--plugin-registration-path",
                 "--register-only"]:  # fmt: skip
        assert word in out, word


@pytest.mark.usefixtures("offline")
def test_fault_list_marks_the_faults_of_the_builtin_driver(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["testbed", "fault", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["restore-corrupt"].endswith("(built-in driver only)")
    assert not lines["never-ready"].endswith("(built-in driver only)")


def own_exe() -> str:
    return Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()


def record_self(layout: Layout, name: str) -> None:
    """A PID file for ``name`` naming this very process: it runs."""
    layout.pids.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "exe": own_exe(), "argv": [],
              "started": processes.start_time(os.getpid())}  # fmt: skip
    layout.pidfile(name).write_text(json.dumps(record))


def test_status_names_the_user_driver(
    capsys: pytest.CaptureFixture[str], offline: Layout, binary: Path
) -> None:
    spec = DriverSpec(
        path=binary, args=("--endpoint={endpoint}", "--statedir={state_dir}"),
        name="my.csi.example.com", vendor_version="1.2.3",
    )  # fmt: skip
    driver.save(offline, spec)
    for name in ("csi-interposer", "csi-driver", "csi-registrar"):
        record_self(offline, name)
    assert main(["testbed", "status"]) == 1  # not the whole testbed runs
    out = capsys.readouterr().out
    rows = {
        parts[0]: parts[1]
        for parts in map(str.split, out.splitlines())
        if parts and parts[0] in cluster.ALL_COMPONENTS
    }
    assert rows["csi-driver"] == "running"
    assert rows["csi-registrar"] == "running"
    assert rows["kubelet"] == "stopped"
    assert "hostpathplugin" not in rows
    assert (
        f"CSI driver: {binary} (GetPluginInfo name my.csi.example.com, vendor version 1.2.3)\n"
        f"  args: --endpoint=unix://{offline.csi_socket} --statedir={offline.driver_data}\n"
        "  registered with kubelet by: built-in hostpathplugin --register-only\n"
    ) in out
    assert out.rstrip().endswith("testbed is not (fully) up")


def test_status_without_a_testbed_names_no_driver(
    capsys: pytest.CaptureFixture[str], offline: Layout
) -> None:
    assert main(["testbed", "status"]) == 1
    out = capsys.readouterr().out
    assert "CSI driver" not in out
    assert "hostpathplugin" in out  # the built-in testbed's components, all stopped


# ---------------------------------------------------------------- processes


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_script_driver_is_tracked_by_its_start_time(layout: Layout) -> None:
    script = executable(layout.state.parent / "driver.sh", "#!/bin/sh\nexec sleep 60\n")
    proc = processes.start(layout, "csi-driver", [str(script)])
    try:
        assert proc.started is not None
        # the command line now names sleep, not the script: the start time still matches
        assert processes.alive(proc)
        recorded = processes.read_pidfile(layout, "csi-driver")
        assert recorded == proc
        # a PID file whose start time is another's is not this process
        assert not processes.alive(processes.Running("x", proc.pid, proc.exe, proc.started + 1))
    finally:
        processes.stop(layout, proc)
    assert not processes.alive(proc)
    assert not layout.pidfile("csi-driver").exists()


def test_old_pid_files_without_a_start_time_still_work(layout: Layout) -> None:
    layout.pids.mkdir(parents=True)
    layout.pidfile("etcd").write_text(json.dumps({"pid": os.getpid(), "exe": own_exe()}))
    proc = processes.read_pidfile(layout, "etcd")
    assert proc is not None
    assert proc.started is None
    assert processes.alive(proc)
    assert not processes.alive(processes.Running("etcd", os.getpid(), "/not/this/exe"))


# ---------------------------------------------------------------- our driver as a user's


@pytest.fixture(scope="module")
def plugin_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("byod-bin") / "mydriver"
    result = subprocess.run(
        ["go", "build", "-o", str(out), "."],
        cwd=data_dir("testbed") / "hostpath-driver",
        env={**os.environ, **GO_ENV},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"go build failed:\n{result.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def proto_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_proto(tmp_path_factory.getbasetemp() / "snapconf-cache")


@pytest.fixture
def short_layout() -> Iterator[Layout]:
    """A layout under a short /tmp path (unix socket paths are at most 107 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="sc-byod-", dir="/tmp"))
    layout = Layout(state=root / "s", cache=root / "c")
    try:
        yield layout
    finally:
        for proc in processes.recorded(layout):
            processes.stop(layout, proc)
        shutil.rmtree(root, ignore_errors=True)


@needs_go
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_our_driver_runs_as_a_users_and_is_registered_by_name(
    plugin_binary: Path, proto_dir: Path, short_layout: Layout
) -> None:
    layout = short_layout
    spec = driver.make_spec(
        plugin_binary,
        ["--endpoint={endpoint}", "--nodeid={node}", "--statedir={state_dir}",
         "--drivername=byod.snapconf.io"],
    )  # fmt: skip
    bins = {**fake_bins(), "hostpathplugin": plugin_binary}
    kube = FakeKube()
    lines: list[str] = []
    argv = cluster._argv(layout, bins, proto_dir, spec)[driver.DRIVER]

    name = cluster._start_user_driver(
        layout, bins, argv, proto_dir, spec,
        kube,  # type: ignore[arg-type]
        lines.append,
    )  # fmt: skip

    assert name == "byod.snapconf.io"
    recorded = driver.load(layout)
    assert recorded is not None
    assert (recorded.name, recorded.vendor_version) == (
        "byod.snapconf.io",
        "snapconf-hostpath/0.1.0",
    )
    csidriver = kube.get("CSIDriver", "byod.snapconf.io")
    assert csidriver["spec"] == bootstrap.csidriver()["spec"]
    assert driver.registration_socket(layout, name).is_socket()
    # {state_dir} reached the driver
    assert f"state {layout.driver_data}," in layout.log("csi-driver").read_text()
    assert (layout.driver_data / "volumes").is_dir()
    running = {p.name for p in processes.recorded(layout) if processes.alive(p)}
    assert running == {"csi-driver", "csi-registrar"}
    assert processes.recorded_argv(layout, "csi-registrar") == [
        str(plugin_binary), "--register-only", "--drivername=byod.snapconf.io",
        f"--plugin-registration-dir={layout.plugins_registry}",
        f"--kubelet-registration-path={layout.interposer_socket}",
    ]  # fmt: skip
    assert "registration only: driver byod.snapconf.io" in layout.log("csi-registrar").read_text()
    assert any("csi-driver says it is byod.snapconf.io" in line for line in lines)


@needs_go
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_driver_with_an_unusable_name_stops_the_bring_up_with_its_log(
    plugin_binary: Path, proto_dir: Path, short_layout: Layout
) -> None:
    layout = short_layout
    spec = driver.make_spec(
        plugin_binary, ["--endpoint={endpoint}", "--nodeid={node}", "--statedir={state_dir}",
                        "--drivername=Not_A_Name"],
    )  # fmt: skip
    bins = {**fake_bins(), "hostpathplugin": plugin_binary}
    argv = cluster._argv(layout, bins, proto_dir, spec)[driver.DRIVER]
    with pytest.raises(cluster.TestbedError) as caught:
        cluster._start_user_driver(
            layout, bins, argv, proto_dir, spec,
            FakeKube(),  # type: ignore[arg-type]
            lambda _line: None,
        )  # fmt: skip
    message = str(caught.value)
    assert message.startswith(
        "csi-driver is not usable: GetPluginInfo returned the name 'Not_A_Name'"
    )
    assert "csi-driver.log, last lines:" in message


@needs_go
def test_plugin_info_without_an_answer(proto_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PluginInfoError, match=r"no answer to GetPluginInfo on .* within 1s"):
        driver.plugin_info(tmp_path / "nobody.sock", proto_dir, timeout=1)


def test_snapshot_components_run_with_group_snapshots(layout: Layout) -> None:
    """The snapshot-controller and csi-snapshotter name the VolumeGroupSnapshot gate."""
    gate = f"--feature-gates={cluster.GROUP_SNAPSHOT_GATE}=true"
    assert cluster.GROUP_SNAPSHOT_GATE == "CSIVolumeGroupSnapshot"
    argv = cluster._argv(layout, fake_bins(), None, None)
    assert gate in argv["snapshot-controller"]
    assert gate in argv["csi-snapshotter"]
    assert not any("feature-gates=CSIVolumeGroupSnapshot" in a for a in argv["csi-provisioner"])


def _crd(name: str) -> str:
    kind = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
    return f"{kind}metadata:\n  name: {name}\n"


def test_testbed_crds_include_the_group_snapshot_crds(tmp_path: Path) -> None:
    names = [
        "volumesnapshots.snapshot.storage.k8s.io",
        *bootstrap.GROUP_SNAPSHOT_CRDS,
    ]
    for name in names:
        (tmp_path / f"{name}.yaml").write_text(_crd(name))
    (tmp_path / "kustomization.yaml").write_text("kind: Kustomization\nresources: []\n")
    assert sorted(d["metadata"]["name"] for d in bootstrap.crds(tmp_path)) == sorted(names)
    (tmp_path / f"{bootstrap.GROUP_SNAPSHOT_CRDS[0]}.yaml").unlink()
    with pytest.raises(ValueError, match=bootstrap.GROUP_SNAPSHOT_CRDS[0]):
        bootstrap.crds(tmp_path)


def test_the_node_may_read_pods_claims_and_volumes_and_nothing_else() -> None:
    """The grant that spares a new pod the kubelet's 10 s back-off is reads for this node."""
    role, binding = bootstrap.node_reads()
    assert role["rules"] == [{
        "apiGroups": [""],
        "resources": ["pods", "persistentvolumeclaims", "persistentvolumes"],
        "verbs": ["get"],
    }]  # fmt: skip
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{
        "apiGroup": "rbac.authorization.k8s.io", "kind": "User",
        "name": f"system:node:{NODE_NAME}",
    }]  # fmt: skip
