"""Certificates for the testbed, made with the openssl command line.

A CA, a service-account key pair, serving certificates for the apiserver and kubelet,
and client certificates for each component. EC P-256 keys keep this to a few seconds.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from snapconf_testbed.layout import NODE_NAME, Layout


@dataclass(frozen=True)
class Cert:
    """One certificate to issue from the testbed CA."""

    name: str
    subject: str
    server_sans: tuple[str, ...] = ()


CLIENT_CERTS = (
    Cert("admin", "/O=system:masters/CN=snapconf-admin"),
    Cert("controller-manager", "/CN=system:kube-controller-manager"),
    Cert("scheduler", "/CN=system:kube-scheduler"),
    Cert("kubelet-client", f"/O=system:nodes/CN=system:node:{NODE_NAME}"),
    Cert("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"),
)
SERVER_CERTS = (
    Cert(
        "apiserver",
        "/CN=kube-apiserver",
        (
            "IP:127.0.0.1",
            "IP:10.0.0.1",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ),
    ),
    Cert("kubelet", f"/CN={NODE_NAME}", ("IP:127.0.0.1", "DNS:localhost")),
)


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    path.chmod(0o600)


def _issue(pki: Path, cert: Cert) -> None:
    key, csr, crt = (pki / f"{cert.name}.{ext}" for ext in ("key", "csr", "crt"))
    _key(key)
    _openssl("req", "-new", "-key", key, "-subj", cert.subject, "-out", csr)
    ext = pki / f"{cert.name}.ext"
    usage = "serverAuth" if cert.server_sans else "clientAuth"
    lines = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if cert.server_sans:
        lines.append("subjectAltName=" + ",".join(cert.server_sans))
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509", "-req", "-in", csr, "-CA", pki / "ca.crt", "-CAkey", pki / "ca.key",
        "-CAcreateserial", "-days", "365", "-sha256", "-extfile", ext, "-out", crt,
    )  # fmt: skip
    csr.unlink()
    ext.unlink()


def ensure(layout: Layout) -> None:
    """Create the PKI once; an existing complete set is kept."""
    pki = layout.pki
    if (pki / "complete").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    _key(pki / "ca.key")
    _openssl(
        "req", "-x509", "-new", "-key", pki / "ca.key", "-subj", "/CN=snapconf-testbed-ca",
        "-days", "365", "-sha256", "-out", pki / "ca.crt",
    )  # fmt: skip
    _key(pki / "sa.key")
    _openssl("pkey", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub")
    for cert in (*SERVER_CERTS, *CLIENT_CERTS):
        _issue(pki, cert)
    (pki / "complete").write_text("")
