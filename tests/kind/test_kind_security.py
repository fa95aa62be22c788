"""Our containers run locked down, the namespace enforces it, and no pod reaches outside."""

from __future__ import annotations

import json
from typing import Any

from testbed.docker import counting_guarded_packets, egress_guard_installed
from testbed.kind import KindRelease, get_json

OUR_UID = 10001
# TEST-NET-1 (RFC 5737): never routed, so a guard that failed would send to no one.
OUTSIDE_ADDRESS = "192.0.2.1"
EHOSTUNREACH = 113  # the guard's ICMP "administratively prohibited", when not rate-limited


def our_pods(release: KindRelease) -> list[dict[str, Any]]:
    pods = get_json(release, "pods")["items"]
    mine = [p for p in pods if any(c["image"] == release.image for c in p["spec"]["containers"])]
    assert mine, f"no pod runs {release.image}"
    return mine


def worker_pod(release: KindRelease) -> str:
    selector = "app.kubernetes.io/component=worker,app.kubernetes.io/instance=saga"
    pods = get_json(release, "pods", "-l", selector)["items"]
    running = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]
    assert running, f"no running worker pod ({selector})"
    return str(running[0])


def in_pod(release: KindRelease, pod: str, code: str) -> str:
    """Run Python in the pod's container (the image's own interpreter); its stdout."""
    result = release.kubectl(
        "--namespace", release.namespace, "exec", pod, "--", "python", "-c", code, timeout=90
    )
    return result.stdout.strip()


def test_our_containers_declare_uid_10001_and_a_read_only_root(kind_release: KindRelease) -> None:
    for pod in our_pods(kind_release):
        pod_context = pod["spec"].get("securityContext", {})
        for container in pod["spec"]["containers"]:
            context = {**pod_context, **container.get("securityContext", {})}
            where = f"{pod['metadata']['name']}/{container['name']}"
            assert context.get("runAsUser") == OUR_UID, where
            assert context.get("runAsNonRoot") is True, where
            assert context.get("readOnlyRootFilesystem") is True, where


def test_a_worker_process_is_uid_10001_and_cannot_write_its_root(
    kind_release: KindRelease,
) -> None:
    probe = (
        "import json, os\n"
        "try:\n"
        "    open('/queuefleet-probe', 'w')\n"
        "    written = True\n"
        "except OSError as error:\n"
        "    written = error.strerror\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'written': written}))\n"
    )
    seen = json.loads(in_pod(kind_release, worker_pod(kind_release), probe))
    assert seen["uid"] == OUR_UID
    assert seen["gid"] == OUR_UID
    assert seen["written"] == "Read-only file system"


def test_the_namespace_enforces_the_restricted_level(kind_release: KindRelease) -> None:
    namespace = kind_release.kubectl("get", "namespace", kind_release.namespace, "-o", "json")
    labels = json.loads(namespace.stdout)["metadata"]["labels"]
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted"
    # A pod that asks for root is refused by admission (a server-side dry run creates nothing).
    refused = kind_release.kubectl(
        "--namespace", kind_release.namespace, "run", "pss-probe", f"--image={kind_release.image}",
        "--image-pull-policy=Never", "--restart=Never", "--dry-run=server",
        '--overrides={"spec": {"securityContext": {"runAsUser": 0}}}', "--", "worker",
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted' in refused.stderr, refused.stderr


def test_a_pod_cannot_reach_an_outside_address(kind_release: KindRelease) -> None:
    assert egress_guard_installed(), "the egress guard is not in DOCKER-USER"
    probe = (
        "import json, socket\n"
        f"sock = socket.socket()\nsock.settimeout(15)\n"
        "try:\n"
        f"    sock.connect(({OUTSIDE_ADDRESS!r}, 80))\n"
        "    outcome = 'connected'\n"
        "except socket.timeout:\n"
        "    outcome = 'timeout'\n"
        "except OSError as error:\n"
        "    outcome = error.errno\n"
        "print(json.dumps(outcome))\n"
    )
    with counting_guarded_packets(OUTSIDE_ADDRESS) as count:
        outcome = json.loads(in_pod(kind_release, worker_pod(kind_release), probe))
        seen = count()
    assert outcome in (EHOSTUNREACH, "timeout"), f"connect to {OUTSIDE_ADDRESS}:80 gave {outcome!r}"
    # The connection attempt reached the guard on the host, and nothing got past it.
    assert seen.reached >= 1, f"no packet to {OUTSIDE_ADDRESS} left the KIND bridge: {seen}"
    assert seen.passed == 0, f"packets to {OUTSIDE_ADDRESS} got past the guard: {seen}"
