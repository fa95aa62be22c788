"""The packs are found through the registry's entry points and assemble cleanly."""

from __future__ import annotations

import pytest
from queuefleet_packs.graphs.activities import HostAllowList
from queuefleet_worker.registry import RegistrarContext, RegistryError, assemble, discover

QUEUES = {
    "labs.provisioning.v1": "LabProvisionWorkflow",
    "tasks.approval.v1": "TaskExecutionWorkflow",
    "orders.saga.v1": "OrderSagaWorkflow",
    "graphs.v1": "GraphWorkflow",
}
# The stateful packs need their database configured; registering never connects to it.
DATABASES = {
    f"QUEUEFLEET_{pack}_DATABASE": f"postgresql://u:p@127.0.0.1:5432/{pack.lower()}"
    for pack in ("LABS", "APPROVAL", "SAGA")
}


@pytest.mark.parametrize(("queue", "workflow"), QUEUES.items())
def test_each_pack_serves_its_own_queue(queue: str, workflow: str) -> None:
    registrars = discover()
    context = RegistrarContext(task_queue=queue, namespace="default", environ=DATABASES)
    contribution = assemble(registrars, context)
    assert [w.__temporal_workflow_definition.name for w in contribution.workflows] == [workflow]  # type: ignore[attr-defined]
    assert contribution.activities


def test_labs_adapter_settings_are_checked() -> None:
    context = RegistrarContext(
        task_queue="labs.provisioning.v1",
        namespace="default",
        environ={
            **DATABASES,
            "QUEUEFLEET_LABS_ADAPTER": "http",
            "QUEUEFLEET_LABS_BASE_URL": "ftp://x",
        },
    )
    with pytest.raises(RegistryError, match="QUEUEFLEET_LABS_BASE_URL must be an http"):
        assemble(discover(), context)
    unknown = RegistrarContext(
        task_queue="labs.provisioning.v1",
        namespace="default",
        environ={**DATABASES, "QUEUEFLEET_LABS_ADAPTER": "smtp"},
    )
    with pytest.raises(
        RegistryError, match="QUEUEFLEET_LABS_ADAPTER must be 'in-process' or 'http'"
    ):
        assemble(discover(), unknown)


@pytest.mark.parametrize(
    ("entries", "url", "allowed"),
    [
        ("api.example.com", "https://api.example.com/x", True),
        # an entry without a port allows the scheme's default port only
        ("api.example.com", "http://api.example.com:8080/x", False),
        ("api.example.com", "http://api.example.com:80/x", True),
        ("api.example.com", "https://api.example.com:443/x", True),
        ("api.example.com", "http://[api.example.com/x", False),
        ("example.com", "https://\uff45xample.com/", True),  # fullwidth e: IDNA maps it
        ("example.com", "https://ex\uff41mple.com\uff0fevil/", False),
        ("api.example.com:443", "http://api.example.com/x", False),
        ("api.example.com:443", "https://api.example.com/x", True),
        ("*.example.com", "https://a.b.example.com/", True),
        ("*.example.com", "https://example.com.evil.net/", False),
        ("*.example.com", "https://evilexample.com/", False),
        ("127.0.0.1:8080", "http://127.0.0.1:8081/", False),
        ("127.0.0.1:8080", "http://127.0.0.1:8080/", True),
        ("", "http://127.0.0.1/", False),
        ("example.com", "file:///etc/passwd", False),
        ("example.com", "http://user@example.com@evil.net/", False),
        ("[::1]:9000", "http://[::1]:9000/", True),
    ],
)
def test_host_allow_list(entries: str, url: str, allowed: bool) -> None:
    assert HostAllowList.parse(entries).allows(url) is allowed


@pytest.mark.parametrize(
    ("queue", "variable"),
    [
        ("labs.provisioning.v1", "QUEUEFLEET_LABS_DATABASE"),
        ("tasks.approval.v1", "QUEUEFLEET_APPROVAL_DATABASE"),
        ("orders.saga.v1", "QUEUEFLEET_SAGA_DATABASE"),
    ],
)
def test_stateful_packs_name_their_missing_database_variable(queue: str, variable: str) -> None:
    environ = {k: v for k, v in DATABASES.items() if k != variable}
    with pytest.raises(RegistryError) as caught:
        assemble(
            discover(), RegistrarContext(task_queue=queue, namespace="default", environ=environ)
        )
    assert f"needs PostgreSQL: set {variable} to a libpq URI" in str(caught.value)
    assert "\n" not in str(caught.value)
    bad = {**DATABASES, variable: "mysql://x"}
    with pytest.raises(RegistryError, match=f"{variable} must be a libpq URI"):
        assemble(discover(), RegistrarContext(task_queue=queue, namespace="default", environ=bad))
