"""An HTTP fault proxy in front of kube-apiserver, on loopback, to prove snapconf survives it.

Why it exists: a real cluster throttles (429 with ``Retry-After``), hiccups (500/503),
drops connections, answers slowly and closes watches whenever it likes; the harness's
retry policy (``conformance.kube``) and its list+watch waits (``conformance.waits``)
claim to survive all of that, and this proxy is how a benchmark checks the claim against
the real testbed. No existing tool fits: toxiproxy works at L4 (it cannot answer 429 or a
Kubernetes Status), and a general MITM proxy is a large dependency for a few hundred lines.

How it behaves:

- It listens on 127.0.0.1 (plain HTTP: loopback only), forwards every request to the
  apiserver with the credentials of the upstream kubeconfig (client certificate or
  token), and writes a kubeconfig pointing at itself (``--write-kubeconfig``). That
  kubeconfig names the upstream kubeconfig in a cluster extension
  (:data:`EXTENSION`), so ``Layout.serves`` still knows the cluster is the testbed.
- A share ``--rate`` of requests gets a fault, chosen among ``--faults`` (429, 500, 503,
  reset, slow). **Every fault is injected before the request is forwarded**, so a 5xx or
  a reset never hides a change the apiserver already made: the client may treat it as
  "maybe applied" (it does, for creates and deletes), but the proxy never makes that
  true. A slow fault delays the request, then forwards it.
- The exception is a watch: it streams through (chunked, as it arrives), and
  ``--watch-drop-every`` closes each watch stream that long after it opened, mid-way,
  either abruptly (a TCP reset, no final chunk) or cleanly (the final chunk early), at
  random.
- Counts of requests and injected faults go to ``--stats`` (JSON, rewritten every second
  and at exit) so a benchmark can report them.

Run: ``python -m snapconf_testbed.testbed.apiproxy --rate 0.10 --watch-drop-every 30s
--write-kubeconfig /tmp/proxy.kubeconfig --stats /tmp/proxy-stats.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import random
import signal
import socket
import ssl
import struct
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import (
    ClientSession,
    ClientTimeout,
    TCPConnector,
    WSMsgType,
    WSServerHandshakeError,
    web,
)

from conformance.units import parse_duration
from snapconf_testbed.layout import PROXY_EXTENSION as EXTENSION
from snapconf_testbed.layout import Layout

FAULTS = ("429", "500", "503", "reset", "slow")
"""The faults injected before forwarding, by name."""


HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
        "authorization",
    }
)
"""Headers not copied between the two connections (aiohttp sets its own)."""

_STATUS_REASONS = {
    429: ("TooManyRequests", "the server has received too many requests (injected by apiproxy)"),
    500: ("InternalError", "an error on the server (injected by apiproxy)"),
    503: ("ServiceUnavailable", "the server is currently unavailable (injected by apiproxy)"),
}


# ---------------------------------------------------------------- pure logic


@dataclass(frozen=True)
class FaultConfig:
    """What to inject.

    Attributes:
        rate: share of requests (0..1) that get a fault before forwarding.
        faults: the faults to choose from, uniformly.
        retry_after: seconds of the ``Retry-After`` header of a 429.
        slow_seconds: the longest delay of a slow fault (the delay is uniform in
            [slow/2, slow]).
        watch_drop_every: seconds after which each watch stream is closed (0: never).
    """

    rate: float = 0.10
    faults: tuple[str, ...] = FAULTS
    retry_after: int = 1
    slow_seconds: float = 3.0
    watch_drop_every: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, not {self.rate}")
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; faults: {', '.join(FAULTS)}")
        if self.rate > 0 and not self.faults:
            raise ValueError("a rate above 0 needs at least one fault")


def choose_fault(config: FaultConfig, rng: random.Random) -> str | None:
    """The fault for one request, or None to forward it untouched."""
    if config.rate <= 0 or not config.faults or rng.random() >= config.rate:
        return None
    return rng.choice(config.faults)


def is_watch(query: Mapping[str, str]) -> bool:
    """Whether a request's query makes it a watch (``watch=true`` / ``watch=1``)."""
    return str(query.get("watch", "")).lower() in ("true", "1")


def status_body(code: int, retry_after: int = 1) -> bytes:
    """A Kubernetes ``Status`` object for an injected error, as the apiserver would send."""
    reason, message = _STATUS_REASONS[code]
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if code == 429:
        status["details"] = {"retryAfterSeconds": retry_after}
    return json.dumps(status).encode()


def forward_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth copying across the proxy (no hop-by-hop ones, no credentials)."""
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


@dataclass
class Stats:
    """Counts of what the proxy did, for benchmarks (``to_json``)."""

    started: float = field(default_factory=time.time)
    requests: int = 0
    watches: int = 0
    forwarded: int = 0
    upstream_errors: int = 0
    injected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULTS, 0))
    watch_drops: dict[str, int] = field(default_factory=lambda: {"reset": 0, "end": 0})

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "updated": time.time(),
            "requests": self.requests,
            "watches": self.watches,
            "forwarded": self.forwarded,
            "upstream_errors": self.upstream_errors,
            "injected": dict(self.injected),
            "injected_total": sum(self.injected.values()),
            "watch_drops": dict(self.watch_drops),
        }


# ---------------------------------------------------------------- upstream credentials


@dataclass(frozen=True)
class Upstream:
    """Where and how to reach the real apiserver."""

    server: str
    ssl_context: ssl.SSLContext | None
    token: str | None = None


def _material(entry: Mapping[str, Any], key: str, tmp: Path, base: Path) -> str | None:
    """A file path for ``key`` or ``key-data`` (base64, written into ``tmp``)."""
    data = entry.get(f"{key}-data")
    if data:
        path = tmp / key
        path.write_bytes(base64.b64decode(data))
        path.chmod(0o600)
        return str(path)
    value = entry.get(key)
    if not value:
        return None
    path = Path(str(value))
    return str(path if path.is_absolute() else base / path)


def load_upstream(kubeconfig: Path, tmp: Path) -> Upstream:
    """The server and credentials of the current context of ``kubeconfig``.

    ``tmp`` receives ``*-data`` certificates as files (ssl wants paths).
    """
    config = yaml.safe_load(kubeconfig.read_text()) or {}
    current = config.get("current-context")
    contexts = {c["name"]: c.get("context") or {} for c in config.get("contexts") or []}
    context = contexts.get(current) or next(iter(contexts.values()), {})
    clusters = {c["name"]: c.get("cluster") or {} for c in config.get("clusters") or []}
    users = {u["name"]: u.get("user") or {} for u in config.get("users") or []}
    cluster = clusters.get(context.get("cluster"), {})
    user = users.get(context.get("user"), {})
    server = str(cluster.get("server") or "")
    if not server:
        raise ValueError(f"{kubeconfig}: the current context names no cluster server")
    base = kubeconfig.parent
    context_ssl: ssl.SSLContext | None = None
    if server.startswith("https://"):
        ca = _material(cluster, "certificate-authority", tmp, base)
        context_ssl = ssl.create_default_context(cafile=ca)
        if cluster.get("insecure-skip-tls-verify"):
            context_ssl.check_hostname = False
            context_ssl.verify_mode = ssl.CERT_NONE
        cert = _material(user, "client-certificate", tmp, base)
        key = _material(user, "client-key", tmp, base)
        if cert and key:
            context_ssl.load_cert_chain(cert, key)
    token = user.get("token")
    return Upstream(server=server.rstrip("/"), ssl_context=context_ssl, token=token)


def proxy_kubeconfig(url: str, upstream_kubeconfig: Path) -> dict[str, Any]:
    """A kubeconfig for clients of the proxy (no credentials: the proxy holds them)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "snapconf-apiproxy",
                "cluster": {
                    "server": url,
                    "extensions": [
                        {
                            "name": EXTENSION,
                            "extension": {"upstream": str(upstream_kubeconfig.resolve())},
                        }
                    ],
                },
            }
        ],
        "users": [{"name": "apiproxy", "user": {}}],
        "contexts": [
            {
                "name": "snapconf-apiproxy",
                "context": {"cluster": "snapconf-apiproxy", "user": "apiproxy"},
            }
        ],
        "current-context": "snapconf-apiproxy",
    }


# ---------------------------------------------------------------- the proxy


def _reset(request: web.BaseRequest) -> None:
    """Close the client's connection with a TCP reset (SO_LINGER 0), no response."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class Proxy:
    """The aiohttp application: choose a fault, else forward (streaming watches)."""

    def __init__(self, upstream: Upstream, config: FaultConfig, *, seed: int | None = None) -> None:
        self.upstream = upstream
        self.config = config
        self.rng = random.Random(seed)  # noqa: S311 - fault choice, not crypto
        self.stats = Stats()
        self._session: ClientSession | None = None

    async def session(self) -> ClientSession:
        if self._session is None:
            connector = TCPConnector(ssl=self.upstream.ssl_context or False, limit=64)
            self._session = ClientSession(
                connector=connector, auto_decompress=False, timeout=ClientTimeout(total=None)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        watch = is_watch(request.query)
        if watch:
            self.stats.watches += 1
        fault = choose_fault(self.config, self.rng)
        if fault is not None:
            self.stats.injected[fault] += 1
        if fault in ("429", "500", "503"):
            code = int(fault or 0)
            headers = {"Content-Type": "application/json"}
            if code == 429:
                headers["Retry-After"] = str(self.config.retry_after)
            return web.Response(
                status=code, body=status_body(code, self.config.retry_after), headers=headers
            )
        if fault == "reset":
            await request.read()
            _reset(request)
            return web.Response(status=502)  # never sent: the connection is gone
        if fault == "slow":
            slow = self.config.slow_seconds
            await asyncio.sleep(self.rng.uniform(slow / 2, slow))
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return await self._forward(request, watch)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        """Relay a WebSocket (exec's stream) frame by frame, in both directions.

        The upstream handshake goes first, offering the client's subprotocols, so the
        client gets the one the API server chose, or the API server's refusal (a 403 of
        RBAC stays a 403). Faults apply to the upgrade request only, as to any request.
        """
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        headers = {"Authorization": f"Bearer {self.upstream.token}"} if self.upstream.token else {}
        session = await self.session()
        url = self.upstream.server + request.rel_url.path_qs
        try:
            upstream = await session.ws_connect(
                url, protocols=[p for p in offered if p], headers=headers, autoping=False
            )
        except WSServerHandshakeError as err:
            self.stats.forwarded += 1
            return web.Response(status=err.status, text=err.message or "")
        except (TimeoutError, OSError) as err:
            self.stats.upstream_errors += 1
            return web.Response(status=502, text=f"apiproxy: upstream failed: {err}")
        self.stats.forwarded += 1
        protocols = (upstream.protocol,) if upstream.protocol else ()
        client = web.WebSocketResponse(protocols=protocols, autoping=False)
        await client.prepare(request)

        async def pump(source: Any, sink: Any) -> None:
            async for message in source:
                if message.type == WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type == WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type == WSMsgType.PING:
                    await sink.ping(message.data)
                elif message.type == WSMsgType.PONG:
                    await sink.pong(message.data)
            await sink.close()

        try:
            await asyncio.gather(pump(upstream, client), pump(client, upstream))
        except (ConnectionError, RuntimeError):
            self.stats.upstream_errors += 1
        finally:
            await upstream.close()
        return client

    async def _forward(self, request: web.Request, watch: bool) -> web.StreamResponse:
        body = await request.read()
        headers = forward_headers(request.headers)
        if self.upstream.token:
            headers["Authorization"] = f"Bearer {self.upstream.token}"
        session = await self.session()
        url = self.upstream.server + request.rel_url.path_qs
        try:
            upstream = await session.request(
                request.method,
                url,
                data=body or None,
                headers=headers,
                allow_redirects=False,
                # pass on what the client sent, nothing aiohttp would add (an apiserver
                # refuses application/octet-stream, the default type of a bytes body)
                skip_auto_headers=("Content-Type", "Accept-Encoding"),
            )
        except (TimeoutError, OSError) as err:
            self.stats.upstream_errors += 1
            return web.Response(status=502, text=f"apiproxy: upstream failed: {err}")
        self.stats.forwarded += 1
        async with upstream:
            out_headers = forward_headers(upstream.headers)
            if upstream.headers.get("Content-Encoding"):
                out_headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            if not watch:
                data = await upstream.read()
                return web.Response(status=upstream.status, body=data, headers=out_headers)
            return await self._stream(request, upstream, out_headers)

    async def _stream(
        self, request: web.Request, upstream: Any, headers: dict[str, str]
    ) -> web.StreamResponse:
        try:
            return await self._relay(request, upstream, headers)
        finally:
            upstream.close()  # a watch connection is never reused, whole or dropped

    async def _relay(
        self, request: web.Request, upstream: Any, headers: dict[str, str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        every = self.config.watch_drop_every
        deadline = time.monotonic() + every if every > 0 else None
        chunks = upstream.content.iter_any().__aiter__()
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), timeout)
            except StopAsyncIteration:
                break
            except TimeoutError:
                how = self.rng.choice(("reset", "end"))
                self.stats.watch_drops[how] += 1
                if how == "reset":
                    _reset(request)
                    return response
                break
            except OSError:
                self.stats.upstream_errors += 1
                break
            await response.write(chunk)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response


# ---------------------------------------------------------------- running it


def write_stats(path: Path | None, stats: Stats) -> None:
    """Write the counts atomically (readers never see half a file)."""
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stats.to_json(), indent=2) + "\n")
    tmp.replace(path)


async def serve(args: argparse.Namespace) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status."""
    config = FaultConfig(
        rate=args.rate,
        faults=tuple(f for f in args.faults.split(",") if f),
        retry_after=args.retry_after,
        slow_seconds=args.slow_seconds,
        watch_drop_every=parse_duration(args.watch_drop_every) if args.watch_drop_every else 0.0,
    )
    with tempfile.TemporaryDirectory(prefix="snapconf-apiproxy-") as tmp:
        upstream = load_upstream(Path(args.kubeconfig), Path(tmp))
        proxy = Proxy(upstream, config, seed=args.seed)
        runner = web.AppRunner(proxy.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, shutdown_timeout=1.0)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else args.port
        url = f"http://127.0.0.1:{port}"
        if args.write_kubeconfig:
            out = Path(args.write_kubeconfig)
            out.write_text(yaml.safe_dump(proxy_kubeconfig(url, Path(args.kubeconfig))))
        print(f"apiproxy: listening on {url} -> {upstream.server}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats_path = Path(args.stats) if args.stats else None
        try:
            while not stop.is_set():
                write_stats(stats_path, proxy.stats)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await runner.cleanup()
            await proxy.close()
            write_stats(stats_path, proxy.stats)
            print(f"apiproxy: {json.dumps(proxy.stats.to_json())}", flush=True)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m snapconf_testbed.testbed.apiproxy",
        description="Fault-injecting HTTP proxy in front of kube-apiserver, on 127.0.0.1.",
    )
    p.add_argument(
        "--kubeconfig",
        default=str(Layout.default().kubeconfig),
        help="upstream kubeconfig (default: the testbed's)",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free)")
    p.add_argument("--write-kubeconfig", metavar="PATH", help="write a kubeconfig for the proxy")
    p.add_argument("--stats", metavar="PATH", help="JSON file of request and fault counts")
    p.add_argument("--rate", type=float, default=0.10, help="share of requests faulted (0..1)")
    p.add_argument(
        "--faults", default=",".join(FAULTS), help=f"comma-separated, of: {', '.join(FAULTS)}"
    )
    p.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds of a 429")
    p.add_argument("--slow-seconds", type=float, default=3.0, help="longest slow delay")
    p.add_argument(
        "--watch-drop-every", default="", metavar="DURATION",
        help="close each watch stream this long after it opened (e.g. 30s; default: never)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=None, help="random seed (reproducible faults)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(serve(args))
    except (ValueError, OSError) as err:
        print(f"apiproxy: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
