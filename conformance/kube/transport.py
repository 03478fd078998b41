"""The one place that touches the kubernetes client: requests in, urllib3 responses out.

Why it exists: the client hands back model objects for some kinds and dicts for others;
going through ``param_serialize`` + ``call_api`` (built-in kinds) and ``CustomObjectsApi``
(CRDs) with ``_preload_content=False`` keeps every body the server's JSON.

Must not: retry or map errors (``client.Kube`` wraps every call in the retry policy), or
mutate the client's global configuration.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from typing import Any

import urllib3
from kubernetes import client as k8s_client

from conformance.kube.errors import KubeError
from conformance.kube.kinds import Kind, Obj


class _Transport:
    """The one place that touches the client: requests in, urllib3 responses out.

    Built-in kinds go through ``ApiClient.param_serialize`` + ``call_api`` (paths from
    :meth:`Kind.path`); CRD kinds through ``CustomObjectsApi``. Both with
    ``_preload_content=False`` so the body is the server's JSON, never a model object.
    """

    def __init__(self, api: Any) -> None:
        self.api = api
        self.custom = k8s_client.CustomObjectsApi(api)

    def raw(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
        timeout: tuple[float, float],
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            k8s_client.ApiException.from_response(http_resp=response, body=None, data=None)
        result: urllib3.BaseHTTPResponse = response.response
        return result

    def create(
        self, kind: Kind, namespace: str | None, body: Obj, timeout: tuple[float, float]
    ) -> urllib3.BaseHTTPResponse:
        if not kind.custom:
            return self.raw("POST", kind.path(namespace), body=body, timeout=timeout)
        opts: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout}
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced:
            return self._r(
                self.custom.create_namespaced_custom_object(g, v, _need(namespace), p, body, **opts)
            )
        return self._r(self.custom.create_cluster_custom_object(g, v, p, body, **opts))

    def get(
        self, kind: Kind, name: str, namespace: str | None, timeout: tuple[float, float]
    ) -> urllib3.BaseHTTPResponse:
        if not kind.custom:
            return self.raw("GET", kind.path(namespace, name), timeout=timeout)
        opts: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout}
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced:
            return self._r(
                self.custom.get_namespaced_custom_object(g, v, _need(namespace), p, name, **opts)
            )
        return self._r(self.custom.get_cluster_custom_object(g, v, p, name, **opts))

    def list(
        self,
        kind: Kind,
        namespace: str | None,
        query: dict[str, Any],
        timeout: tuple[float, float],
    ) -> urllib3.BaseHTTPResponse:
        """List (or with ``watch=True`` in ``query``, watch) a collection.

        ``query`` uses the API's camelCase names (``fieldSelector``, ``continue``, ...).
        """
        params = {k: v for k, v in query.items() if v is not None}
        if not kind.custom:
            return self.raw(
                "GET", kind.path(namespace), query=list(params.items()), timeout=timeout
            )
        snake = {
            "fieldSelector": "field_selector",
            "labelSelector": "label_selector",
            "limit": "limit",
            "continue": "_continue",
            "resourceVersion": "resource_version",
            "timeoutSeconds": "timeout_seconds",
            "watch": "watch",
            "allowWatchBookmarks": "allow_watch_bookmarks",
        }
        opts: dict[str, Any] = {snake[k]: v for k, v in params.items()}
        opts.update(_preload_content=False, _request_timeout=timeout)
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced and namespace:
            return self._r(self.custom.list_namespaced_custom_object(g, v, namespace, p, **opts))
        return self._r(self.custom.list_cluster_custom_object(g, v, p, **opts))

    def patch(
        self,
        kind: Kind,
        name: str,
        namespace: str | None,
        body: Obj | builtins.list[Obj],
        content_type: str,
        timeout: tuple[float, float],
    ) -> urllib3.BaseHTTPResponse:
        if not kind.custom:
            return self.raw(
                "PATCH",
                kind.path(namespace, name),
                body=body,
                content_type=content_type,
                timeout=timeout,
            )
        opts: dict[str, Any] = {
            "_preload_content": False,
            "_request_timeout": timeout,
            "_content_type": content_type,
        }
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced:
            return self._r(
                self.custom.patch_namespaced_custom_object(
                    g, v, _need(namespace), p, name, body, **opts
                )
            )
        return self._r(self.custom.patch_cluster_custom_object(g, v, p, name, body, **opts))

    def delete(
        self,
        kind: Kind,
        name: str,
        namespace: str | None,
        propagation: str,
        timeout: tuple[float, float],
    ) -> urllib3.BaseHTTPResponse:
        if not kind.custom:
            query = [("propagationPolicy", propagation)]
            return self.raw("DELETE", kind.path(namespace, name), query=query, timeout=timeout)
        opts: dict[str, Any] = {
            "_preload_content": False,
            "_request_timeout": timeout,
            "propagation_policy": propagation,
        }
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced:
            return self._r(
                self.custom.delete_namespaced_custom_object(g, v, _need(namespace), p, name, **opts)
            )
        return self._r(self.custom.delete_cluster_custom_object(g, v, p, name, **opts))

    @staticmethod
    def _r(response: Any) -> urllib3.BaseHTTPResponse:
        result: urllib3.BaseHTTPResponse = response
        return result


def _need(namespace: str | None) -> str:
    if not namespace:
        raise ValueError("a namespaced kind needs a namespace")
    return namespace


def _json(response: urllib3.BaseHTTPResponse) -> Obj:
    data = response.data
    value = json.loads(data) if data else {}
    if not isinstance(value, dict):
        raise KubeError(f"expected a JSON object, got {type(value).__name__}", reason="BadResponse")
    return value


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The non-empty lines of a streaming response, as they arrive."""
    buffer = bytearray()
    for chunk in response.stream(amt=None, decode_content=True):
        buffer.extend(chunk)
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if line.strip():
                yield line
    if bytes(buffer).strip():
        yield bytes(buffer)
