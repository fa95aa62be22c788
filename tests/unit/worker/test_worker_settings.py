"""Worker settings: defaults, flags over environment, and every invalid value's message."""

from __future__ import annotations

from pathlib import Path

import pytest
from queuefleet_worker import contract
from queuefleet_worker.runtime import worker_options
from queuefleet_worker.settings import SettingsError, load_settings
from queuefleet_worker.tracing import tracing_settings

QUEUE = {"QUEUEFLEET_TASK_QUEUE": "orders"}


def test_defaults_with_only_a_task_queue() -> None:
    settings = load_settings(QUEUE)
    assert settings.task_queue == "orders"
    assert settings.address == contract.DEFAULT_TEMPORAL_ADDRESS
    assert settings.namespace == "default"
    assert settings.connect_config == {"target_host": "localhost:7233", "namespace": "default"}
    assert settings.registrars == ()
    assert settings.graceful_shutdown_seconds == contract.DEFAULT_GRACEFUL_SHUTDOWN_SECONDS
    assert (settings.health_port, settings.metrics_port) == (8080, 9464)
    assert not settings.versioned
    assert worker_options(settings).keys() == {"graceful_shutdown_timeout"}


def test_temporal_connection_comes_from_envconfig() -> None:
    settings = load_settings(
        {
            **QUEUE,
            "TEMPORAL_ADDRESS": "frontend.temporal:7233",
            "TEMPORAL_NAMESPACE": "payments",
            "TEMPORAL_API_KEY": "secret-key",
            "TEMPORAL_GRPC_META_X_TEAM": "fleet",
        }
    )
    assert settings.address == "frontend.temporal:7233"
    assert settings.namespace == "payments"
    assert settings.connect_config["api_key"] == "secret-key"
    assert settings.connect_config["tls"] is True  # an API key implies TLS
    assert settings.connect_config["rpc_metadata"] == {"x-team": "fleet"}
    assert "secret-key" not in repr(settings)


def test_profile_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.prod]\naddress = "prod.temporal:7233"\nnamespace = "prod"\n')
    settings = load_settings(
        {**QUEUE, "TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "prod"}
    )
    assert (settings.address, settings.namespace) == ("prod.temporal:7233", "prod")


def test_mutual_tls_files(tmp_path: Path) -> None:
    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_text(f"-----BEGIN {name}-----\n")
    settings = load_settings(
        {
            **QUEUE,
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "client.pem"),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "client.key"),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "ca.pem"),
            "TEMPORAL_TLS_SERVER_NAME": "temporal.internal",
        }
    )
    tls = settings.connect_config["tls"]
    assert tls.client_cert == b"-----BEGIN client.pem-----\n"
    assert tls.domain == "temporal.internal"


def test_flags_override_the_environment() -> None:
    settings = load_settings(
        {**QUEUE, "QUEUEFLEET_REGISTRARS": "a:b", "QUEUEFLEET_HEALTH_PORT": "1000"},
        task_queue="invoices",
        registrars=["pkg.mod:registrar", "other:thing"],
        health_port=2000,
    )
    assert settings.task_queue == "invoices"
    assert settings.registrars == ("pkg.mod:registrar", "other:thing")
    assert settings.health_port == 2000


def test_registrars_from_the_environment_are_comma_separated() -> None:
    settings = load_settings({**QUEUE, "QUEUEFLEET_REGISTRARS": " a.b:c , d:e ,"})
    assert settings.registrars == ("a.b:c", "d:e")


def test_versioned_worker_options() -> None:
    settings = load_settings(
        {
            **QUEUE,
            "QUEUEFLEET_DEPLOYMENT_NAME": "orders",
            "QUEUEFLEET_BUILD_ID": "2024-06-01.1",
            "QUEUEFLEET_DEFAULT_VERSIONING_BEHAVIOR": "pinned",
        }
    )
    config = worker_options(settings)["deployment_config"]
    assert config.version.deployment_name == "orders"
    assert config.version.build_id == "2024-06-01.1"
    assert config.use_worker_versioning
    assert config.default_versioning_behavior.name == "PINNED"


def test_resource_based_tuner_caps_slots_with_the_max_settings() -> None:
    settings = load_settings(
        {
            **QUEUE,
            "QUEUEFLEET_TUNER": "Resource-Based",
            "QUEUEFLEET_TUNER_TARGET_CPU_USAGE": "0.7",
            "QUEUEFLEET_MAX_CONCURRENT_ACTIVITIES": "20",
            "QUEUEFLEET_POLLER_AUTOSCALING": "TRUE",
            "QUEUEFLEET_ACTIVITY_TASK_POLLERS": "3",
        }
    )
    options = worker_options(settings)
    assert "max_concurrent_activities" not in options
    assert options["tuner"]._get_activities_max() == 20
    assert options["activity_task_poller_behavior"].maximum == 3
    assert options["activity_task_poller_behavior"].initial == 3
    assert options["workflow_task_poller_behavior"].maximum == 100


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "QUEUEFLEET_TASK_QUEUE (or --task-queue) is required"),
        (
            {"QUEUEFLEET_MAX_CONCURRENT_ACTIVITIES": "many"},
            "QUEUEFLEET_MAX_CONCURRENT_ACTIVITIES must be an integer >= 1, got 'many'",
        ),
        (
            {"QUEUEFLEET_MAX_CONCURRENT_ACTIVITIES": "0"},
            "QUEUEFLEET_MAX_CONCURRENT_ACTIVITIES must be an integer >= 1",
        ),
        (
            {"QUEUEFLEET_MAX_CONCURRENT_WORKFLOW_TASKS": "1"},
            "QUEUEFLEET_MAX_CONCURRENT_WORKFLOW_TASKS must be an integer >= 2",
        ),
        (
            {"QUEUEFLEET_WORKFLOW_TASK_POLLERS": "1"},
            "QUEUEFLEET_WORKFLOW_TASK_POLLERS must be an integer >= 2",
        ),
        (
            {"QUEUEFLEET_ACTIVITY_TASK_POLLERS": "-3"},
            "QUEUEFLEET_ACTIVITY_TASK_POLLERS must be an integer >= 1",
        ),
        (
            {"QUEUEFLEET_POLLER_AUTOSCALING": "yes"},
            "QUEUEFLEET_POLLER_AUTOSCALING must be true or false",
        ),
        ({"QUEUEFLEET_TUNER": "magic"}, "QUEUEFLEET_TUNER must be one of fixed, resource-based"),
        (
            {"QUEUEFLEET_TUNER_TARGET_MEMORY_USAGE": "80%"},
            "QUEUEFLEET_TUNER_TARGET_MEMORY_USAGE must be a number in (0, 1]",
        ),
        (
            {"QUEUEFLEET_TUNER_TARGET_CPU_USAGE": "1.5"},
            "QUEUEFLEET_TUNER_TARGET_CPU_USAGE must be a number in (0, 1]",
        ),
        (
            {"QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS": "-1"},
            "QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS must be an integer between 0 and 86400",
        ),
        (
            {"QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS": "99999999999999999999"},
            "QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS must be an integer between 0 and 86400",
        ),
        (
            {"QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS": "30s"},
            "QUEUEFLEET_GRACEFUL_SHUTDOWN_SECONDS must be an integer between 0 and 86400, "
            "got '30s'",
        ),
        (
            {"QUEUEFLEET_DEPLOYMENT_NAME": "orders"},
            "QUEUEFLEET_DEPLOYMENT_NAME and QUEUEFLEET_BUILD_ID must be set together",
        ),
        (
            {"QUEUEFLEET_BUILD_ID": "abc"},
            "QUEUEFLEET_DEPLOYMENT_NAME and QUEUEFLEET_BUILD_ID must be set together",
        ),
        (
            {"QUEUEFLEET_DEPLOYMENT_NAME": "a.b", "QUEUEFLEET_BUILD_ID": "1"},
            "QUEUEFLEET_DEPLOYMENT_NAME must not contain '.'",
        ),
        (
            {"QUEUEFLEET_DEFAULT_VERSIONING_BEHAVIOR": "sticky"},
            "QUEUEFLEET_DEFAULT_VERSIONING_BEHAVIOR must be one of auto-upgrade, pinned",
        ),
        (
            {"QUEUEFLEET_HEALTH_PORT": "70000"},
            "QUEUEFLEET_HEALTH_PORT must be an integer between 1 and 65535",
        ),
        (
            {"QUEUEFLEET_METRICS_PORT": "http"},
            "QUEUEFLEET_METRICS_PORT must be an integer between 1 and 65535",
        ),
        (
            {"QUEUEFLEET_HEALTH_PORT": "9000", "QUEUEFLEET_METRICS_PORT": "9000"},
            "QUEUEFLEET_HEALTH_PORT and QUEUEFLEET_METRICS_PORT must differ",
        ),
        ({"QUEUEFLEET_LOG_FORMAT": "xml"}, "QUEUEFLEET_LOG_FORMAT must be one of text, json"),
        (
            {"QUEUEFLEET_LOG_LEVEL": "loud"},
            "QUEUEFLEET_LOG_LEVEL must be one of debug, info, warning, error",
        ),
        ({"TEMPORAL_ADDRESS": "temporal-frontend"}, "TEMPORAL_ADDRESS must be host:port"),
        ({"TEMPORAL_ADDRESS": "temporal:http"}, "TEMPORAL_ADDRESS must be host:port"),
        ({"TEMPORAL_TLS": "maybe"}, "TEMPORAL_TLS must be true or false"),
        (
            {"TEMPORAL_PROFILE": "missing"},
            "TEMPORAL_PROFILE: cannot load the profile: Profile 'missing' not found",
        ),
        (
            {"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/client.pem"},
            "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together",
        ),
        (
            {
                "TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/c.pem",
                "TEMPORAL_TLS_CLIENT_KEY_PATH": "/nonexistent/c.key",
            },
            "TEMPORAL_TLS_CLIENT_CERT_PATH must name a readable PEM file",
        ),
        (
            {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/nonexistent/ca.pem"},
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH must name a readable PEM file",
        ),
    ],
)
def test_invalid_environment_names_the_variable(env: dict[str, str], expected: str) -> None:
    base = {} if env == {} else QUEUE
    with pytest.raises(SettingsError) as error:
        load_settings({**base, **env})
    assert expected in str(error.value)


def test_a_broken_config_file_names_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text("address = [\n")
    with pytest.raises(SettingsError, match="TEMPORAL_CONFIG_FILE: cannot load the profile"):
        load_settings({**QUEUE, "TEMPORAL_CONFIG_FILE": str(config)})


def test_an_invalid_flag_is_named_instead_of_the_variable() -> None:
    with pytest.raises(
        SettingsError, match="--metrics-port must be an integer between 1 and 65535"
    ):
        load_settings(QUEUE, metrics_port=0)


@pytest.mark.parametrize(
    ("env", "protocol"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, None),  # no endpoint: tracing stays off
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, "grpc"),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            "http/protobuf",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_SDK_DISABLED": "true"},
            None,
        ),
    ],
)
def test_tracing_is_on_only_with_an_otlp_endpoint(
    env: dict[str, str], protocol: str | None
) -> None:
    settings = tracing_settings(env)
    assert (settings.protocol if settings else None) == protocol


def test_an_unknown_otlp_protocol_names_the_variable() -> None:
    with pytest.raises(
        SettingsError, match="OTEL_EXPORTER_OTLP_PROTOCOL must be one of grpc, http/protobuf"
    ):
        tracing_settings(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "udp"}
        )


def test_termination_grace_period_covers_the_drain() -> None:
    assert contract.termination_grace_period_seconds(30) > 30


@pytest.mark.parametrize(
    "address",
    [
        "a b:7233",
        "http://[x",
        "temporal_frontend:7233",
        "-bad.example:7233",
        "[::1:7233",
        "[not-ipv6]:7233",
        "fr\u00e9ontend:7233",
        "host:0",
        "host:99999",
        ":7233",
        "host",
    ],
)
def test_an_unusable_temporal_address_fails_fast_in_one_line(address: str) -> None:
    with pytest.raises(SettingsError, match="TEMPORAL_ADDRESS must be host:port"):
        load_settings({**QUEUE, "TEMPORAL_ADDRESS": address})


@pytest.mark.parametrize(
    "address",
    [
        "frontend.temporal.svc.cluster.local:7233",
        "127.0.0.1:7233",
        "[::1]:7233",
        "ns.a1b2c.tmprl.cloud:7233",
        "xn--frontend-9xa.example:443",
    ],
)
def test_usable_temporal_addresses_are_accepted(address: str) -> None:
    assert load_settings({**QUEUE, "TEMPORAL_ADDRESS": address}).address == address
