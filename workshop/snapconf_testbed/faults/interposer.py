"""The fault-injecting CSI interposer: a gRPC proxy between the CSI callers and the plugin.

Run as ``python -m snapconf_testbed.faults.interposer --listen unix:///a.sock --upstream
unix:///csi.sock [--faults NAME[,NAME]] [--fault-module PATH] [--control FILE]
[--hostpath-state DIR] [--proto-dir DIR]``. It serves every method of the CSI spec
(Identity, Controller, Node and the rest) plus any unknown method, which it passes
through as raw bytes with the cardinality the caller uses. A unary CSI call that no active
fault touches is forwarded byte for byte, with its metadata, deadline and status; only
calls an active fault touches are parsed (and only as far as the fault reads them).

With ``--control`` the control file is the source of truth: at start the interposer
writes ``--faults`` into it (when given) or else reads it, and on each call it re-reads
the file if it changed. One line per call goes to stderr: method, faults, code, time.

This module must not be imported by the testbed to build argv (see ``launch.py``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any

import grpc

from snapconf_testbed.faults.call import Call, CallError, FaultFn, Metadata, Reply
from snapconf_testbed.faults.control import (
    ControlError,
    ControlWatch,
    parse_names,
    read_active,
    validate_names,
    write_active,
)
from snapconf_testbed.faults.proto import CsiProto, Method, ProtoError, ensure_proto, load_csi
from snapconf_testbed.faults.registry import FaultModuleError, Registry, registry_with

UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
_DROP_METADATA = ("user-agent", "content-type", "te")
_NO_DEADLINE = 1e8  # grpc reports an absent deadline as a huge time remaining

Log = Callable[[str], None]


def log_line(line: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    sys.stderr.write(f"{stamp} interposer: {line}\n")
    sys.stderr.flush()


def endpoint(value: str) -> str:
    """A gRPC target for a ``unix://`` URL or a plain socket path."""
    if value.startswith("unix:"):
        return value
    return f"unix://{Path(value).resolve()}"


def socket_path(target: str) -> Path | None:
    for prefix in ("unix://", "unix:"):
        if target.startswith(prefix):
            return Path(target[len(prefix) :])
    return None


def forwardable(metadata: Sequence[tuple[str, str | bytes]] | None) -> Metadata:
    """Caller metadata minus what gRPC itself sets."""
    return tuple(
        (k, v)
        for k, v in metadata or ()
        if not k.startswith((":", "grpc-")) and k not in _DROP_METADATA
    )


def _metadata(md: Any) -> Metadata:
    return tuple((str(k), v) for k, v in md or ())


class ChannelUpstream:
    """The plugin, reached over one gRPC channel with raw-bytes stubs."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target, options=UNLIMITED)
        self._stubs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _stub(self, path: str) -> Any:
        with self._lock:
            if path not in self._stubs:
                self._stubs[path] = self.channel.unary_unary(path)
            return self._stubs[path]

    def unary(
        self, method: Method, request: bytes, metadata: Metadata, timeout: float | None
    ) -> tuple[bytes, Metadata]:
        try:
            response, call = self._stub(method.path).with_call(
                request, metadata=metadata or None, timeout=timeout
            )
        except grpc.RpcError as exc:
            raise _call_error(exc) from None
        return bytes(response), _metadata(call.trailing_metadata())

    def close(self) -> None:
        self.channel.close()


def _call_error(exc: grpc.RpcError) -> CallError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else ()
    return CallError(code, details or "", _metadata(trailing))


class ActiveFaults:
    """The active fault instances, refreshed from the control file when it changes."""

    def __init__(
        self,
        registry: Registry,
        initial: Sequence[str],
        control: Path | None,
        log: Log = log_line,
    ) -> None:
        self._registry = registry
        self._log = log
        self._lock = threading.Lock()
        self._active: list[tuple[str, FaultFn]] = []
        self._watch = ControlWatch(control) if control is not None else None
        self._set(validate_names(initial, registry.names()))
        if self._watch is not None:
            self._watch.mark_seen()

    def _set(self, names: Sequence[str]) -> None:
        """Switch to ``names``, keeping instances of faults that stay on."""
        kept = dict(self._active)
        self._active = [(n, kept[n] if n in kept else self._registry[n].factory()) for n in names]
        self._log(f"active faults: {', '.join(names) or 'none'}")

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, _ in self._active]

    def refresh(self) -> None:
        if self._watch is None:
            return
        with self._lock:
            if not self._watch.poll():
                return
            try:
                names = validate_names(read_active(self._watch.path), self._registry.names())
            except ControlError as exc:
                keeping = ", ".join(n for n, _ in self._active) or "none"
                self._log(f"ignoring the control file: {exc}; keeping faults: {keeping}")
                return
            if names != [n for n, _ in self._active]:
                self._set(names)

    def chain(self, method: str) -> list[tuple[str, FaultFn]]:
        """The active faults that touch ``method``, outermost first."""
        self.refresh()
        with self._lock:
            return [(n, fn) for n, fn in self._active if self._registry[n].touches(method)]


class Interposer(grpc.GenericRpcHandler):
    """Serves every method: CSI unary methods through the faults, the rest as raw bytes."""

    def __init__(
        self,
        proto: CsiProto,
        upstream: ChannelUpstream,
        faults: ActiveFaults,
        *,
        hostpath_state: Path | None = None,
        log: Log = log_line,
    ) -> None:
        self.proto = proto
        self.upstream = upstream
        self.faults = faults
        self.hostpath_state = hostpath_state
        self._log = log
        self._live: set[threading.Event] = set()
        self._live_lock = threading.Lock()
        self._stopping = False

    def stop(self) -> None:
        """End the waits of calls in flight (slow faults), so the server can stop."""
        with self._live_lock:
            self._stopping = True
            for done in self._live:
                done.set()

    def _track(self, done: threading.Event, live: bool) -> None:
        with self._live_lock:
            if not live:
                self._live.discard(done)
            elif self._stopping:
                done.set()
            else:
                self._live.add(done)

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        path = handler_call_details.method
        method = self.proto.methods.get(path)
        if method is None:
            return grpc.stream_stream_rpc_method_handler(self._raw_stream(path))
        if method.unary:
            return grpc.unary_unary_rpc_method_handler(self._unary(method))
        if method.server_streaming and not method.client_streaming:
            return grpc.unary_stream_rpc_method_handler(self._raw_stream(path, unary_in=True))
        return grpc.stream_stream_rpc_method_handler(self._raw_stream(path))

    def _unary(self, method: Method) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            started = time.monotonic()
            chain = self.faults.chain(method.name)
            metadata = forwardable(context.invocation_metadata())
            remaining = context.time_remaining()
            deadline = (
                None
                if remaining is None or remaining > _NO_DEADLINE
                else time.monotonic() + remaining
            )
            done = threading.Event()
            context.add_callback(done.set)
            self._track(done, live=True)
            names = ",".join(n for n, _ in chain) or "-"
            code = "OK"
            try:
                if not chain:
                    data, trailing = self.upstream.unary(
                        method, request, metadata, _timeout(deadline)
                    )
                    reply = Reply(method.response_type, raw=data, trailing_metadata=trailing)
                else:
                    call = Call(
                        method, request, proto=self.proto, upstream=self.upstream, chain=chain,
                        metadata=metadata, deadline=deadline, hostpath_state=self.hostpath_state,
                        done=done, log=self._log,
                    )  # fmt: skip
                    reply = call.forward()
                if reply.trailing_metadata:
                    context.set_trailing_metadata(reply.trailing_metadata)
                return reply.to_bytes()
            except CallError as exc:
                code = exc.code.name
                if exc.trailing_metadata:
                    context.set_trailing_metadata(exc.trailing_metadata)
                context.abort(exc.code, exc.details)
            except Exception as exc:
                code = "INTERNAL"
                self._log(f"{method.name}: fault failed: {exc!r}")
                context.abort(grpc.StatusCode.INTERNAL, f"snapconf interposer: {exc!r}")
            finally:
                self._track(done, live=False)
                took = (time.monotonic() - started) * 1000
                self._log(f"{method.name} faults={names} {code} {took:.0f}ms")

        return handle

    def _raw_stream(
        self, path: str, *, unary_in: bool = False
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[bytes]]:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[bytes]:
            requests = iter([request]) if unary_in else request
            remaining = context.time_remaining()
            timeout = None if remaining is None or remaining > _NO_DEADLINE else remaining
            stub: Any = self.upstream.channel.stream_stream(path)
            upstream_call = stub(
                requests,
                metadata=forwardable(context.invocation_metadata()) or None,
                timeout=timeout,
            )

            def cancel() -> None:
                upstream_call.cancel()

            context.add_callback(cancel)
            code = "OK"
            try:
                yield from upstream_call
                trailing = upstream_call.trailing_metadata()
                if trailing:
                    context.set_trailing_metadata(_metadata(trailing))
            except grpc.RpcError as exc:
                err = _call_error(exc)
                code = err.code.name
                if err.trailing_metadata:
                    context.set_trailing_metadata(err.trailing_metadata)
                context.abort(err.code, err.details)
            finally:
                self._log(f"{path} (passed through raw) {code}")

        return handle


def _timeout(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m snapconf_testbed.faults.interposer",
        description="Fault-injecting CSI interposer between CSI callers and a plugin socket.",
    )
    parser.add_argument("--listen", required=True, help="socket to serve (unix:///path or path)")
    parser.add_argument("--upstream", required=True, help="the plugin's CSI socket")
    parser.add_argument(
        "--faults", action="append", default=[], metavar="NAME[,NAME]",
        help="faults active at start (written to --control); 'none' for none",
    )  # fmt: skip
    parser.add_argument(
        "--fault-module", action="append", default=[], type=Path, metavar="PATH",
        help="a Python file registering more faults with @snapconf_testbed.faults.fault",
    )  # fmt: skip
    parser.add_argument("--control", type=Path, help="JSON control file with the active faults")
    parser.add_argument("--hostpath-state", type=Path, help="the hostpath plugin's --statedir")
    parser.add_argument("--proto-dir", type=Path, help="a CSI proto build (see ensure_proto)")
    parser.add_argument("--workers", type=int, default=64, help="concurrent calls served")
    return parser.parse_args(argv)


def _initial_faults(args: argparse.Namespace, registry: Registry) -> list[str]:
    if args.faults or args.control is None:
        names = validate_names(parse_names(args.faults), registry.names())
        if args.control is not None:
            write_active(args.control, names, known=registry.names())
        return names
    return validate_names(read_active(args.control), registry.names())


def serve(args: argparse.Namespace, log: Log = log_line) -> int:
    registry = registry_with(args.fault_module)
    proto = load_csi(args.proto_dir if args.proto_dir else ensure_proto())
    known = proto.names()
    missing = {f"{s.name}: {m}" for s in registry for m in s.methods or () if m not in known}
    if missing:
        raise FaultModuleError(f"faults name unknown CSI methods: {', '.join(sorted(missing))}")
    faults = ActiveFaults(registry, _initial_faults(args, registry), args.control, log)

    listen = endpoint(args.listen)
    sock = socket_path(listen)
    if sock is not None:
        sock.parent.mkdir(parents=True, exist_ok=True)
        if sock.is_socket():
            sock.unlink()
    upstream = ChannelUpstream(endpoint(args.upstream))
    handler = Interposer(proto, upstream, faults, hostpath_state=args.hostpath_state, log=log)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.workers, thread_name_prefix="csi"),
        handlers=[handler],
        options=UNLIMITED,
    )
    server.add_insecure_port(listen)

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log(f"signal {signum}: stopping")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    log(
        f"serving {listen} -> {endpoint(args.upstream)} (CSI {proto.version}); "
        f"control {args.control or '-'}; hostpath state {args.hostpath_state or '-'}"
    )
    stop.wait()
    handler.stop()
    server.stop(grace=5).wait()
    upstream.close()
    if sock is not None and sock.is_socket():
        sock.unlink()
    log("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return serve(args)
    except (ControlError, FaultModuleError, ProtoError, OSError, RuntimeError) as exc:
        log_line(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
