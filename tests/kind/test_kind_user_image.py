"""The README's "Adding your own workflows", followed as written, on the KIND cluster.

The Dockerfile, the build-and-load command and the WorkflowQueue come out of README.md
itself, so the README cannot drift from what works. Three things are filled in: the
package is tests/fixtures/sample_registrar_pkg (so the queue's task queue and registrar
are that package's), the README's FROM names our released image, which here is the image
`make dev-bounce` just built from this tree, and kind is the pinned one with this run's
cluster name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbed.kind import (
    ROOT,
    KindRelease,
    execute_workflow,
    make_environment,
    make_variable,
)

FIXTURE = ROOT / "tests" / "fixtures" / "sample_registrar_pkg"
SAMPLE_TASK_QUEUE = "sample-greetings"
SAMPLE_REGISTRAR = "queuefleet_sample_registrar:SampleRegistrar"


def readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def fenced(section: str, language: str) -> str:
    """The one ```LANGUAGE block of the section, without its indentation."""
    blocks = re.findall(rf"^( *)```{language}\n(.*?)^ *```", section, re.M | re.S)
    assert len(blocks) == 1, f"expected one {language} block, found {len(blocks)}"
    indent, body = blocks[0]
    return "".join(line.removeprefix(indent) + "\n" for line in body.splitlines())


def build_and_load_command(section: str) -> str:
    (command,) = re.findall(r"`(docker build [^`]+ && kind load docker-image [^`]+)`", section)
    return str(command)


@pytest.fixture
def user_queue(kind_release: KindRelease) -> Iterator[dict[str, object]]:
    """The README's WorkflowQueue for the sample package; deleted (and its pods gone) after."""
    queue = yaml.safe_load(fenced(readme_section("Adding your own workflows"), "yaml"))
    queue["metadata"]["name"] = "sample"
    queue["spec"]["taskQueue"] = SAMPLE_TASK_QUEUE
    queue["spec"]["worker"]["registrars"] = [SAMPLE_REGISTRAR]
    yield queue
    name = queue["metadata"]["name"]
    kind_release.kubectl(
        "--namespace", kind_release.namespace, "delete", "workflowqueue", name,
        "--ignore-not-found", "--wait=true", "--timeout=120s",
    )  # fmt: skip
    kind_release.kubectl(
        "--namespace", kind_release.namespace, "wait", "pods", "--for=delete",
        "-l", f"app.kubernetes.io/instance={name}", "--timeout=120s",
    )  # fmt: skip


def test_an_image_built_from_ours_runs_its_own_workflows(
    kind_release: KindRelease, frontend: str, user_queue: dict[str, object], tmp_path: Path
) -> None:
    section = readme_section("Adding your own workflows")
    dockerfile = fenced(section, "dockerfile")
    (base,) = re.findall(r"^FROM (\S+)$", dockerfile, re.M)
    docker = shutil.which("docker")
    assert docker, "docker CLI not on PATH"
    subprocess.run([docker, "tag", kind_release.image, base], check=True, timeout=60)

    context = tmp_path / "my-workflows"
    shutil.copytree(FIXTURE, context)
    (context / "Dockerfile").write_text(dockerfile)
    kind = make_variable("KIND")
    command = build_and_load_command(section)
    command = command.replace("kind load", f"{kind} load").replace(
        "--name queuefleet", f"--name {kind_release.name}"
    )
    built = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=context,
        env=make_environment(kind_release.cluster.kubeconfig),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, f"{command}\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"

    kind_release.kubectl(
        "--namespace", kind_release.namespace, "apply", "-f", "-", stdin=yaml.safe_dump(user_queue)
    )
    # minReplicas 0 as in the README: the backlog of this workflow makes KEDA start a worker.
    run = execute_workflow(
        frontend, task_queue=SAMPLE_TASK_QUEUE, workflow_type="SampleGreeting", payload="kind"
    )
    assert run["status"] == "COMPLETED", run
    assert run["result"] == "hello from the sample package, kind"
    images = kind_release.kubectl(
        "--namespace", kind_release.namespace, "get", "pods", "-l",
        "app.kubernetes.io/instance=sample", "-o", "jsonpath={.items[*].spec.containers[*].image}",
    ).stdout.split()  # fmt: skip
    assert images, "the workflow completed, but the queue has no worker pod"
    assert set(images) == {"my-workflows:dev"}
