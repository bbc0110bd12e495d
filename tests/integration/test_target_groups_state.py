"""Target groups in state snapshots (document version 2) and in ResetState.

An exported account carries its groups with their instances and associations; imported into
an empty server they serve the same traffic under the same ids, and the export reads back
byte for byte. A version-1 document (no groups) still imports. ResetState removes groups too;
a restart serves group listeners again from the store.
"""

from __future__ import annotations

import json

import pytest

from admin_support import admin, admin_client, admin_refused, export_document, export_text, import_state
from backends import NamedBackend, first_bytes
from clb_support import checked, create_clb_with_vip, create_listener
from conftest import make_settings, sdk_client, start_server
from target_group_support import associate, create_group, register_instances

pytestmark = [pytest.mark.postgres, pytest.mark.haproxy]


def _grouped_listener(client, port: int, backend: NamedBackend) -> tuple[str, str, str]:
    group_id = create_group(client, "snap", Port=backend.port)
    register_instances(client, group_id, [backend.port], weight=20)
    lb_id, vip = create_clb_with_vip(client)
    (listener_id,) = create_listener(client, lb_id, "TCP", [port], TargetType="TARGETGROUP")
    associate(client, group_id, lb_id, listener_id)
    return group_id, lb_id, vip


def test_import_state_with_target_groups_serves_group_traffic_and_exports_same_text(server_factory):
    backend = NamedBackend("grouped")
    try:
        source = server_factory()
        group_id, lb_id, vip = _grouped_listener(sdk_client(source.url), 9101, backend)
        assert first_bytes(vip, 9101) == b"grouped"
        document = export_document(admin_client(source.url))
        assert document["Version"] == 2
        (entry,) = document["TargetGroups"]
        assert (entry["TargetGroupId"], entry["Instances"][0]["Weight"]) == (group_id, 20)
        assert entry["Associations"][0]["LoadBalancerId"] == lb_id
        text = export_text(admin_client(source.url))
        source.stop()

        restored = server_factory()
        client = sdk_client(restored.url)
        result = import_state(admin_client(restored.url), client, text)
        assert result["status"]["Status"] == 0, result
        assert first_bytes(vip, 9101) == b"grouped"
        (found,) = checked(client, "DescribeTargetGroups", {"TargetGroupIds": [group_id]})["TargetGroupSet"]
        assert [item["LoadBalancerId"] for item in found["AssociatedRule"]] == [lb_id]
        assert export_text(admin_client(restored.url)) == text
    finally:
        backend.close()


def test_restart_target_group_listener_served_again_from_the_store(tmp_path):
    backend = NamedBackend("restarted")
    settings = make_settings(tmp_path)
    running = start_server(settings)
    try:
        _, _, vip = _grouped_listener(sdk_client(running.url), 9103, backend)
        assert first_bytes(vip, 9103) == b"restarted"
        running.stop()
        running = start_server(settings)
        assert first_bytes(vip, 9103) == b"restarted"
    finally:
        running.stop()
        backend.close()


def test_import_state_version_1_document_without_target_groups_imported(server):
    document = {"Format": "openclb-state", "Version": 1, "LoadBalancers": [], "Certificates": []}
    result = import_state(admin_client(server.url), sdk_client(server.url), json.dumps(document))
    assert result["status"]["Status"] == 0, result


def test_import_state_association_to_unknown_listener_refused_naming_member(server):
    document = {"Format": "openclb-state", "Version": 2, "LoadBalancers": [], "Certificates": [], "TargetGroups": [{
        "TargetGroupId": "lbtg-0a1b2c3d", "Region": "ap-guangzhou", "TargetGroupName": "x", "VpcId": "vpc-openclb0",
        "Port": 80, "CreateTime": "2026-11-29 10:00:00", "UpdateTime": "2026-11-29 10:00:00", "Settings": {},
        "Instances": [], "Associations": [{"LoadBalancerId": "lb-0a1b2c3d", "ListenerId": "lbl-0a1b2c3d",
                                           "LocationId": "", "Weight": None, "CreateTime": "2026-11-29 10:00:00"}]}]}
    message = admin_refused(admin_client(server.url), "ImportState", {"State": json.dumps(document)},
                            "InvalidParameterValue")
    assert "State.TargetGroups.0.Associations.0.ListenerId" in message
    assert checked(sdk_client(server.url), "DescribeTargetGroups", {})["TargetGroupSet"] == []


def test_reset_state_removes_target_groups_and_their_associations(server):
    client = sdk_client(server.url)
    backend = NamedBackend("reset")
    try:
        group_id, _, vip = _grouped_listener(client, 9102, backend)
        create_group(client, "loose")
        admin(admin_client(server.url), "ResetState")
        assert checked(client, "DescribeTargetGroups", {})["TargetGroupSet"] == []
        assert checked(client, "DescribeTargetGroupInstances", {
            "Filters": [{"Name": "TargetGroupId", "Values": [group_id]}]})["TotalCount"] == 0
        create_group(client, "again")
    finally:
        backend.close()
