"""Single-layer images for the local kind cluster, from the binaries the testbed builds.

No registry is reachable here. Every image kind's node or the CSI deployment starts is a
one-layer OCI archive (:func:`snapconf_testbed.testbed.images.oci_archive`) holding the
binary, the shared libraries ``ldd`` names for it (the testbed's Go binaries link glibc
dynamically) and, for the hostpath plugin, the host tools it runs (GNU tar and gzip for
snapshots, util-linux ``losetup`` for block volumes). The node's containerd imports the
archives with ``ctr images import``, which reads OCI layouts; Docker 20.10's ``docker
load`` does not, so none of them passes through Docker.

- The control plane and etcd carry the names ``kubeadm config images list`` prints for the
  pinned Kubernetes (kubeadm's static pods run ``kube-apiserver ...``, ``etcd ...`` from
  ``PATH``); they go into the node image.
- The CSI images are named ``localhost/snapconf/<binary>:<tag>`` (the tag is the pinned
  module version, or the testbed's cache key for our own hostpath driver, whose version is
  its sources); ``kind load image-archive`` puts them in the running node.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from snapconf_testbed.testbed.images import PATH_ENV, RootFS, oci_archive

LOCAL_REGISTRY = "localhost/snapconf"
"""Repository prefix of the images only this machine has (never pulled: ``Never``)."""

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
"""kubeadm's images that are one binary of the same name (kube-proxy and CoreDNS are not
run: the local cluster has ``kubeProxyMode: none`` and skips kubeadm's CoreDNS addon)."""

CSI_BINARIES = (
    "snapshot-controller",
    "csi-snapshotter",
    "csi-provisioner",
    "csi-resizer",
    "hostpathplugin",
)
HOSTPATH_TOOLS = ("tar", "gzip", "losetup", "cp", "sh")
"""What the hostpath plugin runs (testbed/hostpath-driver: ``tar`` in cut.go and volumes.go,
``cp -a`` in volumes.go, ``losetup`` in mount.go), and what they run: GNU tar starts its
compressor through ``/bin/sh -c`` ("gzip: Cannot exec" without a shell)."""

_LDD_LINE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


@dataclass(frozen=True)
class Image:
    """One image to build: its full name and the files of its root filesystem."""

    name: str
    files: Mapping[str, Path]
    """Path in the image (no leading slash) -> file on this machine."""
    entrypoint: tuple[str, ...] = ()

    @property
    def archive_name(self) -> str:
        return self.name.replace("/", "_").replace(":", "_") + ".oci.tar"


def parse_ldd(output: str) -> list[PurePosixPath]:
    """The absolute library paths in ``ldd`` output (the vDSO and 'not a dynamic' lines skip).

    A line ``libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`` gives its target, the
    interpreter line ``/lib64/ld-linux-x86-64.so.2 (0x...)`` its own path.
    """
    found: list[PurePosixPath] = []
    for line in output.splitlines():
        if "=> not found" in line:
            raise RuntimeError(f"ldd: a library is missing: {line.strip()}")
        match = _LDD_LINE.match(line)
        if match:
            found.append(PurePosixPath(match.group(1)))
    return found


def shared_libraries(binary: Path) -> list[PurePosixPath]:
    """The libraries ``binary`` loads (none for a static binary)."""
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if result.returncode != 0:  # "not a dynamic executable"
        return []
    return parse_ldd(result.stdout)


def with_libraries(files: Mapping[str, Path]) -> dict[str, Path]:
    """``files`` plus the shared libraries each one needs, at the paths ``ldd`` names."""
    out = dict(files)
    for source in files.values():
        for lib in shared_libraries(source):
            out.setdefault(str(lib).lstrip("/"), Path(lib))
    return out


def rootfs(files: Mapping[str, Path]) -> RootFS:
    """A root filesystem of ``files`` with every parent folder, /tmp, passwd and group.

    Symlinks are followed: a library ``ldd`` names through a link is stored as a file.
    """
    fs = RootFS()
    dirs: set[str] = set()
    wanted = sorted(files)
    for path in [*wanted, "tmp/.keep", "etc/passwd", "etc/group", "proc/.keep", "dev/.keep"]:
        parts = PurePosixPath(path).parts[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    for directory in sorted(dirs):
        fs.directory(directory, 0o1777 if directory == "tmp" else 0o755)
    for path in wanted:
        source = files[path].resolve()
        fs.file(path, source.read_bytes(), source.stat().st_mode & 0o755 | 0o444)
    fs.file(
        "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    fs.file("etc/group", b"root:x:0:\nnobody:x:65534:\n")
    return fs


def which(tool: str, search: Sequence[str] = ("/usr/bin", "/bin", "/usr/sbin", "/sbin")) -> Path:
    """The host's ``tool`` (for the tools an image carries)."""
    for folder in search:
        candidate = Path(folder) / tool
        if candidate.exists():
            return candidate
    raise RuntimeError(f"{tool} is not installed on this machine (looked in {', '.join(search)})")


def control_plane_images(kubeadm_images: Iterable[str], bins: Mapping[str, Path]) -> list[Image]:
    """The images of kubeadm's list that are one of :data:`CONTROL_PLANE`'s binaries."""
    images: list[Image] = []
    for name in kubeadm_images:
        repository = name.rsplit(":", 1)[0]
        binary = repository.rsplit("/", 1)[-1]
        if binary in CONTROL_PLANE:
            images.append(Image(name, {f"usr/local/bin/{binary}": bins[binary]}))
    missing = set(CONTROL_PLANE) - {i.name.rsplit(":", 1)[0].rsplit("/", 1)[-1] for i in images}
    if missing:
        raise RuntimeError(f"kubeadm lists no image for {', '.join(sorted(missing))}")
    return images


def csi_image_names(tags: Mapping[str, str]) -> dict[str, str]:
    """Image name of each CSI binary: ``localhost/snapconf/<binary>:<tag>``."""
    return {binary: f"{LOCAL_REGISTRY}/{binary}:{tags[binary]}" for binary in CSI_BINARIES}


def csi_images(tags: Mapping[str, str], bins: Mapping[str, Path]) -> list[Image]:
    """The CSI images; the hostpath plugin's also carries :data:`HOSTPATH_TOOLS`."""
    images: list[Image] = []
    for binary, name in csi_image_names(tags).items():
        files = {f"usr/local/bin/{binary}": bins[binary]}
        if binary == "hostpathplugin":
            files.update({f"usr/bin/{tool}": which(tool) for tool in HOSTPATH_TOOLS})
            files["bin/sh"] = which("sh")
        images.append(Image(name, files, entrypoint=(f"/usr/local/bin/{binary}",)))
    return images


def write(image: Image, out_dir: Path) -> Path:
    """Write ``image`` as an OCI archive into ``out_dir`` (kept when it is unchanged)."""
    config: dict[str, object] = {"Env": [PATH_ENV], "WorkingDir": "/"}
    if image.entrypoint:
        config["Entrypoint"] = list(image.entrypoint)
    data = oci_archive(image.name, rootfs(with_libraries(image.files)), config)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / image.archive_name
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path
