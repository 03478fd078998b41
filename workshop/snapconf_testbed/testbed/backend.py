"""What the CSI driver itself holds: its volumes and snapshots, as it lists them.

Why: the leak check reads API objects, and an API object can be gone while the backend
volume is not (a DeleteVolume that reports success and deletes nothing removes the PV and
keeps the volume). On the embedded testbed the harness can ask the driver: CSI ListVolumes
and ListSnapshots (every page), through the fault interposer's socket as every sidecar
calls it, so active faults apply to these calls too. Listed once before the run and once
after its cleanup, what is listed after and not before is what the run left in the
backend; the PersistentVolumes and VolumeSnapshotContents then say whether an API object
still names each entry.

The core never imports this module at import time: the plugin imports it lazily, and only
when the kubeconfig is the testbed's. It uses the CSI stubs the faults compile
(:mod:`snapconf_testbed.faults.proto`); the faults package never imports the testbed's
``backend``, so the dependency stays one-way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import tenacity
from google.protobuf.message import DecodeError

from conformance.kube import RUN_LABEL
from conformance.testbed_hook import NOT_TESTBED  # noqa: F401 - the note, said by the core
from conformance.units import format_quantity
from snapconf_testbed.faults.proto import CsiProto, ProtoError, ensure_proto, load_csi
from snapconf_testbed.layout import Layout

TIMEOUT = 10.0
"""Seconds for one whole listing (capabilities and every page of both lists)."""
MAX_PAGES = 10_000
"""A driver that keeps answering with a next_token is cut off here (an error)."""
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
"""Codes a caller retries, as the sidecars do (e.g. the ``transient-unavailable`` fault)."""


Obj = dict[str, Any]


class BackendError(RuntimeError):
    """The driver could not be listed (no socket, no CSI proto, a gRPC error)."""


@dataclass(frozen=True)
class BackendListing:
    """The driver's volumes and snapshots at one moment.

    ``volumes`` maps a volume id to its capacity in bytes; ``snapshots`` a snapshot id to
    its source volume id. Either is None when the driver cannot list it; ``unseen`` then
    says why, one sentence each (``cannot see volumes: the driver does not support
    ListVolumes``).
    """

    volumes: Mapping[str, int] | None
    snapshots: Mapping[str, str] | None
    unseen: tuple[str, ...] = ()

    def added_since(self, before: BackendListing) -> BackendListing:
        """The entries listed now and not in ``before`` (None where either is blind)."""
        volumes = (
            {k: v for k, v in self.volumes.items() if k not in before.volumes}
            if self.volumes is not None and before.volumes is not None
            else None
        )
        snapshots = (
            {k: v for k, v in self.snapshots.items() if k not in before.snapshots}
            if self.snapshots is not None and before.snapshots is not None
            else None
        )
        unseen = tuple(dict.fromkeys((*before.unseen, *self.unseen)))
        return BackendListing(volumes=volumes, snapshots=snapshots, unseen=unseen)

    def counts(self) -> str:
        """``2 volumes, 1 snapshot`` (the lists the driver could give)."""
        parts = []
        if self.volumes is not None:
            parts.append(_plural(len(self.volumes), "volume"))
        if self.snapshots is not None:
            parts.append(_plural(len(self.snapshots), "snapshot"))
        return ", ".join(parts) or "nothing visible"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------- reading the driver


class _Client:
    """Unary CSI calls on one channel, all within one deadline, UNAVAILABLE retried."""

    def __init__(self, proto: CsiProto, target: str, timeout: float) -> None:
        self.proto = proto
        self.channel = grpc.insecure_channel(target)
        self.deadline = time.monotonic() + timeout

    def call(self, name: str, request: Any) -> Any:
        method = self.proto.method(name)
        stub: Any = self.channel.unary_unary(method.path)

        def once() -> bytes:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise BackendError(f"{name}: no answer within the listing's {TIMEOUT:g} s")
            try:
                return bytes(stub(request.SerializeToString(), timeout=left))
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
                details = exc.details() if hasattr(exc, "details") else str(exc)
                raise _RpcFailed(name, code, str(details or "")) from None

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(
                lambda exc: isinstance(exc, _RpcFailed) and exc.code in RETRIED
            ),
            wait=tenacity.wait_exponential(multiplier=0.1, max=1.0),
            stop=tenacity.stop_before_delay(max(0.0, self.deadline - time.monotonic())),
            reraise=True,
        )
        data = retrying(once)
        try:
            return method.response_type.FromString(data)
        except DecodeError as exc:
            raise BackendError(f"{name}: the reply is not a {name}Response: {exc}") from exc

    def close(self) -> None:
        self.channel.close()


class _RpcFailed(BackendError):
    def __init__(self, name: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{name} failed: {code.name}: {details}")
        self.code = code


def read_listing(socket: Path, proto_dir: Path, *, timeout: float = TIMEOUT) -> BackendListing:
    """List the driver's volumes and snapshots over the CSI socket ``socket``.

    Asks ControllerGetCapabilities first: a list the driver does not declare
    (LIST_VOLUMES, LIST_SNAPSHOTS) is not asked for and is reported in ``unseen``.

    Args:
        socket: the unix socket to dial (on the testbed: the interposer's).
        proto_dir: a build of ``csi.proto`` (:func:`snapconf_testbed.faults.proto.ensure_proto`).
        timeout: seconds for the whole listing.

    Raises:
        BackendError: no socket, the proto cannot be loaded, or a call failed.
    """
    if not socket.is_socket():
        raise BackendError(f"no CSI socket at {socket} (is the testbed up?)")
    try:
        proto = load_csi(proto_dir)
    except ProtoError as err:
        raise BackendError(str(err)) from err
    csi = proto.module
    client = _Client(proto, f"unix://{socket}", timeout)
    try:
        try:
            caps = client.call("ControllerGetCapabilities", csi.ControllerGetCapabilitiesRequest())
        except _RpcFailed as err:
            if err.code != grpc.StatusCode.UNIMPLEMENTED:
                raise
            why = "the driver has no controller service"
            return BackendListing(None, None, (f"cannot see volumes: {why}",
                                               f"cannot see snapshots: {why}"))  # fmt: skip
        rpc = csi.ControllerServiceCapability.RPC
        declared = {c.rpc.type for c in caps.capabilities if c.HasField("rpc")}
        unseen: list[str] = []
        volumes: dict[str, int] | None = None
        snapshots: dict[str, str] | None = None
        if rpc.LIST_VOLUMES in declared:
            volumes = {
                str(v.volume_id): int(v.capacity_bytes)
                for v in _pages(client, "ListVolumes", csi.ListVolumesRequest, "volume")
            }
        else:
            unseen.append("cannot see volumes: the driver does not support ListVolumes")
        if rpc.LIST_SNAPSHOTS in declared:
            snapshots = {
                str(s.snapshot_id): str(s.source_volume_id)
                for s in _pages(client, "ListSnapshots", csi.ListSnapshotsRequest, "snapshot")
            }
        else:
            unseen.append("cannot see snapshots: the driver does not support ListSnapshots")
        return BackendListing(volumes, snapshots, tuple(unseen))
    finally:
        client.close()


def _pages(client: _Client, name: str, request_type: Any, entry_field: str) -> list[Any]:
    """Every entry of a paged List call (each entry's ``volume``/``snapshot``)."""
    out: list[Any] = []
    token = ""
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        resp = client.call(name, request_type(starting_token=token))
        out += [getattr(entry, entry_field) for entry in resp.entries]
        token = str(resp.next_token)
        if not token:
            return out
        if token in seen:
            raise BackendError(f"{name} returned next_token {token!r} twice (a paging loop)")
        seen.add(token)
    raise BackendError(f"{name} still had pages after {MAX_PAGES}")


def driver_listing(layout: Layout, *, timeout: float = TIMEOUT) -> BackendListing:
    """The testbed driver's listing, through the fault interposer's socket.

    Raises:
        BackendError: as :func:`read_listing`, or the CSI proto cannot be built.
    """
    try:
        proto_dir = ensure_proto(layout.cache)
    except (ProtoError, OSError) as err:
        raise BackendError(f"the CSI proto is not available: {err}") from err
    try:
        return read_listing(layout.interposer_socket, proto_dir, timeout=timeout)
    except BackendError:
        raise
    except Exception as err:  # a check at the session's end must not crash the session
        raise BackendError(f"{type(err).__name__}: {err}") from err


# ---------------------------------------------------------------- what the run left


@dataclass
class BackendLeaks:
    """What a run left in the backend: one line per entry, and what was not counted."""

    lines: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # new, but named by others' objects


def runs_object(obj: Obj, run_id: str) -> bool:
    """Whether a PV or VolumeSnapshotContent is the run's (as the leak check decides).

    It carries the run label, its name holds the run id, or it points into one of the
    run's namespaces (their names start with the run id, after an optional prefix).
    """
    meta = obj.get("metadata") or {}
    if (meta.get("labels") or {}).get(RUN_LABEL) == run_id or run_id in str(meta.get("name")):
        return True
    spec = obj.get("spec") or {}
    ref = spec.get("claimRef") or spec.get("volumeSnapshotRef") or {}
    namespace = str(ref.get("namespace") or "")
    return namespace.startswith(f"{run_id}-") or f"-{run_id}-" in namespace


def _names(objects: Iterable[Obj], handle: Callable[[Obj], str]) -> dict[str, list[Obj]]:
    found: dict[str, list[Obj]] = {}
    for obj in objects:
        key = handle(obj)
        if key:
            found.setdefault(key, []).append(obj)
    return found


def _volume_handle(pv: Obj) -> str:
    return str(((pv.get("spec") or {}).get("csi") or {}).get("volumeHandle") or "")


def _snapshot_handle(content: Obj) -> str:
    status = str((content.get("status") or {}).get("snapshotHandle") or "")
    source = (content.get("spec") or {}).get("source") or {}
    return status or str(source.get("snapshotHandle") or "")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "?")


def backend_leaks(
    added: BackendListing,
    run_id: str,
    *,
    pvs: list[Obj] | None,
    contents: list[Obj] | None,
    api_error: str = "",
) -> BackendLeaks:
    """One line per backend volume or snapshot the run created and left.

    Args:
        added: the entries listed after the run and not before
            (:meth:`BackendListing.added_since`).
        run_id: the run; an entry that only another run's or user's PV/content names is
            theirs, not this run's, and goes to ``others``.
        pvs: every PersistentVolume now (None: could not be read).
        contents: every VolumeSnapshotContent now (None: could not be read).
        api_error: why the API objects could not be read, said in each line then.
    """
    out = BackendLeaks()
    kinds: list[tuple[str, Mapping[str, str], list[Obj] | None, Callable[[Obj], str], str]] = [
        ("volume", {k: f" ({_size(v)})" for k, v in (added.volumes or {}).items()}, pvs,
         _volume_handle, "PersistentVolume"),
        ("snapshot", {k: f" of volume {v or '?'}" for k, v in (added.snapshots or {}).items()},
         contents, _snapshot_handle, "VolumeSnapshotContent"),
    ]  # fmt: skip
    for what, entries, objects, handle, kind in kinds:
        by_handle = _names(objects, handle) if objects is not None else {}
        for entry_id, detail in sorted(entries.items()):
            head = f"backend {what} {entry_id}{detail} left by the run: the driver still lists it"
            if objects is None:
                why = f": {api_error}" if api_error else ""
                out.lines.append(f"{head} (whether a {kind} names it is unknown{why})")
                continue
            named = by_handle.get(entry_id, [])
            mine = [o for o in named if runs_object(o, run_id)]
            if named and not mine:
                names = ", ".join(sorted(_name(o) for o in named))
                out.others.append(f"{what} {entry_id} ({kind} {names}, not this run's)")
            elif mine:
                names = ", ".join(sorted(_name(o) for o in mine))
                out.lines.append(f"{head}, and {kind} {names} (left too) names it")
            else:
                out.lines.append(f"{head}, but no {kind} names it")
    return out


def _size(capacity: int) -> str:
    try:
        return format_quantity(capacity) if capacity else "size unknown"
    except ValueError:
        return str(capacity)


def summary(before: BackendListing, after: BackendListing, leaks: BackendLeaks) -> str:
    """The one-sentence account of the backend check for results.json and the report."""
    text = (
        "the driver's own listing (ListVolumes, ListSnapshots through the CSI interposer) "
        f"was compared before ({before.counts()}) and after the run ({after.counts()}): "
    )
    n = len(leaks.lines)
    text += f"{n} {'entry' if n == 1 else 'entries'} left by the run"
    if leaks.others:
        text += f"; new but named by objects not of this run: {'; '.join(leaks.others)}"
    unseen = tuple(dict.fromkeys((*before.unseen, *after.unseen)))
    if unseen:
        text += "; " + "; ".join(unseen)
    return text
