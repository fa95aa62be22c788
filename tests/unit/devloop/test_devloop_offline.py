"""The KIND dev loop's offline layer, checked by what `make -n` plans and by its files.

`make dev-bounce OFFLINE=1` must reach no registry and no chart repository: the node
image, KEDA, the monitoring stack and the base image all come from `make images`, and
every image a pod of the chart runs is put on the node by `kind load`. The online path
(the default) stays as it was. The kind tier (tests/kind) runs the real thing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from testbed.kind import PHASE_MARKERS, phases_from_lines
from tests.unit.charts.helmchart import render
from tests.unit.devloop.makefile import ROOT, index_of, make, plan, variable

OFFLINE_CONFIG = ROOT / "k8s" / "kind" / "offline" / "cluster.yaml"
TIER_VALUES = ROOT / "tests" / "kind" / "values.yaml"
DEV_VALUES = ROOT / "k8s" / "kind" / "dev-values.yaml"


def offline_plan() -> list[str]:
    return plan("dev-bounce", "OFFLINE=1")


def test_offline_dev_bounce_uses_no_registry_and_no_chart_repository() -> None:
    commands = offline_plan()
    assert not [c for c in commands if "--repo " in c or "https://" in c], "\n".join(commands)
    create = commands[index_of(commands, "create cluster")]
    assert f"--image {variable('KIND_NODE_IMAGE')}" in create
    assert "--config k8s/kind/offline/cluster.yaml" in create
    build = commands[index_of(commands, "docker build")]
    assert f"--build-arg BASE_IMAGE={variable('OFFLINE_BASE_IMAGE')}" in build


def test_offline_dev_bounce_runs_in_the_same_order_as_online() -> None:
    commands = offline_plan()
    order = [
        index_of(commands, "hack/require.sh docker"),
        index_of(commands, "create cluster"),
        # the add-ons' images first: KEDA and monitoring wait for their pods to be ready
        index_of(commands, "load docker-image", variable("OFFLINE_PROMETHEUS_IMAGE")),
        index_of(commands, "kind-dev.sh keda-local", variable("KEDA_VERSION")),
        index_of(commands, "kind-dev.sh monitoring-local", variable("PROMETHEUS_OPERATOR_VERSION")),
        index_of(commands, "docker build"),
        index_of(commands, f"load docker-image {variable('IMAGE')} "),
        index_of(commands, "kind-dev.sh namespace restricted"),
        index_of(commands, "upgrade --install queuefleet charts/queuefleet"),
        index_of(commands, "rollout status deployment"),
    ]
    assert order == sorted(order), "\n".join(commands)


def test_offline_kind_load_puts_every_image_on_the_node() -> None:
    loads = " ".join(c + " " for c in offline_plan() if "load docker-image" in c)
    images = variable("OFFLINE_IMAGES").split()
    assert images
    for image in [variable("IMAGE"), *images]:
        assert f" {image} " in loads, image


def test_every_image_the_chart_runs_is_one_the_offline_layer_loads(tmp_path: Path) -> None:
    image = variable("IMAGE")
    repository, tag = image.rsplit(":", 1)
    manifests = render(
        home=tmp_path,
        values_files=[DEV_VALUES, TIER_VALUES],
        set_values={"image.repository": repository, "image.tag": tag},
    )
    used = set()
    for manifest in manifests:
        spec = manifest.get("spec") or {}
        pod = spec.get("template", {}).get("spec") if manifest["kind"] != "Pod" else spec
        if manifest["kind"] == "Job":
            pod = spec["template"]["spec"]
        for container in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            used.add(container["image"])
    assert used, "the chart rendered no containers"
    loaded = {image, *variable("OFFLINE_IMAGES").split()}
    assert used <= loaded, f"not loaded offline: {sorted(used - loaded)}"


def test_online_dev_bounce_is_unchanged_by_the_offline_layer() -> None:
    commands = plan("dev-bounce")
    create = commands[index_of(commands, "create cluster")]
    assert "--image" not in create
    assert "--config k8s/kind/cluster.yaml" in create
    assert "BASE_IMAGE" not in commands[index_of(commands, "docker build")]
    assert "keda-local" not in " ".join(commands)
    (load,) = [c for c in commands if "load docker-image" in c]
    assert load.endswith(f"load docker-image {variable('IMAGE')} --name queuefleet")


def test_each_offline_piece_can_be_chosen_alone() -> None:
    commands = plan("dev-bounce", "KEDA_SOURCE=local")
    assert "kind-dev.sh keda-local" in " ".join(commands)
    assert "upgrade --install kube-prometheus-stack" in " ".join(commands)
    create = plan("kind-up", "KIND_NODE_IMAGE=example.test/node:v1")[-1]
    assert "--image example.test/node:v1" in create
    assert "--config k8s/kind/cluster.yaml" in create


@pytest.mark.parametrize("variable_name", ["KEDA_SOURCE", "MONITORING_SOURCE"])
def test_a_bad_source_stops_make_with_one_line_naming_it(variable_name: str) -> None:
    result = make("-n", "dev-bounce", f"{variable_name}=s3")
    assert result.returncode != 0
    assert f"{variable_name} must be helm or local, not 's3'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_dev_values_files_are_all_passed_in_order() -> None:
    commands = plan("dev-bounce", f"DEV_VALUES=k8s/kind/dev-values.yaml {TIER_VALUES}")
    chart = commands[index_of(commands, "upgrade --install queuefleet charts/queuefleet")]
    assert f"--values k8s/kind/dev-values.yaml --values {TIER_VALUES}" in chart


@pytest.mark.parametrize("target", ["kind-up", "kind-down", "kind-load", "dev-bounce"])
def test_docker_is_checked_before_any_tool_is_built_on_a_cold_cache(
    target: str, tmp_path: Path
) -> None:
    # An empty cache: kind and helm would be built; the docker check must come first.
    result = make("-n", target, "OFFLINE=1", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()
    docker = index_of(commands, "hack/require.sh docker")
    build = index_of(commands, "hack/install-tool.sh kind")
    assert docker < build, "\n".join(commands)


def test_the_offline_cluster_config_carries_the_test_bed_patches() -> None:
    config = yaml.safe_load(OFFLINE_CONFIG.read_text())
    assert config["kind"] == "Cluster"
    assert config["networking"]["disableDefaultCNI"] is True
    patches = "\n".join(config.get("containerdConfigPatches", []))
    assert "restrict_oom_score_adj = true" in patches
    kubelet = [
        yaml.safe_load(p)
        for node in config["nodes"]
        for p in node.get("kubeadmConfigPatches", [])
        if "KubeletConfiguration" in p
    ] + [yaml.safe_load(p) for p in config.get("kubeadmConfigPatches", []) if "Kubelet" in p]
    assert any(k.get("failCgroupV1") is False for k in kubelet)
    for node in config["nodes"]:
        for mount in node.get("extraMounts", []):
            # kind resolves a relative hostPath against make's working directory, the root.
            assert (ROOT / mount["hostPath"]).exists(), mount


def test_the_users_cluster_config_stays_free_of_test_bed_patches() -> None:
    text = (ROOT / "k8s" / "kind" / "cluster.yaml").read_text()
    for patch in ("restrict_oom_score_adj", "failCgroupV1", "disableDefaultCNI"):
        assert patch not in text


def test_kind_dev_rejects_an_unknown_pod_security_level_in_one_line() -> None:
    result = subprocess.run(
        [str(ROOT / "hack" / "kind-dev.sh"), "namespace", "lenient"],
        env={"PATH": "/usr/bin:/bin", "KUBECTL": "false", "NAMESPACE": "n", "RELEASE": "r"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "kind-dev: DEV_POD_SECURITY must be restricted, baseline or privileged, not 'lenient'"
    )


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # every phase seen: each lasts until the next one starts
        (
            [(1.0, "Creating cluster \"x\" ..."), (3.0, "hack/kind-dev.sh keda-local v2"),
             (4.0, "docker build --tag q ."), (6.0, "kind load docker-image q"),
             (7.0, "helm upgrade --install q charts/queuefleet --namespace q"),
             (9.0, "kubectl wait workflowqueues --all")],
            {"prepare": 1.0, "cluster create": 2.0, "KEDA": 1.0, "image build": 2.0,
             "images load": 1.0, "helm install": 2.0, "ready": 1.0},
        ),
        # a second run: no cluster is created, the marker repeats, only its first line counts
        (
            [(2.0, "docker build --tag q ."), (5.0, "docker build --tag other .")],
            {"prepare": 2.0, "image build": 8.0},
        ),
        ([], {"prepare": 10.0}),
    ],
)  # fmt: skip
def test_phases_split_the_run_at_the_first_line_of_each(
    lines: list[tuple[float, str]], expected: dict[str, float]
) -> None:
    timings = phases_from_lines(lines, 0.0, 10.0)
    assert timings.seconds == expected
    assert sum(timings.seconds.values()) == 10.0
    assert timings.report().splitlines()[-1].split()[-2] == "10.0"


def test_phase_markers_name_commands_the_makefile_really_runs() -> None:
    commands = "\n".join(offline_plan())
    for marker, phase in PHASE_MARKERS:
        if marker == "Creating cluster":  # printed by kind itself, not by make
            continue
        assert marker in commands, phase
