"""KEDA's operator and metrics API server as local processes against a test-bed cluster.

Both binaries come from hack/install-tool.sh (`keda`, `keda-adapter`). They talk to each
other over gRPC with mutual TLS, so the test bed mints a throwaway CA and one certificate
(server and client use, SANs for 127.0.0.1 and the metrics Service's DNS name) with openssl.

The metrics API server is reached by kube-apiserver's aggregation layer, the way HPAs read
external metrics in a real cluster. Two loopback constraints shape how it is registered:

- Endpoints and EndpointSlices reject loopback addresses (ValidateEndpointIP), so
  `--enable-aggregator-routing` cannot point the aggregator at 127.0.0.1.
- Without aggregator routing, the aggregator resolves an ExternalName Service to
  `<externalName>:<APIService port>`, so a Service with externalName `localhost` and the
  APIService's port set to the adapter's port reaches the adapter on loopback. TLS is still
  verified: the APIService carries our CA and the certificate names the Service's DNS name.

kube-apiserver needs the front-proxy (requestheader) flags for the adapter to learn who is
asking; `aggregation_extra_args` gives them in kwokctl's component=key=value form.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cluster import Cluster
from .process import Process, TestbedError, free_port, http_ok, require_binary, tail

__all__ = [
    "KEDA_NAMESPACE",
    "METRICS_API_SERVICE",
    "Keda",
    "aggregation_extra_args",
    "start_keda",
]

KEDA_NAMESPACE = "keda"
METRICS_SERVICE = "keda-metrics-apiserver"
METRICS_API_SERVICE = "v1beta1.external.metrics.k8s.io"
_TOOLS_HINT = "build it with `make tools` (hack/install-tool.sh keda-operator), then run via make"
# The front-proxy client certificate kwokctl gives kube-apiserver is its admin certificate.
_KWOK_PROXY_CLIENT_NAME = "kwok-admin"
# Seconds the HPA controller waits between syncs; the default 15 s would dominate 1 -> N tests.
HPA_SYNC_PERIOD = "3s"


def aggregation_extra_args(pki_dir: Path) -> list[str]:
    """kwokctl --extra-args so the aggregation layer forwards identities to the adapter.

    kwokctl already sets --proxy-client-cert-file/--proxy-client-key-file (its admin
    certificate, signed by the cluster CA); what is missing is the requestheader half.
    """
    ca = pki_dir / "ca.crt"
    return [
        f"kube-apiserver=requestheader-client-ca-file={ca}",
        f"kube-apiserver=requestheader-allowed-names={_KWOK_PROXY_CLIENT_NAME}",
        "kube-apiserver=requestheader-username-headers=X-Remote-User",
        "kube-apiserver=requestheader-group-headers=X-Remote-Group",
        "kube-apiserver=requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"kube-controller-manager=horizontal-pod-autoscaler-sync-period={HPA_SYNC_PERIOD}",
    ]


def write_certificates(directory: Path) -> Path:
    """A CA plus one certificate for KEDA's gRPC link and the adapter's serving endpoint.

    Files are named as KEDA reads them from its cert dir: ca.crt, tls.crt, tls.key.
    """
    openssl = require_binary("openssl", "install Debian's openssl package")
    directory.mkdir(parents=True, exist_ok=True)
    names = [
        "IP:127.0.0.1",
        "DNS:localhost",
        f"DNS:{METRICS_SERVICE}.{KEDA_NAMESPACE}.svc",
        f"DNS:keda-operator.{KEDA_NAMESPACE}.svc",
    ]
    (directory / "leaf.cnf").write_text(
        f"subjectAltName={','.join(names)}\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "basicConstraints=CA:FALSE\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_subject = ["-subj", "/CN=queuefleet-testbed-keda-ca"]
    sign = ["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "leaf.cnf"]
    steps = [
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", *ca_subject],
        ["req", *ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=keda-testbed"],
        ["x509", "-req", "-in", "tls.csr", *sign, "-out", "tls.crt", "-days", "2"],
    ]
    for step in steps:
        result = subprocess.run(
            [openssl, *step], cwd=directory, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise TestbedError(f"openssl {step[0]} failed: {result.stderr.strip()}")
    return directory


@dataclass
class Keda:
    """KEDA's two processes, the ports they listen on, and how to restart the operator."""

    cluster: Cluster
    workdir: Path
    cert_dir: Path
    metrics_service_port: int
    adapter_port: int
    operator: Process
    adapter: Process | None
    restarts: int = field(default=0)

    def stop_operator(self) -> None:
        self.operator.stop()

    def start_operator(self) -> None:
        """A new operator on the same gRPC port, so the adapter redials it."""
        if self.operator.alive():
            raise TestbedError("the KEDA operator is still running; stop it first")
        self.restarts += 1
        self.operator = _start_operator(
            self.cluster,
            self.workdir,
            self.cert_dir,
            self.metrics_service_port,
            log_name=f"operator-{self.restarts}.log",
        )

    def stop(self) -> None:
        self.operator.stop()
        if self.adapter is not None:
            self.adapter.stop()


def start_keda(cluster: Cluster, workdir: Path, *, metrics_api: bool = True) -> Keda:
    """Start KEDA's operator (and, with `metrics_api`, its adapter behind the aggregator)."""
    require_binary("keda", _TOOLS_HINT)
    _apply(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KEDA_NAMESPACE}})
    cert_dir = write_certificates(workdir / "certs")
    grpc_port = free_port()
    operator = _start_operator(cluster, workdir, cert_dir, grpc_port, log_name="operator.log")
    keda = Keda(
        cluster=cluster,
        workdir=workdir,
        cert_dir=cert_dir,
        metrics_service_port=grpc_port,
        adapter_port=0,
        operator=operator,
        adapter=None,
    )
    if not metrics_api:
        return keda
    try:
        require_binary("keda-adapter", _TOOLS_HINT)
        keda.adapter_port = free_port()
        keda.adapter = _start_adapter(cluster, workdir, cert_dir, grpc_port, keda.adapter_port)
        register_metrics_api(cluster, cert_dir, keda.adapter_port)
        wait_for_metrics_api(cluster, keda)
    except BaseException:
        keda.stop()
        raise
    return keda


def _keda_env(cluster: Cluster) -> dict[str, str]:
    return {
        **cluster.env,
        "WATCH_NAMESPACE": "",  # every namespace
        "POD_NAMESPACE": KEDA_NAMESPACE,
        "KEDA_CLUSTER_OBJECT_NAMESPACE": KEDA_NAMESPACE,
    }


def _start_operator(
    cluster: Cluster, workdir: Path, cert_dir: Path, grpc_port: int, *, log_name: str
) -> Process:
    probe = free_port()
    argv = [
        require_binary("keda", _TOOLS_HINT),
        f"--metrics-bind-address=127.0.0.1:{free_port()}",
        f"--health-probe-bind-address=127.0.0.1:{probe}",
        f"--metrics-service-bind-address=127.0.0.1:{grpc_port}",
        f"--cert-dir={cert_dir}",
        f"--ca-dir={cert_dir}",
        "--enable-cert-rotation=false",
        "--leader-elect=false",
        "--zap-log-level=info",
        "--zap-encoder=console",
    ]
    process = Process.start(
        "keda-operator", argv, log_path=workdir / log_name, env=_keda_env(cluster)
    )
    process.wait_until(
        lambda: http_ok(f"http://127.0.0.1:{probe}/readyz"), timeout=60, what="readiness"
    )
    return process


def _start_adapter(
    cluster: Cluster, workdir: Path, cert_dir: Path, grpc_port: int, port: int
) -> Process:
    kubeconfig = str(cluster.kubeconfig)
    argv = [
        require_binary("keda-adapter", _TOOLS_HINT),
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={cert_dir / 'tls.crt'}",
        f"--tls-private-key-file={cert_dir / 'tls.key'}",
        f"--lister-kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--metrics-service-address=127.0.0.1:{grpc_port}",
        # Its Prometheus endpoint binds ":PORT" (all interfaces) and cannot be narrowed.
        f"--port={free_port()}",
        "--zap-log-level=info",
        "--zap-encoder=console",
    ]
    process = Process.start(
        "keda-adapter", argv, log_path=workdir / "adapter.log", env=_keda_env(cluster)
    )
    process.wait_until(
        lambda: _port_answers_tls(port), timeout=60, what="its secure port answering"
    )
    return process


def _port_answers_tls(port: int) -> bool:
    import ssl
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(
            f"https://127.0.0.1:{port}/healthz", timeout=2, context=context
        ):
            return True
    except urllib.error.HTTPError:
        return True  # answered (401/403 without credentials is fine)
    except OSError:
        return False


def register_metrics_api(cluster: Cluster, cert_dir: Path, adapter_port: int) -> None:
    """The Service and APIService that route external.metrics.k8s.io to the local adapter."""
    ca_bundle = base64.b64encode((cert_dir / "ca.crt").read_bytes()).decode()
    _apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": METRICS_SERVICE, "namespace": KEDA_NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "localhost"},
        },
    )
    _apply(
        cluster,
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": METRICS_API_SERVICE},
            "spec": {
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "service": {
                    "name": METRICS_SERVICE,
                    "namespace": KEDA_NAMESPACE,
                    "port": adapter_port,  # ExternalName: the aggregator dials this port
                },
                "caBundle": ca_bundle,
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    )


def wait_for_metrics_api(cluster: Cluster, keda: Keda, timeout: float = 60) -> None:
    """Until the APIService is Available, i.e. the aggregator reached the adapter."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        result = cluster.kubectl(
            "get", "apiservice", METRICS_API_SERVICE, "-o", "json", check=False
        )
        if result.returncode == 0:
            conditions = json.loads(result.stdout).get("status", {}).get("conditions", [])
            available = [c for c in conditions if c.get("type") == "Available"]
            if available and available[0].get("status") == "True":
                return
            last = json.dumps(available)
        time.sleep(0.5)
    adapter_log = keda.adapter.log_path if keda.adapter else None
    raise TestbedError(
        f"APIService {METRICS_API_SERVICE} not Available after {timeout:.0f}s ({last}); "
        f"adapter log {adapter_log}:\n{tail(adapter_log) if adapter_log else ''}"
    )


def _apply(cluster: Cluster, manifest: dict[str, object]) -> None:
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=queuefleet-testbed",
        "-f",
        "-",
        stdin=json.dumps(manifest),
    )
