"""Security groups, block lists and stopped listeners in state snapshots, and gone after ResetState.

Export → ResetState (nothing left: no CLB, no group, ports closed) → ImportState: the same group
ids, the same bindings, block list and stop state, enforced again on real traffic; exporting
again gives the same document.
"""

from __future__ import annotations

import pytest

from admin_support import admin, admin_client, export_text, import_state
from admission_support import tcp_outcome
from backends import NamedBackend
from clb_support import checked, create_clb_with_vip, create_listener, register, write
from conftest import sdk_client
from services_support import service_checked, service_client, typed_call

pytestmark = [pytest.mark.postgres]

ALLOWED, DROPPED, BLOCKED = "127.0.0.2", "127.0.0.3", "127.0.0.4"


def test_import_state_security_groups_block_list_and_stop_survive_reset_and_are_enforced(server):
    client, vpc, admin_api = sdk_client(server.url), service_client(server.url, "vpc"), admin_client(server.url)
    backend = NamedBackend("kept")
    try:
        lb_id, vip = create_clb_with_vip(client)
        served, stopped = create_listener(client, lb_id, "TCP", [9800, 9801], HealthCheck={"HealthSwitch": 0})
        register(client, lb_id, served, [backend.port])
        register(client, lb_id, stopped, [backend.port])
        created = typed_call(vpc, "CreateSecurityGroup", GroupName="g", GroupDescription="d")
        group_id = created.SecurityGroup.SecurityGroupId
        service_checked(vpc, "CreateSecurityGroupPolicies", {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {
            "Ingress": [{"Protocol": "TCP", "Port": "all", "CidrBlock": "127.0.0.0/8", "Action": "ACCEPT"}]}})
        service_checked(vpc, "CreateSecurityGroupPolicies", {"SecurityGroupId": group_id, "SecurityGroupPolicySet": {
            "Ingress": [{"Protocol": "ALL", "Port": "all", "CidrBlock": f"{DROPPED}/32", "Action": "DROP",
                         "PolicyIndex": 0}]}})
        write(client, "SetLoadBalancerSecurityGroups", {"LoadBalancerId": lb_id, "SecurityGroups": [group_id]})
        write(client, "ModifyBlockIPList", {"LoadBalancerIds": [lb_id], "Type": "add_blocked",
                                            "ClientIPField": "X-Client", "BlockIPList": [BLOCKED]})
        write(client, "SetLoadBalancerStartStatus", {"LoadBalancerId": lb_id, "OperationType": "Stop",
                                                     "ListenerIds": [stopped]})
        exported = export_text(admin_api)

        admin(admin_api, "ResetState")
        after_reset = (service_checked(vpc, "DescribeSecurityGroups")["TotalCount"], tcp_outcome(vip, 9800, ALLOWED))

        outcome = import_state(admin_api, client, exported)
        traffic = [tcp_outcome(vip, 9800, source) for source in (ALLOWED, DROPPED, BLOCKED)] + [
            tcp_outcome(vip, 9801, ALLOWED)]
        again = export_text(admin_api)
        lb = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"][0]
    finally:
        backend.close()

    assert after_reset == (0, "refused")
    assert outcome["status"]["Status"] == 0
    assert traffic[0] == b"kept" and traffic[1] in ("closed", "reset") and traffic[2] == "reset"
    assert traffic[3] == "refused"
    assert lb["SecureGroups"] == [group_id]
    assert again == exported
