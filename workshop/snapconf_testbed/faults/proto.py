"""Build and load the CSI spec's own protobuf definitions.

The interposer parses the messages a fault changes with the ``csi.proto`` of the CSI spec
Go module that the hostpath driver pins (``testbed/hostpath-driver/go.mod``), so the
messages it rewrites are exactly the ones the driver and the sidecars speak. The proto is
found in Go's module cache and compiled with grpcio-tools into
``<cache>/csi-proto/<version>/``; the generated code is never committed. A stamp file
records what the build came from (the proto's hash, grpcio-tools and protobuf versions),
so a changed pin or toolchain rebuilds and an unchanged one costs a file read.

This module must not start servers or talk gRPC; it only builds and loads definitions.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf import message_factory

from snapconf_testbed.build import BuildError, module_dir
from snapconf_testbed.faults.errors import FaultError
from snapconf_testbed.layout import Layout
from snapconf_testbed.paths import data_dir

SPEC_MODULE = "github.com/container-storage-interface/spec"
DRIVER_FOLDER = "hostpath-driver"
_STAMP = "build.json"


class ProtoError(FaultError, RuntimeError):
    """The CSI proto could not be located, compiled or loaded."""


def pinned_spec_version() -> str:
    """The CSI spec module version the hostpath driver's go.mod pins (e.g. ``v1.13.0``)."""
    go_mod = data_dir("testbed") / DRIVER_FOLDER / "go.mod"
    match = re.search(
        rf"^\s*(?:require\s+)?{re.escape(SPEC_MODULE)}\s+(v\S+)", go_mod.read_text(), re.MULTILINE
    )
    if not match:
        raise ProtoError(f"{go_mod} does not require {SPEC_MODULE}")
    return match.group(1)


def spec_proto_source() -> Path:
    """``csi.proto`` in Go's module cache at the pinned version (downloaded if missing)."""
    try:
        folder = module_dir(DRIVER_FOLDER, SPEC_MODULE)
    except (BuildError, OSError) as exc:
        raise ProtoError(f"cannot locate the CSI spec module: {exc}") from exc
    proto = folder / "csi.proto"
    if not proto.is_file():
        raise ProtoError(f"{proto} does not exist")
    return proto


def _toolchain() -> dict[str, str]:
    return {
        "grpcio-tools": importlib.metadata.version("grpcio-tools"),
        "protobuf": importlib.metadata.version("protobuf"),
    }


def _read_stamp(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out / _STAMP).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not (out / "csi_pb2.py").is_file():
        return None
    return data


def _stamp_ok(stamp: dict[str, Any] | None, version: str) -> bool:
    return (
        stamp is not None
        and stamp.get("version") == version
        and stamp.get("toolchain") == _toolchain()
    )


def _compile(proto: Path, out: Path) -> None:
    tools = importlib.util.find_spec("grpc_tools")
    if tools is None or tools.origin is None:
        raise ProtoError("grpcio-tools is not installed")
    includes = Path(tools.origin).resolve().parent / "_proto"
    argv = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"--proto_path={proto.parent}", f"--proto_path={includes}",
        f"--python_out={out}", f"--pyi_out={out}",
        str(proto),
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ProtoError(f"protoc failed on {proto}:\n{result.stderr.strip()}")


def ensure_proto(cache_dir: Path | None = None) -> Path:
    """Compile the pinned ``csi.proto`` unless the cache already holds a matching build.

    Args:
        cache_dir: snapconf's cache root (the testbed's ``Layout.cache``; default
            ``$SNAPCONF_CACHE_DIR`` or ``~/.cache/snapconf``).

    Returns:
        ``<cache_dir>/csi-proto/<version>/``, holding ``csi_pb2.py`` (and ``.pyi``), the
        ``csi.proto`` it was built from and ``build.json``.

    Raises:
        ProtoError: the proto cannot be found (no Go, module not downloadable) or compiled.
    """
    if cache_dir is None:
        cache_dir = default_cache_dir()
    version = pinned_spec_version()
    out = cache_dir / "csi-proto" / version
    if _stamp_ok(_read_stamp(out), version):
        return out

    source = spec_proto_source()
    text = source.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{version}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        shutil.copyfile(source, tmp / "csi.proto")
        _compile(tmp / "csi.proto", tmp)
        stamp = {
            "version": version,
            "module": SPEC_MODULE,
            "source": str(source),
            "sha256": hashlib.sha256(text).hexdigest(),
            "toolchain": _toolchain(),
        }
        (tmp / _STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
        _install(tmp, out, version)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _install(tmp: Path, out: Path, version: str) -> None:
    """Move a finished build into place; a concurrent builder's valid result wins."""
    if out.exists():
        if _stamp_ok(_read_stamp(out), version):
            return
        old = out.with_name(f".{version}.old-{os.getpid()}")
        out.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        tmp.rename(out)
    except OSError:
        if not _stamp_ok(_read_stamp(out), version):
            raise


def default_cache_dir() -> Path:
    """The snapconf cache root, as the testbed layout resolves it."""
    return Layout.default().cache


@dataclass(frozen=True)
class Method:
    """One RPC of the CSI spec, with the message classes of its request and response."""

    service: str
    name: str
    request_type: Any
    response_type: Any
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        """The gRPC method path, e.g. ``/csi.v1.Controller/CreateVolume``."""
        return f"/{self.service}/{self.name}"

    @property
    def unary(self) -> bool:
        return not (self.client_streaming or self.server_streaming)


@dataclass(frozen=True)
class CsiProto:
    """The loaded ``csi_pb2`` module and every RPC it declares."""

    module: ModuleType
    version: str
    methods: Mapping[str, Method]  # by gRPC path

    def method(self, name: str) -> Method:
        """The RPC by bare name (``CreateVolume``) or path (``/csi.v1.Controller/...``)."""
        if name in self.methods:
            return self.methods[name]
        for method in self.methods.values():
            if method.name == name:
                return method
        raise KeyError(f"unknown CSI method {name!r}")

    def names(self) -> frozenset[str]:
        return frozenset(m.name for m in self.methods.values())


_LOADED: dict[Path, CsiProto] = {}
_LOAD_LOCK = threading.Lock()


def load_csi(proto_dir: Path) -> CsiProto:
    """Import ``csi_pb2`` from a directory :func:`ensure_proto` made (once per process)."""
    proto_dir = proto_dir.resolve()
    with _LOAD_LOCK:
        if proto_dir in _LOADED:
            return _LOADED[proto_dir]
        stamp = _read_stamp(proto_dir)
        if stamp is None:
            raise ProtoError(f"{proto_dir} holds no CSI proto build; run ensure_proto first")
        # The descriptor pool accepts csi.proto once per process: an identical build from
        # another directory reuses the loaded one, a different one is an error.
        for other_dir, other in _LOADED.items():
            other_stamp = _read_stamp(other_dir) or {}
            if other_stamp.get("sha256") == stamp.get("sha256"):
                _LOADED[proto_dir] = other
                return other
            raise ProtoError(f"a different CSI proto is already loaded from {other_dir}")
        spec = importlib.util.spec_from_file_location("snapconf_csi_pb2", proto_dir / "csi_pb2.py")
        if spec is None or spec.loader is None:
            raise ProtoError(f"cannot import {proto_dir / 'csi_pb2.py'}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[spec.name]
            raise ProtoError(f"cannot import {proto_dir / 'csi_pb2.py'}: {exc}") from exc
        methods: dict[str, Method] = {}
        for service in module.DESCRIPTOR.services_by_name.values():
            for desc in service.methods:
                method = Method(
                    service=service.full_name,
                    name=desc.name,
                    request_type=message_factory.GetMessageClass(desc.input_type),
                    response_type=message_factory.GetMessageClass(desc.output_type),
                    client_streaming=bool(desc.client_streaming),
                    server_streaming=bool(desc.server_streaming),
                )
                methods[method.path] = method
        loaded = CsiProto(module=module, version=str(stamp.get("version", "")), methods=methods)
        _LOADED[proto_dir] = loaded
        return loaded
