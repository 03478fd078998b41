"""What a fault sees of one intercepted CSI call, and what it hands back.

A :class:`Call` carries the request as raw bytes and parses it only when a fault reads
``call.request``; a :class:`Reply` does the same with the response. So a fault that only
delays, fails or counts calls never deserializes anything, and a call no active fault
touches is never parsed at all (the interposer forwards its bytes). Faults are chained:
``call.forward()`` runs the next active fault for the method, and after the last one the
upstream plugin.

This module must not know any particular fault, nor how the interposer serves gRPC.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, Protocol

import grpc

from snapconf_testbed.faults.proto import CsiProto, Method

Metadata = tuple[tuple[str, str | bytes], ...]
"""gRPC metadata as (key, value) pairs."""

CsiMessage = Any
"""A ``csi.v1`` protobuf message (the generated classes are only known at run time)."""


class CallError(Exception):
    """A call ended with a gRPC error: from upstream, or raised by a fault to fail the call.

    Attributes:
        code: the gRPC status code.
        details: the status message.
        trailing_metadata: trailing metadata to send with the error (upstream's, if any).
    """

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Metadata = ()):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


class Upstream(Protocol):
    """Sends raw request bytes to the plugin and returns raw response bytes."""

    def unary(
        self, method: Method, request: bytes, metadata: Metadata, timeout: float | None
    ) -> tuple[bytes, Metadata]:
        """Call ``method``; return the response and trailing metadata, or raise CallError."""
        ...


class Reply:
    """A response: raw bytes from upstream, or a message a fault built.

    Reading :attr:`message` parses the bytes once; changes to that message (or assigning a
    new one) are what the caller receives. Untouched replies go back byte for byte.
    """

    def __init__(
        self,
        response_type: Any,
        *,
        raw: bytes | None = None,
        message: CsiMessage | None = None,
        trailing_metadata: Metadata = (),
    ) -> None:
        if (raw is None) == (message is None):
            raise ValueError("a Reply needs exactly one of raw and message")
        self._type = response_type
        self._raw = raw
        self._message = message
        self.trailing_metadata = trailing_metadata

    @property
    def message(self) -> CsiMessage:
        if self._message is None:
            self._message = self._type.FromString(self._raw)
        return self._message

    @message.setter
    def message(self, value: CsiMessage) -> None:
        if not isinstance(value, self._type):
            raise TypeError(f"expected {self._type.__name__}, got {type(value).__name__}")
        self._message = value

    @property
    def parsed(self) -> bool:
        """True once the message was read or replaced (then it is serialized again)."""
        return self._message is not None

    def to_bytes(self) -> bytes:
        if self._message is not None:
            return bytes(self._message.SerializeToString())
        assert self._raw is not None  # noqa: S101 - guaranteed by __init__
        return self._raw


FaultFn = Callable[["Call"], Reply]
"""What an active fault is: a callable from the call to the reply it hands back."""


class Call:
    """One CSI call on its way through the active faults to the upstream plugin.

    Attributes:
        method: the RPC (``call.method.name`` is e.g. ``"CreateVolume"``).
        metadata: the caller's request metadata, forwarded upstream.
        hostpath_state: the hostpath plugin's state directory (``--hostpath-state``), if
            the interposer was told it.
        csi: the CSI proto module: ``call.csi.ListSnapshotsRequest(...)`` etc.
    """

    def __init__(
        self,
        method: Method,
        raw_request: bytes,
        *,
        proto: CsiProto,
        upstream: Upstream,
        chain: Sequence[tuple[str, FaultFn]] = (),
        metadata: Metadata = (),
        deadline: float | None = None,
        hostpath_state: Path | None = None,
        done: threading.Event | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.method = method
        self.metadata = metadata
        self.hostpath_state = hostpath_state
        self._proto = proto
        self._raw = raw_request
        self._request: CsiMessage | None = None
        self._upstream = upstream
        self._chain = tuple(chain)
        self._pos = 0
        self._deadline = deadline  # time.monotonic() value, None for no deadline
        self._done = done if done is not None else threading.Event()
        self._log = log if log is not None else _stderr

    @property
    def csi(self) -> ModuleType:
        return self._proto.module

    @property
    def request(self) -> CsiMessage:
        """The request message, parsed on first use; changes to it are forwarded."""
        if self._request is None:
            self._request = self.method.request_type.FromString(self._raw)
        return self._request

    @request.setter
    def request(self, value: CsiMessage) -> None:
        if not isinstance(value, self.method.request_type):
            raise TypeError(f"expected {self.method.request_type.__name__}")
        self._request = value

    @property
    def fault(self) -> str:
        """The name of the fault now running (empty outside any fault)."""
        return self._chain[self._pos - 1][0] if self._pos else ""

    def timeout(self) -> float | None:
        """Seconds left before the caller's deadline (None when it set none)."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def forward(self) -> Reply:
        """Run the next active fault, or after the last one send the request upstream.

        Raises:
            CallError: the call failed further down (upstream or a later fault).
        """
        pos = self._pos
        if pos < len(self._chain):
            self._pos = pos + 1
            try:
                return self._chain[pos][1](self)
            finally:
                self._pos = pos
        raw = self._raw if self._request is None else bytes(self._request.SerializeToString())
        data, trailing = self._upstream.unary(self.method, raw, self.metadata, self.timeout())
        return Reply(self.method.response_type, raw=data, trailing_metadata=trailing)

    def reply(self, message: CsiMessage) -> Reply:
        """A reply made by the fault instead of by upstream."""
        return Reply(self.method.response_type, message=message)

    def invoke(self, name: str, request: CsiMessage, timeout: float = 30.0) -> CsiMessage:
        """A side call upstream (e.g. ``ListSnapshots``) that no fault sees.

        Raises:
            CallError: upstream failed the call.
        """
        method = self._proto.method(name)
        left = self.timeout()
        data, _ = self._upstream.unary(
            method,
            bytes(request.SerializeToString()),
            (),
            timeout if left is None else min(timeout, max(left, 1.0)),
        )
        return method.response_type.FromString(data)

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        """Fail the call with this status."""
        raise CallError(code, details)

    def sleep(self, seconds: float) -> bool:
        """Wait, returning early (False) when the caller gives up or the interposer stops."""
        return not self._done.wait(max(0.0, seconds))

    def log(self, text: str) -> None:
        """One line on the interposer's log, tagged with the fault and method."""
        self._log(f"fault {self.fault or '-'}: {self.method.name}: {text}")


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
