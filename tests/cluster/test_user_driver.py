"""A user's CSI driver on the testbed: our own driver binary passed as a user's would be.

``snapconf testbed up --driver`` switches the running testbed's CSI processes to a fresh
build of ``testbed/hostpath-driver`` given the README's arguments (so nothing registers it
but ``hostpathplugin --register-only``), ``testbed status`` names it, a PVC binds and a
snapshot becomes ready through the interposer in front of it, with the volume in the
user driver's ``{state_dir}``; ``testbed up --builtin-driver`` then puts the built-in
driver back. Both switches happen in place (the cluster, its certificates and the other
tests' session objects stay), so this runs in the ``tox -e testbed`` flow: about a minute
on top of a warm Go build cache (two switches of ~15-20 s, the go build, a PVC and a
snapshot).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.actions import ClusterActions
from conformance.cli import main
from conformance.kube import Kube
from conformance.plugin import STATE
from snapconf_testbed import build
from snapconf_testbed.layout import DRIVER_NAME, Layout
from snapconf_testbed.paths import data_dir
from snapconf_testbed.testbed import bootstrap, driver, processes
from snapconf_testbed.testbed.cluster import ALL_COMPONENTS, healthy

pytestmark = [
    # the switched processes are started by this process and outlive its Popen objects
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def user_driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``go build -o /tmp/.../mydriver ./testbed/hostpath-driver``, as the README says."""
    if shutil.which("go") is None:
        pytest.skip("needs go to build the driver")
    out = tmp_path_factory.mktemp("byod") / "mydriver"
    result = subprocess.run(
        ["go", "build", "-o", str(out), "."],
        cwd=data_dir("testbed") / "hostpath-driver",
        env=build.go_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"go build failed:\n{result.stderr[-3000:]}"
    return out


@pytest.fixture
def builtin_driver_after(request: pytest.FixtureRequest, kube: Kube) -> Iterator[Layout]:
    """The testbed runs the built-in driver before, and again after, whatever happens.

    Set up before the test's tracker, so torn down after it: the user driver's volumes
    and snapshots are gone by then and the switch back happens in place.
    """
    layout = Layout.default()
    kubeconfig = request.config.getoption("snapconf_kubeconfig") or os.environ.get("KUBECONFIG")
    if not layout.serves(kubeconfig) or not healthy(layout):
        pytest.skip("needs the embedded testbed, up")
    if driver.load(layout) is not None:
        pytest.skip("the testbed runs a user's driver already")
    reaper = request.config.stash[STATE].reaper
    reaper.wait()  # the earlier tests' cleanups run in the background
    held = bootstrap.driver_objects(kube, DRIVER_NAME)
    if held:  # a switch would bring the testbed up afresh under the other tests' feet
        pytest.skip(f"the testbed holds volumes or snapshots: {', '.join(held[:3])}")
    yield layout
    reaper.wait()  # this test's own cleanup, before the switch back
    spec = driver.load(layout)
    if spec is not None and spec.name:
        processes.wait_until(lambda: not bootstrap.driver_objects(kube, spec.name), 120, 1.0)
    assert main(["testbed", "up", "--builtin-driver"]) == 0
    assert driver.load(layout) is None
    assert healthy(layout)


def status_rows(out: str) -> dict[str, str]:
    return {
        parts[0]: parts[1]
        for parts in map(str.split, out.splitlines())
        if parts and parts[0] in ALL_COMPONENTS
    }


def test_a_user_driver_replaces_ours_and_provisions_and_snapshots(
    builtin_driver_after: Layout,
    user_driver: Path,
    cluster: ClusterActions,
    capsys: pytest.CaptureFixture[str],
) -> None:
    layout = builtin_driver_after
    status = main(
        [
            "testbed", "up", "--driver", str(user_driver),
            "--driver-arg=--endpoint={endpoint}", "--driver-arg=--nodeid={node}",
            "--driver-arg=--statedir={state_dir}",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    assert "switching the CSI driver" in out, out  # in place, not afresh

    assert main(["testbed", "status"]) == 0
    out = capsys.readouterr().out
    assert f"CSI driver: {user_driver} (GetPluginInfo name {DRIVER_NAME}," in out
    assert "registered with kubelet by: built-in hostpathplugin --register-only" in out
    rows = status_rows(out)
    assert rows["csi-driver"] == "running"
    assert rows["csi-registrar"] == "running"
    assert "hostpathplugin" not in rows

    pvc = cluster.bound_pvc()
    snapshot = cluster.ready_snapshot(pvc)
    assert snapshot["status"]["readyToUse"] is True

    handle = cluster.pv_of(pvc)["spec"]["csi"]["volumeHandle"]
    state = json.loads((layout.driver_data / "state.json").read_text())
    assert handle in {volume["id"] for volume in state["volumes"]}
    assert "CreateVolume" in layout.log("csi-driver").read_text()
    assert "CreateSnapshot" in layout.log("csi-driver").read_text()
