"""The wait engine without a cluster: histories over a window, re-lists, timeouts, events."""

from __future__ import annotations

import pytest

from conformance.kube import Gone
from conformance.waits import TOMBSTONE, Waiter, WaitTimeout, snapshot_ready
from tests.fakes import FakeClock, FakeKube

NS = "ns"


def snapshot(name: str = "snap", **status: object) -> dict[str, object]:
    return {
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": NS},
        "status": dict(status),
    }


def event(name: str, reason: str, message: str, kind: str = "VolumeSnapshot") -> dict[str, object]:
    return {
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason}", "namespace": NS},
        "involvedObject": {"kind": kind, "name": name, "namespace": NS},
        "type": "Warning",
        "reason": reason,
        "message": message,
    }


@pytest.fixture
def api() -> FakeKube:
    return FakeKube()


@pytest.fixture
def waiter(api: FakeKube) -> Waiter:
    clock = FakeClock()
    return Waiter(api, clock=clock, sleep=clock.sleep)


def test_observe_keeps_a_state_that_came_and_went(api: FakeKube, waiter: Waiter) -> None:
    created = api.put(snapshot(readyToUse=False))
    api.script = [
        [("MODIFIED", snapshot(readyToUse=True)), ("MODIFIED", snapshot(readyToUse=False))]
    ]
    seen = waiter.observe(
        "VolumeSnapshot", "snap", NS, window=3, op="w", since=created["metadata"]["resourceVersion"]
    )
    assert [s and s["status"]["readyToUse"] for s in seen][:2] == [True, False]
    assert any(snapshot_ready(s) for s in seen), "a moment of readiness inside the window is kept"


def test_observe_runs_the_whole_window_across_stream_ends(api: FakeKube, waiter: Waiter) -> None:
    api.put(snapshot(readyToUse=False))
    waiter.observe("VolumeSnapshot", "snap", NS, window=5, op="w")
    assert api.watches > 1, "a watch that ended early was not opened again within the window"


def test_observe_stops_at_the_stop_condition(api: FakeKube, waiter: Waiter) -> None:
    api.put(snapshot())
    api.script = [[("MODIFIED", snapshot(error={"message": "boom"})), ("MODIFIED", snapshot())]]
    seen = waiter.observe(
        "VolumeSnapshot", "snap", NS, window=30, op="w",
        stop=lambda o: bool(o and o["status"].get("error")),
    )  # fmt: skip
    assert seen[-1] is not None
    assert seen[-1]["status"]["error"]["message"] == "boom"
    assert api.watches == 1


def test_observe_records_deletion_as_none(api: FakeKube, waiter: Waiter) -> None:
    created = api.put(snapshot())
    api.script = [[("DELETED", snapshot())]]
    seen = waiter.observe(
        "VolumeSnapshot", "snap", NS, window=2, op="w", since=created["metadata"]["resourceVersion"]
    )
    assert seen[0] is None


def test_until_relists_after_gone(api: FakeKube, waiter: Waiter) -> None:
    api.put(snapshot(readyToUse=False))
    api.script = [Gone, [("MODIFIED", snapshot(readyToUse=True))]]
    got = waiter.until(
        "VolumeSnapshot", "snap", NS, snapshot_ready, timeout=30, op="ready", describe="ready"
    )
    assert got is not None
    assert got["status"]["readyToUse"] is True


def test_until_timeout_names_the_last_state_and_events(api: FakeKube, waiter: Waiter) -> None:
    api.put(snapshot(readyToUse=False, error={"message": "driver said no"}))
    api.put(event("snap", "SnapshotCreationFailed", "rpc error: code = Internal"))
    with pytest.raises(WaitTimeout) as caught:
        waiter.until(
            "VolumeSnapshot", "snap", NS, snapshot_ready, timeout=2, op="ready",
            describe="VolumeSnapshot ns/snap to be readyToUse",
        )  # fmt: skip
    text = str(caught.value)
    assert "timed out after 2s waiting for VolumeSnapshot ns/snap to be readyToUse" in text
    assert "driver said no" in text
    assert "Warning SnapshotCreationFailed: rpc error: code = Internal" in text


def test_first_event_skips_an_unrelated_warning(api: FakeKube, waiter: Waiter) -> None:
    api.put(event("snap", "FailedPull", "image pull backoff"))
    api.script = [
        [("ADDED", event("snap", "SnapshotContentMisbound", "bound to a different snapshot"))]
    ]
    got = waiter.first_event(
        NS, "involvedObject.name=snap", timeout=10, op="e", describe="the misbinding",
        match=lambda e: bool(e and e["reason"] == "SnapshotContentMisbound"),
    )  # fmt: skip
    assert got["message"] == "bound to a different snapshot"


def test_first_event_times_out_when_only_unrelated_warnings_come(
    api: FakeKube, waiter: Waiter
) -> None:
    api.put(event("snap", "FailedPull", "image pull backoff"))
    with pytest.raises(WaitTimeout):
        waiter.first_event(
            NS, "involvedObject.name=snap", timeout=2, op="e", describe="the misbinding",
            match=lambda e: bool(e and e["reason"] == "SnapshotContentMisbound"),
        )  # fmt: skip


def test_a_history_keeps_the_deletion_with_its_revision(api: FakeKube, waiter: Waiter) -> None:
    created = api.put(snapshot())
    api.script = [[("MODIFIED", snapshot(readyToUse=True)), ("DELETED", snapshot())]]
    seen = waiter.observe(
        "VolumeSnapshot", "snap", NS, window=5, op="h", tombstones=True,
        since=created["metadata"]["resourceVersion"], stop=lambda o: bool(o and o.get(TOMBSTONE)),
    )  # fmt: skip
    assert seen[-1] is not None
    assert seen[-1][TOMBSTONE] is True
    assert int(seen[-1]["metadata"]["resourceVersion"]) > int(
        seen[0]["metadata"]["resourceVersion"]
    )


def test_a_history_that_cannot_be_replayed_is_an_error(api: FakeKube, waiter: Waiter) -> None:
    api.put(snapshot())
    api.script = [Gone]
    with pytest.raises(Gone):
        waiter.observe("VolumeSnapshot", "snap", NS, window=5, op="h", tombstones=True, since="1")
