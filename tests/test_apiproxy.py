"""snapconf_testbed.testbed.apiproxy: fault choice, Status bodies, forwarding to loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from conformance.kube import Kube, RetryPolicy
from snapconf_testbed.layout import Layout, proxy_upstream
from snapconf_testbed.testbed import apiproxy
from snapconf_testbed.testbed.apiproxy import FaultConfig, Proxy, Upstream, choose_fault

# ---------------------------------------------------------------- pure logic


def test_rate_zero_never_faults() -> None:
    rng = random.Random(1)  # noqa: S311
    assert all(choose_fault(FaultConfig(rate=0.0), rng) is None for _ in range(1000))


def test_rate_one_always_faults_from_the_set() -> None:
    rng = random.Random(1)  # noqa: S311
    config = FaultConfig(rate=1.0, faults=("429", "reset"))
    assert {choose_fault(config, rng) for _ in range(200)} == {"429", "reset"}


def test_rate_is_the_share_of_faulted_requests() -> None:
    rng = random.Random(7)  # noqa: S311
    hits = sum(choose_fault(FaultConfig(rate=0.1), rng) is not None for _ in range(10_000))
    assert 850 < hits < 1150


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"rate": 1.5}, "rate"), ({"faults": ("418",)}, "unknown fault"), ({"faults": ()}, "needs")],
)
def test_bad_config_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultConfig(**kwargs)


def test_is_watch() -> None:
    assert apiproxy.is_watch({"watch": "true"})
    assert apiproxy.is_watch({"watch": "1"})
    assert not apiproxy.is_watch({"watch": "false"})
    assert not apiproxy.is_watch({})


@pytest.mark.parametrize("code", [429, 500, 503])
def test_status_body_is_a_kubernetes_status(code: int) -> None:
    body = json.loads(apiproxy.status_body(code, retry_after=2))
    assert body["kind"] == "Status"
    assert body["code"] == code
    assert body["status"] == "Failure"
    assert body["reason"]
    if code == 429:
        assert body["details"]["retryAfterSeconds"] == 2


def test_forward_headers_drop_hop_by_hop_and_credentials() -> None:
    out = apiproxy.forward_headers(
        {"Accept": "a", "Connection": "close", "Authorization": "x", "Transfer-Encoding": "chunked"}
    )
    assert out == {"Accept": "a"}


def test_load_upstream_token_and_inline_certificate_data(tmp_path: Path) -> None:
    config = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:1/"}}],
        "users": [{"name": "u", "user": {"token": "t0k"}}],
    }
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(config))
    upstream = apiproxy.load_upstream(path, tmp_path)
    assert upstream == Upstream(server="http://127.0.0.1:1", ssl_context=None, token="t0k")  # noqa: S106
    written = apiproxy._material(
        {"client-key-data": base64.b64encode(b"KEY").decode()}, "client-key", tmp_path, tmp_path
    )
    assert written is not None
    assert Path(written).read_bytes() == b"KEY"


def test_proxy_kubeconfig_names_its_upstream_and_serves_the_testbed(tmp_path: Path) -> None:
    layout = Layout(state=tmp_path / "state", cache=tmp_path / "cache")
    layout.state.mkdir()
    layout.kubeconfig.write_text("{}")
    proxied = tmp_path / "proxy.kubeconfig"
    proxied.write_text(yaml.safe_dump(apiproxy.proxy_kubeconfig("http://x", layout.kubeconfig)))
    assert proxy_upstream(proxied) == layout.kubeconfig.resolve()
    assert layout.serves(proxied)
    assert layout.serves(layout.kubeconfig)
    other = tmp_path / "other"
    other.write_text(yaml.safe_dump(apiproxy.proxy_kubeconfig("http://x", tmp_path / "else")))
    assert not layout.serves(other)
    assert not layout.serves(None)


# ---------------------------------------------------------------- forwarding


class FakeAPIServer:
    """A loopback upstream: echoes requests, serves a list and a slow watch stream."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes, str | None]] = []
        self.watch_done = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/exec"):
            return await self.exec(request)
        body = await request.read()
        self.calls.append(
            (request.method, request.path_qs, body, request.headers.get("Authorization"))
        )
        if request.query.get("watch") == "true":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for i in range(5):
                event = {"type": "ADDED", "object": {"metadata": {"name": f"n{i}"}}}
                await response.write(json.dumps(event).encode() + b"\n")
                await asyncio.sleep(0.2)
            await response.write_eof()
            self.watch_done.set()
            return response
        if request.path.endswith("/namespaces"):
            return web.json_response(
                {"kind": "NamespaceList", "metadata": {"resourceVersion": "7"}, "items": []}
            )
        return web.json_response({"method": request.method, "body": body.decode()}, status=201)

    async def exec(self, request: web.Request) -> web.StreamResponse:
        """An exec stream: refused without the proxy's token, else echoes each frame."""
        if request.headers.get("Authorization") != "Bearer secret":
            return web.json_response({"kind": "Status", "reason": "Forbidden"}, status=403)
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
        await ws.prepare(request)
        async for message in ws:
            await ws.send_bytes(b"\x01" + message.data)
        return ws


@asynccontextmanager
async def _site(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _proxied(config: FaultConfig) -> AsyncIterator[tuple[str, FakeAPIServer, Proxy]]:
    fake = FakeAPIServer()
    async with _site(fake.app()) as upstream_url:
        upstream = Upstream(upstream_url, None, token="secret")  # noqa: S106
        proxy = Proxy(upstream, config, seed=3)
        try:
            async with _site(proxy.app()) as url:
                yield url, fake, proxy
        finally:
            await proxy.close()


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_forwards_method_path_body_and_its_own_credentials() -> None:
    async def go() -> tuple[int, Any, FakeAPIServer, Proxy]:
        async with (
            _proxied(FaultConfig(rate=0.0)) as (url, fake, proxy),
            aiohttp.ClientSession() as client,
            client.post(
                f"{url}/api/v1/namespaces?x=1",
                data=b'{"a": 1}',
                headers={"Authorization": "Bearer client"},
            ) as response,
        ):
            data = await response.json()
            return response.status, data, fake, proxy

    status, data, fake, proxy = _run(go())
    assert status == 200  # the fake answers a list for .../namespaces
    assert data["kind"] == "NamespaceList"
    assert fake.calls == [("POST", "/api/v1/namespaces?x=1", b'{"a": 1}', "Bearer secret")]
    assert proxy.stats.forwarded == 1
    assert proxy.stats.to_json()["injected_total"] == 0


@pytest.mark.parametrize("code", ["429", "500", "503"])
def test_error_faults_are_answered_before_forwarding(code: str) -> None:
    async def go() -> tuple[int, dict[str, str], Any, FakeAPIServer, Proxy]:
        config = FaultConfig(rate=1.0, faults=(code,), retry_after=4)
        async with (
            _proxied(config) as (url, fake, proxy),
            aiohttp.ClientSession() as client,
            client.post(f"{url}/api/v1/pods", data=b"{}") as response,
        ):
            body = await response.json()
            return response.status, dict(response.headers), body, fake, proxy

    status, headers, body, fake, proxy = _run(go())
    assert status == int(code)
    assert body["code"] == int(code)
    assert fake.calls == []  # the change was never made
    assert proxy.stats.injected[code] == 1
    assert (headers.get("Retry-After") == "4") is (code == "429")


def test_reset_drops_the_connection_before_forwarding() -> None:
    async def go() -> tuple[BaseException | None, FakeAPIServer]:
        async with (
            _proxied(FaultConfig(rate=1.0, faults=("reset",))) as (url, fake, _),
            aiohttp.ClientSession() as client,
        ):
            try:
                async with client.get(f"{url}/version") as response:
                    await response.read()
            except aiohttp.ClientError as err:
                return err, fake
            return None, fake

    error, fake = _run(go())
    assert isinstance(error, aiohttp.ClientError)
    assert fake.calls == []


def test_slow_fault_delays_then_forwards() -> None:
    async def go() -> tuple[float, FakeAPIServer]:
        config = FaultConfig(rate=1.0, faults=("slow",), slow_seconds=0.4)
        async with _proxied(config) as (url, fake, _), aiohttp.ClientSession() as client:
            loop = asyncio.get_running_loop()
            start = loop.time()
            async with client.get(f"{url}/version") as response:
                await response.read()
            return loop.time() - start, fake

    elapsed, fake = _run(go())
    assert elapsed >= 0.2
    assert len(fake.calls) == 1


def test_exec_websocket_passes_through_with_the_chosen_subprotocol() -> None:
    async def go() -> tuple[str | None, bytes]:
        async with (
            _proxied(FaultConfig(rate=0.0)) as (url, _, _),
            aiohttp.ClientSession() as client,
            client.ws_connect(
                f"{url}/api/v1/namespaces/n/pods/p/exec?command=true",
                protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"),
            ) as ws,
        ):
            await ws.send_bytes(b"\x00hi")
            message = await ws.receive()
            return ws.protocol, message.data

    protocol, data = _run(go())
    assert protocol == "v5.channel.k8s.io"
    assert data == b"\x01\x00hi"


def test_refused_exec_upgrade_keeps_its_status() -> None:
    async def go() -> int:
        upstream_fake = FakeAPIServer()
        async with _site(upstream_fake.app()) as upstream_url:
            proxy = Proxy(Upstream(upstream_url, None, token="wrong"), FaultConfig(rate=0.0))  # noqa: S106
            try:
                async with _site(proxy.app()) as url, aiohttp.ClientSession() as client:
                    try:
                        await client.ws_connect(f"{url}/api/v1/namespaces/n/pods/p/exec")
                    except aiohttp.WSServerHandshakeError as err:
                        return err.status
                    return 101
            finally:
                await proxy.close()

    assert _run(go()) == 403


def test_watch_streams_chunk_by_chunk() -> None:
    async def go() -> tuple[list[bool], Proxy]:
        async with (
            _proxied(FaultConfig(rate=0.0)) as (url, fake, proxy),
            aiohttp.ClientSession() as client,
        ):
            seen = []
            async with client.get(f"{url}/api/v1/pods?watch=true") as response:
                async for line in response.content:
                    if line.strip():
                        seen.append(fake.watch_done.is_set())
            return seen, proxy

    seen, proxy = _run(go())
    assert len(seen) == 5
    assert seen[0] is False  # the first event arrived while upstream was still writing
    assert proxy.stats.watches == 1


def test_watch_is_dropped_mid_way() -> None:
    async def go() -> tuple[int, Proxy]:
        config = FaultConfig(rate=0.0, watch_drop_every=0.3)
        async with _proxied(config) as (url, _, proxy), aiohttp.ClientSession() as client:
            lines = 0
            try:
                async with client.get(f"{url}/api/v1/pods?watch=true") as response:
                    async for line in response.content:
                        lines += bool(line.strip())
            except aiohttp.ClientError:
                pass  # the abrupt kind of drop
            return lines, proxy

    lines, proxy = _run(go())
    assert lines < 5
    assert sum(proxy.stats.watch_drops.values()) == 1


@contextmanager
def _proxy_in_thread(config: FaultConfig) -> Iterator[tuple[str, Proxy]]:
    """The proxy and fake upstream on a loop in a thread, for the synchronous Kube client."""
    ready = threading.Event()
    stop: list[Callable[[], None]] = []
    box: dict[str, Any] = {}

    async def main() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        stop.append(lambda: loop.call_soon_threadsafe(done.set))
        async with _proxied(config) as (url, _fake, proxy):
            box.update(url=url, proxy=proxy)
            ready.set()
            await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    try:
        assert ready.wait(10)
        yield box["url"], box["proxy"]
    finally:
        if stop:
            stop[0]()
        thread.join(10)


def test_kube_client_survives_the_faults(tmp_path: Path) -> None:
    config = FaultConfig(rate=0.5, faults=("429", "500", "503", "reset"), retry_after=0)
    with _proxy_in_thread(config) as (url, proxy):
        kubeconfig = tmp_path / "kc"
        kubeconfig.write_text(yaml.safe_dump(apiproxy.proxy_kubeconfig(url, tmp_path / "up")))
        policy = RetryPolicy(attempts=30, backoff_base=0.001, backoff_max=0.01)
        kube = Kube(str(kubeconfig), policy=policy)
        try:
            for _ in range(10):
                items, version = kube.list("Namespace")
                assert (items, version) == ([], "7")
        finally:
            kube.close()
        assert proxy.stats.to_json()["injected_total"] > 0
