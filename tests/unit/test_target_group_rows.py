"""Target groups without a server: document version 2 round trip, and group instances in the desired state."""

from __future__ import annotations

import json
import os

import pytest

from openclb import errors
from openclb.domain.models import Listener, LoadBalancer, ProvisioningState, Rule
from openclb.domain.target_groups import TargetGroup, TargetGroupAssociation, TargetGroupInstance
from openclb.engine.spec import TargetSpec
from openclb.reconcile.snapshot import Snapshot
from openclb.resources.certificates.sealing import PrivateKeySealer
from openclb.resources.desired_state import desired_state
from openclb.resources.state.document import AccountState, from_document, to_document
from openclb.resources.state.snapshots import dumps

APP_ID = 1250000000
STAMP = "2026-11-29 10:00:00.000001"
LB = LoadBalancer("lb-0000aaaa", APP_ID, "ap-guangzhou", "web", "OPEN", "127.9.0.1", 1, ProvisioningState.ACTIVE,
                  STAMP)
TCP = Listener("lbl-0000aaaa", APP_ID, "ap-guangzhou", LB.id, "TCP", 80, 0, "", ProvisioningState.ACTIVE, STAMP,
               {"target_type": "TARGETGROUP"})
HTTP = Listener("lbl-0000bbbb", APP_ID, "ap-guangzhou", LB.id, "HTTP", 8080, 0, "", ProvisioningState.ACTIVE, STAMP)
RULE = Rule("loc-0000aaaa", APP_ID, "ap-guangzhou", LB.id, HTTP.id, ("a.test",), "/", STAMP,
            {"target_type": "TARGETGROUP"})
GROUP = TargetGroup("lbtg-0000aaaa", APP_ID, "ap-guangzhou", "g", "vpc-openclb0", 80, STAMP, STAMP)
INSTANCES = (TargetGroupInstance(GROUP.id, "10.0.0.1", 81, 30, STAMP), TargetGroupInstance(GROUP.id, "10.0.0.2", 82, 0, STAMP))
ASSOCIATIONS = (TargetGroupAssociation(GROUP.id, LB.id, TCP.id, "", None, STAMP),
                TargetGroupAssociation(GROUP.id, LB.id, HTTP.id, RULE.id, None, STAMP))


def test_desired_state_group_instances_are_listener_and_rule_targets_with_weights():
    snapshot = Snapshot(LB, (TCP, HTTP), (), (RULE,), {}, ASSOCIATIONS, INSTANCES)
    state = desired_state(snapshot, PrivateKeySealer(os.urandom(32)))
    tcp, http = state.listeners
    wanted = (TargetSpec("10.0.0.1", 81, 30), TargetSpec("10.0.0.2", 82, 0))
    assert tcp.targets == wanted
    assert http.rules[0].targets == wanted


def test_to_document_version_2_target_groups_round_trip_same_text():
    keys = PrivateKeySealer(os.urandom(32))
    state = AccountState((LB,), (TCP, HTTP), (RULE,), (), (), (GROUP,), INSTANCES, ASSOCIATIONS)
    document = to_document(state, keys)
    assert document["Version"] == 2 and document["TargetGroups"][0]["TargetGroupId"] == GROUP.id
    back = from_document(json.loads(dumps(document)), APP_ID, keys)
    assert back == state
    assert dumps(to_document(back, keys)) == dumps(document)


def test_from_document_association_to_other_listener_rule_refused_by_path():
    keys = PrivateKeySealer(os.urandom(32))
    document = to_document(AccountState((LB,), (TCP, HTTP), (RULE,), (), (), (GROUP,), INSTANCES, ASSOCIATIONS), keys)
    document["TargetGroups"][0]["Associations"][0]["LocationId"] = RULE.id
    with pytest.raises(errors.InvalidParameterValue) as caught:
        from_document(document, APP_ID, keys)
    assert "State.TargetGroups.0.Associations.0.LocationId" in caught.value.message
