"""``python -m snapconf_testbed.kind``: the steps of ``testbed/kind/run.sh --local-images``.

- ``binaries``: build (or find in the testbed's cache) every binary the local path needs:
  the testbed's own (control plane, kubelet, CSI sidecars, hostpath driver) and kind's
  (``testbed/modules/kind``, ``etcd``, ``kubernetes-kind``: kind, etcd, kubeadm, kubectl);
  prints ``NAME=PATH`` lines.
- ``images OUT_DIR``: write the image archives into OUT_DIR; prints one line per image,
  ``node|load<TAB>NAME<TAB>ARCHIVE`` (``node``: baked into the node image; ``load``:
  ``kind load image-archive`` into the running cluster).
- ``manifests OUT_DIR``: write ``snapshot-controller.yaml`` and ``csi-hostpath.yaml``.
- ``paths``: ``NAME=PATH`` of the module folders the shell needs (kind's base image
  sources, the snapshot CRDs).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from snapconf_testbed import build
from snapconf_testbed.kind import images, manifests
from snapconf_testbed.layout import Layout
from snapconf_testbed.testbed import images as testbed_images

KIND = build.GoModule("modules/kind", "sigs.k8s.io/kind", ("sigs.k8s.io/kind",), "kind")
ETCD = build.GoModule(
    "modules/etcd", "go.etcd.io/etcd/server/v3", ("go.etcd.io/etcd/server/v3",), "etcd"
)
KUBE_TOOLS = build.GoModule(
    "modules/kubernetes-kind",
    "k8s.io/kubernetes",
    ("k8s.io/kubernetes/cmd/kubeadm", "k8s.io/kubernetes/cmd/kubectl"),
)
KIND_MODULES = (KIND, ETCD, KUBE_TOOLS)
SNAPSHOTTER = "github.com/kubernetes-csi/external-snapshotter/v8"
PROVISIONER = "github.com/kubernetes-csi/external-provisioner/v6"
RESIZER = "github.com/kubernetes-csi/external-resizer/v2"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def all_binaries(layout: Layout, say: Callable[[str], None] = _say) -> dict[str, Path]:
    """Every binary by name, built when the cache lacks it."""
    paths = build.build_all(layout, say)
    for module in KIND_MODULES:
        out = build.build_module(layout, module, say)
        paths.update({name: out / name for name in module.binaries})
    return paths


def known_binaries(layout: Layout) -> dict[str, Path]:
    """Every binary's path by name, built or not."""
    paths = build.binaries(layout)
    for module in KIND_MODULES:
        out = build.output_dir(layout, module)
        paths.update({name: out / name for name in module.binaries})
    return paths


def _module(upstream: str) -> build.GoModule:
    return next(m for m in build.MODULES if m.upstream == upstream)


def csi_tags(layout: Layout) -> dict[str, str]:
    """Image tag of each CSI binary: its module's pinned version; our driver's cache key."""
    snapshotter = _module(SNAPSHOTTER).version()
    driver = next(m for m in build.MODULES if not m.upstream)
    return {
        "snapshot-controller": snapshotter,
        "csi-snapshotter": snapshotter,
        "csi-provisioner": _module(PROVISIONER).version(),
        "csi-resizer": _module(RESIZER).version(),
        "hostpathplugin": "local-" + build.cache_key(driver),
    }


def kubeadm_images(kubeadm: Path, version: str) -> list[str]:
    """``kubeadm config images list`` for ``version``."""
    result = subprocess.run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", version],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def write_images(layout: Layout, out_dir: Path) -> list[tuple[str, str, Path]]:
    """Write every archive; ``(where, name, archive)`` each (see the module docstring)."""
    bins = known_binaries(layout)
    version = KUBE_TOOLS.version()
    rows: list[tuple[str, str, Path]] = []
    for image in images.control_plane_images(kubeadm_images(bins["kubeadm"], version), bins):
        rows.append(("node", image.name, images.write(image, out_dir)))
    for name, path in testbed_images.build_archives(layout, build.pause_source()).items():
        rows.append(("node" if "pause" in name else "load", name, path))
    for image in images.csi_images(csi_tags(layout), bins):
        rows.append(("load", image.name, images.write(image, out_dir)))
    return rows


def write_manifests(layout: Layout, out_dir: Path) -> list[Path]:
    """The snapshot-controller and the hostpath plugin manifests, in ``out_dir``."""
    names = images.csi_image_names(csi_tags(layout))
    snapshotter_dir = build.module_dir("modules/external-snapshotter", SNAPSHOTTER)
    upstream = manifests.load_all(
        snapshotter_dir / "deploy/kubernetes/snapshot-controller/rbac-snapshot-controller.yaml"
    ) + manifests.load_all(
        snapshotter_dir / "deploy/kubernetes/snapshot-controller/setup-snapshot-controller.yaml"
    )
    rbac = [
        *manifests.load_all(
            build.module_dir("modules/external-provisioner", PROVISIONER)
            / "deploy/kubernetes/rbac.yaml"
        ),
        *manifests.load_all(
            snapshotter_dir / "deploy/kubernetes/csi-snapshotter/rbac-csi-snapshotter.yaml"
        ),
        *manifests.load_all(
            build.module_dir("modules/external-resizer", RESIZER) / "deploy/kubernetes/rbac.yaml"
        ),
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "snapshot-controller.yaml": manifests.snapshot_controller(
            upstream, names["snapshot-controller"]
        ),
        "csi-hostpath.yaml": manifests.hostpath_plugin(names, rbac),
    }
    written = []
    for filename, objects in files.items():
        path = out_dir / filename
        path.write_text(manifests.dump(objects))
        written.append(path)
    return written


def module_paths() -> dict[str, Path]:
    return {
        "kind_module": build.module_dir(KIND.folder, KIND.upstream),
        "snapshot_crds": build.snapshot_crd_dir(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snapconf_testbed.kind", description=__doc__)
    parser.add_argument("step", choices=["binaries", "images", "manifests", "paths"])
    parser.add_argument("out_dir", nargs="?", type=Path)
    args = parser.parse_args(argv)
    layout = Layout.default()
    if args.step in {"images", "manifests"} and args.out_dir is None:
        parser.error(f"{args.step} needs OUT_DIR")
    if args.step == "binaries":
        for name, path in all_binaries(layout).items():
            print(f"{name}={path}")
    elif args.step == "images":
        for where, name, path in write_images(layout, args.out_dir):
            print(f"{where}\t{name}\t{path}")
    elif args.step == "manifests":
        for path in write_manifests(layout, args.out_dir):
            print(path)
    else:
        for name, path in module_paths().items():
            print(f"{name}={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
