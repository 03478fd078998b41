"""Build the testbed's Go binaries from the pinned modules in ``testbed/``.

Each folder under ``testbed/modules/`` pins one upstream project (go.mod/go.sum); the
hostpath driver is our own module in ``testbed/hostpath-driver/``. Binaries land in
``<cache>/bin/<module>-<key>/`` where the key hashes the module's pins (and sources), the
Go version and the link flags, so a second ``up`` on the same machine builds nothing and a
pin change builds afresh. Go's own build and module caches stay where Go keeps them
(``go env GOCACHE GOMODCACHE``), which survive on the same machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from snapconf_testbed.layout import Layout
from snapconf_testbed.paths import data_dir


class BuildError(RuntimeError):
    """A Go build failed; the message names the module and ends with Go's last lines."""


@dataclass(frozen=True)
class GoModule:
    """One pinned Go module folder and the main packages built from it."""

    folder: str
    upstream: str
    packages: tuple[str, ...]
    binary_name: str = ""  # for a module whose main package is its root (".")

    @property
    def path(self) -> Path:
        return data_dir("testbed") / self.folder

    @property
    def binaries(self) -> tuple[str, ...]:
        if self.binary_name:
            return (self.binary_name,)
        return tuple(pkg.rstrip("/").rsplit("/", 1)[-1] for pkg in self.packages)

    def version(self) -> str:
        """The pinned upstream version, read from go.mod (``local`` for our own module)."""
        if not self.upstream:
            return "local"
        match = re.search(
            rf"^\s*(?:require\s+)?{re.escape(self.upstream)}\s+(v\S+)",
            (self.path / "go.mod").read_text(),
            re.MULTILINE,
        )
        if not match:
            raise BuildError(f"{self.folder}/go.mod does not require {self.upstream}")
        return match.group(1)

    def ldflags(self) -> str:
        version = self.version()
        flags = ["-s", "-w"]
        if self.upstream == "k8s.io/kubernetes":
            major, minor = version.lstrip("v").split(".")[:2]
            for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
                flags += [
                    f"-X {pkg}.gitVersion={version}",
                    f"-X {pkg}.gitMajor={major}",
                    f"-X {pkg}.gitMinor={minor}",
                    f"-X {pkg}.gitTreeState=clean",
                ]
        else:
            flags.append(f"-X main.version={version}")
        return " ".join(flags)


MODULES: tuple[GoModule, ...] = (
    GoModule(
        "modules/kubernetes",
        "k8s.io/kubernetes",
        tuple(
            f"k8s.io/kubernetes/cmd/{name}"
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
        ),
    ),
    GoModule(
        "modules/external-snapshotter",
        "github.com/kubernetes-csi/external-snapshotter/v8",
        (
            "github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller",
            "github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter",
        ),
    ),
    GoModule(
        "modules/external-provisioner",
        "github.com/kubernetes-csi/external-provisioner/v6",
        ("github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner",),
    ),
    GoModule(
        "modules/external-resizer",
        "github.com/kubernetes-csi/external-resizer/v2",
        ("github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer",),
    ),
    GoModule("hostpath-driver", "", (".",), binary_name="hostpathplugin"),
)

SNAPSHOTTER_CLIENT = "github.com/kubernetes-csi/external-snapshotter/client/v8"


def go_env() -> dict[str, str]:
    """Environment for every go command: pinned go.sum, no module downloads at build."""
    # The module proxy reachable here does not answer every checksum-database lookup;
    # go.sum is committed and still verifies each download.
    return {**os.environ, "GOFLAGS": "-mod=readonly", "GOSUMDB": "off"}


def _go_version() -> str:
    return subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()


def cache_key(module: GoModule) -> str:
    """Hash of what decides the binaries: pins, our sources, Go version, link flags."""
    digest = hashlib.sha256()
    digest.update(_go_version().encode())
    digest.update(module.ldflags().encode())
    files = [module.path / "go.mod", module.path / "go.sum"]
    if not module.upstream:
        files += sorted(module.path.rglob("*.go"))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def output_dir(layout: Layout, module: GoModule) -> Path:
    return layout.bin_cache / f"{module.folder.rsplit('/', 1)[-1]}-{cache_key(module)}"


def binaries(layout: Layout) -> dict[str, Path]:
    """Path of every binary by name (built or not)."""
    paths: dict[str, Path] = {}
    for module in MODULES:
        out = output_dir(layout, module)
        for name in module.binaries:
            paths[name] = out / name
    return paths


def _heartbeat(label: str, done: threading.Event, say: Callable[[str], None]) -> None:
    start = time.monotonic()
    while not done.wait(30):
        say(f"  still building {label} ({int(time.monotonic() - start)}s)")


def run_go(
    layout: Layout,
    label: str,
    argv: list[str],
    cwd: Path,
    say: Callable[[str], None],
    extra_env: dict[str, str] | None = None,
) -> None:
    """Run one go command, its output appended to the build log, with a heartbeat."""
    log = layout.cache / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"building {label}")
    done = threading.Event()
    ticker = threading.Thread(target=_heartbeat, args=(label, done, say), daemon=True)
    ticker.start()
    started = time.monotonic()
    try:
        with log.open("a") as sink:
            sink.write(f"\n==> {label}\n")
            sink.flush()
            result = subprocess.run(
                argv,
                cwd=cwd,
                env={**go_env(), **(extra_env or {})},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
    finally:
        done.set()
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise BuildError(f"building {label} failed (full log: {log}):\n{tail}")
    say(f"built {label} in {time.monotonic() - started:.0f}s")


def build_module(layout: Layout, module: GoModule, say: Callable[[str], None]) -> Path:
    """Build one module's binaries unless the cache already holds them."""
    out = output_dir(layout, module)
    if all((out / name).exists() for name in module.binaries):
        return out
    label = f"{module.folder.rsplit('/', 1)[-1]} {module.version()}: {', '.join(module.binaries)}"
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    target = f"{tmp}/{module.binary_name}" if module.binary_name else f"{tmp}/"
    argv = ["go", "build", "-o", target, "-ldflags", module.ldflags(), *module.packages]
    run_go(layout, label, argv, module.path, say)
    tmp.rename(out)
    return out


def build_all(layout: Layout, say: Callable[[str], None] = print) -> dict[str, Path]:
    """Build (or find in the cache) every testbed binary."""
    for module in MODULES:
        build_module(layout, module, say)
    return binaries(layout)


def module_dir(module_folder: str, module_path: str) -> Path:
    """Where Go's module cache holds ``module_path`` at the version the folder pins."""
    folder = data_dir("testbed") / module_folder
    result = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", module_path],
        cwd=folder,
        env=go_env(),
        capture_output=True,
        text=True,
    )
    path = result.stdout.strip()
    if result.returncode != 0 or not path:
        subprocess.run(
            ["go", "mod", "download", module_path], cwd=folder, env=go_env(), check=False
        )
        result = subprocess.run(
            ["go", "list", "-m", "-f", "{{.Dir}}", module_path],
            cwd=folder,
            env=go_env(),
            capture_output=True,
            text=True,
        )
        path = result.stdout.strip()
    if not path:
        raise BuildError(f"cannot locate {module_path} for {module_folder}: {result.stderr}")
    return Path(path)


def snapshot_crd_dir() -> Path:
    """The snapshot and group-snapshot CRDs shipped in the pinned snapshotter client module."""
    return module_dir("modules/external-snapshotter", SNAPSHOTTER_CLIENT) / "config" / "crd"


def pause_source() -> Path:
    """``build/pause/linux/pause.c`` from the pinned Kubernetes module."""
    return module_dir("modules/kubernetes", "k8s.io/kubernetes") / "build/pause/linux/pause.c"


if __name__ == "__main__":  # pragma: no cover - manual use: python -m snapconf_testbed.build
    for name, path in build_all(Layout.default()).items():
        sys.stdout.write(f"{name}\t{path}\n")
