"""kind on this machine from locally built images (``testbed/kind/run.sh --local-images``).

No registry and no GitHub are reachable here, and the machine's capability bounding set
lacks CAP_SYS_RESOURCE, so ``docker run --privileged`` (what kind's nodes are) fails. This
package holds the pure parts of the local path, each unit-tested without Docker:

- :mod:`.runtime`: the OCI runtime wrapper the private dockerd runs instead of runc; it
  drops the capabilities the machine cannot grant from each spec, then execs runc.
- :mod:`.images`: the single-layer images of the control plane, etcd and the CSI parts,
  built from the binaries the testbed builds from its pinned modules.
- :mod:`.manifests`: the CSI hostpath deployment (controller, node plugin, RBAC) that
  uses those images.
- :mod:`.__main__`: the command line ``testbed/kind/local/*.sh`` call.
"""
