"""Container images for the testbed, built locally: no registry is reachable here.

Two single-layer OCI image archives: the workload image from Debian's static busybox
(the harness's writer/reader pods) and the pause image compiled from Kubernetes' own
``pause.c``. Both are imported into containerd's ``k8s.io`` namespace under the names
kubelet and the profile expect, so no pod ever needs a pull.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from snapconf_testbed.layout import PAUSE_IMAGE, WORKLOAD_IMAGE, Layout

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class RootFS:
    """Files of a single-layer image, built in memory with fixed metadata (stable digest)."""

    entries: list[tuple[tarfile.TarInfo, bytes | None]] = field(default_factory=list)

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, 0, 0, 0
        return info

    def directory(self, name: str, mode: int = 0o755) -> None:
        self.entries.append((self._info(name, tarfile.DIRTYPE, mode), None))

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.entries.append((info, data))

    def symlink(self, name: str, target: str) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.entries.append((info, None))

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for info, data in self.entries:
                archive.addfile(info, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def _blob(blobs: dict[str, bytes], data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}


def oci_archive(name: str, rootfs: RootFS, config: Mapping[str, object]) -> bytes:
    """An OCI image layout tar holding one image, annotated with its full ``name``."""
    blobs: dict[str, bytes] = {}
    layer = rootfs.tar()
    layer_ref = _blob(blobs, layer)
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer_ref["digest"]]},
        "history": [{"created_by": "snapconf testbed (built locally)"}],
    }
    config_ref = _blob(blobs, json.dumps(image_config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_ref},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_ref}],
    }
    manifest_ref = _blob(blobs, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_ref,
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
                },
            }
        ],
    }
    outer = RootFS()
    outer.file("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    outer.file("index.json", json.dumps(index, sort_keys=True).encode())
    outer.directory("blobs")
    outer.directory("blobs/sha256")
    for digest, data in blobs.items():
        outer.file(f"blobs/sha256/{digest.split(':', 1)[1]}", data)
    return outer.tar()


def busybox_rootfs(busybox: Path = Path("/bin/busybox")) -> RootFS:
    """Debian's static busybox with one link per applet, plus passwd, group and /tmp."""
    rootfs = RootFS()
    for directory in (
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "etc",
        "root",
        "dev",
        "proc",
        "sys",
    ):
        rootfs.directory(directory)
    rootfs.directory("tmp", 0o1777)
    rootfs.file("bin/busybox", busybox.read_bytes(), 0o755)
    listing = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in sorted(set(listing)):
        if applet != "bin/busybox":
            rootfs.symlink(applet, "/bin/busybox")
    rootfs.file(
        "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    rootfs.file("etc/group", b"root:x:0:\nnobody:x:65534:\n")
    return rootfs


def pause_binary(source: Path, out: Path, version: str) -> Path:
    """Compile Kubernetes' pause.c statically."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["gcc", "-Os", "-static", f"-DVERSION={version}", "-o", str(out), str(source)],
            check=True,
            capture_output=True,
        )
        subprocess.run(["strip", str(out)], check=False)
    return out


def build_archives(layout: Layout, pause_c: Path) -> dict[str, Path]:
    """Write both image archives into the cache; returns image name -> archive path."""
    layout.images_dir.mkdir(parents=True, exist_ok=True)
    pause_version = PAUSE_IMAGE.rsplit(":", 1)[1]
    pause = pause_binary(pause_c, layout.images_dir / f"pause-{pause_version}", pause_version)
    pause_fs = RootFS()
    pause_fs.file("pause", pause.read_bytes(), 0o755)
    archives = {
        WORKLOAD_IMAGE: (busybox_rootfs(), {"Cmd": ["sh"], "Env": [PATH_ENV], "WorkingDir": "/"}),
        PAUSE_IMAGE: (pause_fs, {"Entrypoint": ["/pause"], "WorkingDir": "/"}),
    }
    return {
        name: write_archive(layout, name, rootfs, config)
        for name, (rootfs, config) in archives.items()
    }


def write_archive(layout: Layout, name: str, rootfs: RootFS, config: Mapping[str, object]) -> Path:
    """Write the OCI archive of image ``name`` into the image cache (only if it changed)."""
    layout.images_dir.mkdir(parents=True, exist_ok=True)
    path = layout.images_dir / (name.replace("/", "_").replace(":", "_") + ".oci.tar")
    data = oci_archive(name, rootfs, config)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


def ctr(layout: Layout, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``ctr`` against the testbed's containerd, in the CRI namespace."""
    return subprocess.run(
        ["ctr", "--address", str(layout.containerd_socket), "--namespace", "k8s.io", *args],
        capture_output=True,
        text=True,
    )


def import_images(layout: Layout, archives: dict[str, Path]) -> None:
    """Import every archive whose image containerd does not hold yet."""
    present = set(ctr(layout, "images", "ls", "-q").stdout.split())
    for name, path in archives.items():
        if name in present:
            continue
        result = ctr(layout, "images", "import", str(path))
        if result.returncode != 0 or name not in set(
            ctr(layout, "images", "ls", "-q").stdout.split()
        ):
            raise RuntimeError(
                f"importing image {name} into containerd failed: {result.stderr.strip()}"
            )
