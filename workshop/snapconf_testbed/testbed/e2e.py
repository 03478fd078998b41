"""The Kubernetes e2e external-storage suites on the testbed: binaries and images.

Why it exists: driver teams today gate on ``e2e.test`` of ``k8s.io/kubernetes``;
``bench/peer`` runs it beside snapconf on the same cluster. No registry is reachable here,
so everything e2e needs is made locally:

- ``e2e.test`` is ``go test -c`` of ``k8s.io/kubernetes/test/e2e`` at the testbed's own
  Kubernetes pin (``testbed/modules/kubernetes-e2e``), plus ``ginkgo`` and ``agnhost``
  from the same module graph; cached like the testbed's binaries (``build.py``).
- The images the storage specs start are asked of ``e2e.test --list-images`` itself, so
  their names are exactly the ones the framework expects, and built from Debian's static
  busybox (busybox; glibc-dns-testing, formerly jessie-dnsutils, whose storage use is ``sh``
  and coreutils) or
  from the agnhost binary (agnhost). The e2e pause image is the testbed's own.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from snapconf_testbed import build
from snapconf_testbed.layout import PAUSE_IMAGE, Layout
from snapconf_testbed.testbed import images

MODULE = build.GoModule(
    "modules/kubernetes-e2e",
    "k8s.io/kubernetes",
    ("github.com/onsi/ginkgo/v2/ginkgo",),
)
"""The pin folder; ``packages`` are the plain ``go build`` ones (the test binary is extra)."""

E2E_PACKAGE = "k8s.io/kubernetes/test/e2e"
AGNHOST_PACKAGE = "k8s.io/kubernetes/test/images/agnhost"
BINARIES = ("e2e.test", "ginkgo", "agnhost")
E2E_REGISTRY = "registry.k8s.io/e2e-test-images"
"""The e2e framework's own test images live here (``test/utils/image/manifest.go``)."""

#: Image short names (the path's last element) that the storage specs start, and how each
#: is made here. Any other image e2e lists is not needed by the specs bench/peer focuses.
IMAGE_KINDS = {"busybox": "busybox", "glibc-dns-testing": "busybox", "agnhost": "agnhost"}
"""``glibc-dns-testing`` is 1.37's name for ``jessie-dnsutils`` (``imageutils.GlibcDnsTesting``),
which the multiVolume specs start exactly as before."""


def binaries_dir(layout: Layout) -> Path:
    return build.output_dir(layout, MODULE)


def build_binaries(layout: Layout, say: Callable[[str], None] = print) -> Path:
    """Build (or find cached) e2e.test, ginkgo and agnhost; returns their folder.

    The first build compiles most of Kubernetes' test tree: about 15 minutes on 2 cores
    with the testbed's build cache warm.
    """
    out = binaries_dir(layout)
    if all((out / name).exists() for name in BINARIES):
        return out
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, list[str], dict[str, str]]] = [
        (
            "e2e.test",
            [
                "go",
                "test",
                "-c",
                "-o",
                str(tmp / "e2e.test"),
                "-ldflags",
                MODULE.ldflags(),
                E2E_PACKAGE,
            ],
            {},
        ),
        ("ginkgo", ["go", "build", "-o", str(tmp / "ginkgo"), *MODULE.packages], {}),
        (
            "agnhost",
            ["go", "build", "-o", str(tmp / "agnhost"), "-ldflags", "-s -w", AGNHOST_PACKAGE],
            {"CGO_ENABLED": "0"},
        ),
    ]
    for name, argv, extra_env in steps:
        if (tmp / name).exists():
            continue
        build.run_go(
            layout,
            f"{name} (k8s.io/kubernetes {MODULE.version()})",
            argv,
            MODULE.path,
            say,
            extra_env,
        )
    tmp.rename(out)
    return out


def listed_images(e2e_test: Path) -> list[str]:
    """Every image name ``e2e.test --list-images`` prints (the framework's own manifest)."""
    result = subprocess.run(
        [str(e2e_test), "--list-images"], capture_output=True, text=True, check=True
    )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def needed_images(listed: list[str]) -> dict[str, str]:
    """Image name -> how it is built, for the listed images the storage specs start."""
    wanted: dict[str, str] = {}
    for name in listed:
        match = re.fullmatch(rf"{re.escape(E2E_REGISTRY)}/([^/:]+):[^/]+", name)
        if match and match.group(1) in IMAGE_KINDS:
            wanted[name] = IMAGE_KINDS[match.group(1)]
    missing = set(IMAGE_KINDS) - {n.rsplit("/", 1)[-1].split(":")[0] for n in wanted}
    if missing:
        raise RuntimeError(f"e2e.test --list-images names no {', '.join(sorted(missing))} image")
    return wanted


def build_image_archives(layout: Layout, bin_dir: Path) -> dict[str, Path]:
    """OCI archives of the e2e images, written into the testbed's image cache."""
    listed = listed_images(bin_dir / "e2e.test")
    if PAUSE_IMAGE not in listed:
        raise RuntimeError(f"e2e expects a pause image other than the testbed's {PAUSE_IMAGE}")
    archives: dict[str, Path] = {}
    for name, kind in needed_images(listed).items():
        rootfs = images.busybox_rootfs()
        config: dict[str, object] = {"Cmd": ["sh"], "Env": [images.PATH_ENV], "WorkingDir": "/"}
        if kind == "agnhost":
            rootfs.file("agnhost", (bin_dir / "agnhost").read_bytes(), 0o755)
            config = {"Entrypoint": ["/agnhost"], "Env": [images.PATH_ENV], "WorkingDir": "/"}
        archives[name] = images.write_archive(layout, name, rootfs, config)
    return archives


def prepare(layout: Layout, say: Callable[[str], None] = print) -> Path:
    """Binaries built and images imported into the running testbed; returns the bin folder."""
    bin_dir = build_binaries(layout, say)
    archives = build_image_archives(layout, bin_dir)
    images.import_images(layout, archives)
    say(f"e2e images in containerd: {', '.join(sorted(archives))}")
    return bin_dir


if __name__ == "__main__":  # pragma: no cover - manual use: python -m snapconf_testbed.testbed.e2e
    print(prepare(Layout.default()))
