"""The pods and data verbs: write, read and measure a volume's data from a pod.

Why it exists: data steps run by exec in one volume pod per claim (started on first use,
released before the claim is deleted or reused), or in one-shot pods when the cluster
refuses exec (``ExecChoice``); either way a step prints one line (``conformance.workload``)
and the node is seen to release the volume before a snapshot or clone reads it.

Must not: assert conformance expectations (suites do); know what a step's script does
beyond its one line.
"""

from __future__ import annotations

import time

from conformance import workload
from conformance.actions.base import (
    ExecChoice,
    Obj,
    _present,
    name_of,
)
from conformance.actions.claims import ClaimActions
from conformance.kube import Forbidden, Invalid
from conformance.podexec import exec_in_pod
from conformance.waits import (
    pod_running,
    pod_succeeded,
)


class PodActions(ClaimActions):
    """Pods that hold a claim, and the data steps run in them."""

    def _volume(self, pvc: Obj, mode: str) -> dict[str, str]:
        """The pod template's volume entry: a raw device for Block, a mount otherwise."""
        path = workload.DEVICE_PATH if mode == "Block" else workload.MOUNT_PATH
        return {"name": "vol", "claim_name": name_of(pvc), "mode": mode, "path": path}

    def _pod(self, prefix: str, pvc: Obj, mode: str, command: str) -> Obj:
        """Render and create a pod using ``pvc`` (not awaited)."""
        obj = self.renderer.render(
            "pod",
            name=self.fresh_name(prefix),
            namespace=self.namespace,
            image=self.profile.workload.image,
            pull_policy=self.profile.workload.pull_policy,
            command=["sh", "-c", command],
            volumes=[self._volume(pvc, mode)],
            node_name=None,
        )
        return self.tracker.create(obj)

    def step(self, pvc: Obj, script: str, *, mode: str, purpose: str) -> str:
        """Run one workload step on ``pvc``; return the line it printed.

        By exec in the claim's volume pod (started on first use, kept until the claim is
        released or deleted), or in a one-shot pod when exec is off or refused.
        """
        choice = self.exec_choice or ExecChoice()
        if choice.enabled:
            pod = self.volume_pod(pvc, mode=mode)
            started = time.monotonic()
            try:
                result = exec_in_pod(
                    self.kube, pod, self.namespace, ["sh", "-c", script],
                    timeout=self.profile.timeouts.pod_start,
                )  # fmt: skip
            except (Forbidden, Invalid) as err:  # RBAC (403) or an admission policy (422)
                choice.enabled, choice.refused = False, str(err)
            else:
                if self.waiter.timings is not None:
                    self.waiter.timings.record(
                        f"exec-{purpose}", time.monotonic() - started, f"Pod {self.namespace}/{pod}"
                    )
                if result.exit_code != 0:
                    raise AssertionError(
                        f"the {purpose} step in pod {self.namespace}/{pod} exited "
                        f"{result.exit_code}: {result.stderr.strip()[-500:] or 'no output'}"
                    )
                return result.stdout.strip()
        if choice.refused and not self._noted_one_shot:
            self._noted_one_shot = True
            self.tracker.notes.append(
                f"workload steps ran in one-shot pods: the cluster refused exec ({choice.refused})"
            )
        return self.run_pod(pvc, script, mode=mode, purpose=purpose)

    def volume_pod(self, pvc: Obj, *, mode: str | None = None) -> str:
        """The running pod that holds ``pvc`` for the test's steps (started once)."""
        mode = mode or self.volume_mode
        key = (name_of(pvc), str(pvc["metadata"].get("uid")))
        name = self._volume_pods.get(key)
        if name is None:
            name = name_of(self._pod("vol", pvc, mode, workload.KEEPALIVE))
            running = self.waiter.until(
                "Pod", name, self.namespace, pod_running,
                timeout=self.profile.timeouts.pod_start, op="volume-pod-running",
                describe=f"volume pod {self.namespace}/{name} to run",
            )  # fmt: skip
            self.node_name = _present(running)["spec"].get("nodeName") or self.node_name
            self._volume_pods[key] = name
        return name

    def release(self, pvc: Obj) -> None:
        """Stop ``pvc``'s volume pod, if it has one, and wait until the node lets go of it.

        For steps that need the volume unused: deleting the claim, importing its volume
        elsewhere, or proving what happens once no pod holds it.
        """
        key = (name_of(pvc), str(pvc["metadata"].get("uid")))
        name = self._volume_pods.pop(key, None)
        if name is None:
            return
        pod = {"kind": "Pod", "metadata": {"name": name, "namespace": self.namespace}}
        self.delete(pod, op="volume-pod-deleted", timeout=self.profile.timeouts.pod_delete)
        self.wait_volume_released(pvc)

    def run_pod(self, pvc: Obj, script: str, *, mode: str, purpose: str) -> str:
        """Run ``script`` in a one-shot pod on ``pvc``, wait for success, delete it.

        Returns its line once the node has released the volume, so what follows (a
        snapshot, a clone) sees the data flushed.
        """
        obj = self._pod(purpose, pvc, mode, workload.one_shot(script))
        pod_name = name_of(obj)
        done = self.waiter.until(
            "Pod", pod_name, self.namespace, pod_succeeded,
            timeout=self.profile.timeouts.pod_start, op=f"pod-{purpose}",
            describe=f"{purpose} pod {self.namespace}/{pod_name} to succeed",
        )  # fmt: skip
        done = _present(done)
        self.node_name = done["spec"].get("nodeName") or self.node_name
        statuses = done.get("status", {}).get("containerStatuses") or []
        message = (
            str(((statuses[0].get("state") or {}).get("terminated") or {}).get("message", ""))
            if statuses
            else ""
        )
        self.delete(obj, op="pod-deleted", timeout=self.profile.timeouts.pod_delete)
        self.wait_volume_released(pvc)
        return message.strip()

    def write_data(
        self, pvc: Obj, *, mode: str | None = None, size: int | None = None
    ) -> workload.Result:
        """Fill the volume with a random payload; return its sha256 once it is synced."""
        mode = mode or self.volume_mode
        script = workload.writer_script(mode, size or self.profile.workload.payload_bytes)
        return workload.parse_result(self.step(pvc, script, mode=mode, purpose="writer"))

    def read_data(
        self, pvc: Obj, *, mode: str | None = None, size: int | None = None
    ) -> workload.Result:
        """Hash what the volume holds (``sha256 == 'missing'`` when the payload file is absent)."""
        mode = mode or self.volume_mode
        script = workload.reader_script(mode, size or self.profile.workload.payload_bytes)
        return workload.parse_result(self.step(pvc, script, mode=mode, purpose="reader"))

    def visible_capacity(self, pvc: Obj, *, mode: str | None = None) -> int:
        """The size a pod sees: the block device size or the filesystem's total bytes."""
        mode = mode or self.volume_mode
        script = workload.capacity_script(mode)
        return workload.parse_capacity(self.step(pvc, script, mode=mode, purpose="capacity"))

    def wait_volume_released(self, pvc: Obj) -> None:
        """Wait until the node no longer lists the volume in ``status.volumesInUse``.

        Snapshotting a volume that kubelet still has mounted is what makes upstream e2e
        snapshots flaky-empty; waiting here flushes the data path first.
        """
        if self.node_name is None:
            return
        # A claim's binding never changes: read its volume handle once, not two GETs a pod.
        key = (name_of(pvc), str(pvc["metadata"].get("uid")))
        handle = self._handles.get(key)
        if handle is None:
            handle = self._handles[key] = self.pv_of(pvc)["spec"]["csi"]["volumeHandle"]

        def released(node: Obj | None) -> bool:
            in_use = ((node or {}).get("status") or {}).get("volumesInUse") or []
            return not any(str(entry).endswith(f"^{handle}") for entry in in_use)

        self.waiter.until(
            "Node", self.node_name, None, released,
            timeout=self.profile.timeouts.pod_delete, op="volume-released",
            describe=f"node {self.node_name} to stop using volume {handle}",
        )  # fmt: skip

    def start_pod(self, pvc: Obj, *, mode: str | None = None) -> Obj:
        """A pod that keeps ``pvc`` in use until deleted; returned once Running."""
        pod = self.consumer_pod(pvc, mode=mode)
        pod_name = name_of(pod)
        running = self.waiter.until(
            "Pod", pod_name, self.namespace, pod_running,
            timeout=self.profile.timeouts.pod_start, op="pod-running",
            describe=f"pod {self.namespace}/{pod_name} to run",
        )  # fmt: skip
        running = _present(running)
        self.node_name = running["spec"].get("nodeName") or self.node_name
        return pod

    def consumer_pod(self, pvc: Obj, *, mode: str | None = None) -> Obj:
        """A pod that would keep ``pvc`` in use, created and not awaited."""
        mode = mode or self.volume_mode
        return self._pod("user", pvc, mode, workload.KEEPALIVE)
