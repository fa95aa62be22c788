"""The test bed's Docker engine pieces that need no engine: the capability wrapper's spec
edits, when it is needed, the daemon configuration, and the egress guard's rule."""

from __future__ import annotations

import json
from pathlib import Path

from testbed import docker
from testbed.oci_runtime_wrapper import drop_capability, files_to_rewrite, rewrite_file

FULL_SET = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]


def test_the_spec_of_a_created_container_loses_cap_sys_resource_only(tmp_path: Path) -> None:
    spec = {
        "ociVersion": "1.0.2",
        "process": {
            "args": ["/sbin/init"],
            "capabilities": {
                name: list(FULL_SET) for name in ("bounding", "effective", "permitted")
            },
        },
    }
    (tmp_path / "config.json").write_text(json.dumps(spec))
    argv = ["--root", "/run/runc", "create", "--bundle", str(tmp_path), "--pid-file", "p", "id1"]
    [(path, is_spec)] = files_to_rewrite(argv, Path("/elsewhere"))
    rewrite_file(path, spec=is_spec)
    edited = json.loads((tmp_path / "config.json").read_text())
    for values in edited["process"]["capabilities"].values():
        assert values == ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
    assert edited["process"]["args"] == ["/sbin/init"]


def test_an_exec_process_file_is_edited_and_the_bundle_defaults_to_the_cwd(tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": {"bounding": FULL_SET}}))
    [(path, is_spec)] = files_to_rewrite(["exec", "--process", str(process), "id1"], tmp_path)
    rewrite_file(path, spec=is_spec)
    assert "CAP_SYS_RESOURCE" not in json.loads(process.read_text())["capabilities"]["bounding"]
    assert files_to_rewrite(["run", "id2"], tmp_path) == [(tmp_path / "config.json", True)]
    assert files_to_rewrite(["delete", "id1"], tmp_path) == []


def test_drop_capability_reports_whether_anything_changed() -> None:
    caps = {"bounding": ["CAP_CHOWN"]}
    assert drop_capability(caps) is False
    assert caps == {"bounding": ["CAP_CHOWN"]}


def test_the_wrapper_is_needed_only_without_cap_sys_resource_in_the_bounding_set() -> None:
    assert docker.needs_capability_wrapper("Name:\tinit\nCapBnd:\t000001fffeffffff\n") is True
    assert docker.needs_capability_wrapper("Name:\tinit\nCapBnd:\t000001ffffffffff\n") is False


def test_daemon_config_registers_the_wrapper_as_default_runtime_only_when_given(
    tmp_path: Path,
) -> None:
    assert docker.daemon_config(None) == {}
    wrapper = tmp_path / "oci-runtime-wrapper"
    config = docker.daemon_config(wrapper)
    assert config["default-runtime"] in config["runtimes"]  # type: ignore[operator]
    assert config["runtimes"] == {config["default-runtime"]: {"path": str(wrapper)}}  # type: ignore[index]


def test_the_egress_guard_rejects_whatever_leaves_the_kind_bridge() -> None:
    rule = docker.egress_guard_rule()
    assert rule[:5] == ["-i", docker.KIND_BRIDGE, "!", "-o", docker.KIND_BRIDGE]
    assert rule[rule.index("-j") + 1] == "REJECT"
