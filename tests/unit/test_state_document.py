"""The state document without a server: rows → document → rows, sealed keys, and refusals by path."""

from __future__ import annotations

import copy
import json
import os

import pytest

from clb_support import make_pki
from openclb import errors
from openclb.domain.models import Certificate, Listener, LoadBalancer, ProvisioningState, Rule, Target
from openclb.resources.certificates.sealing import PrivateKeySealer
from openclb.resources.state.document import AccountState, from_document, to_document
from openclb.resources.state.snapshots import dumps, plan_import

APP_ID = 1250000000
STAMP = "2026-11-29 10:00:00.000001"


def sealer() -> PrivateKeySealer:
    return PrivateKeySealer(os.urandom(32))


def account_state(keys: PrivateKeySealer) -> AccountState:
    pki = make_pki()
    lb = LoadBalancer("lb-0000aaaa", APP_ID, "ap-guangzhou", "web", "OPEN", "127.9.0.1", 1,
                      ProvisioningState.ACTIVE, STAMP, settings={"vpc_id": "vpc-1"})
    tcp = Listener("lbl-0000aaaa", APP_ID, "ap-guangzhou", lb.id, "TCP", 80, 0, "", ProvisioningState.ACTIVE, STAMP,
                   {"scheduler": "LEAST_CONN"})
    https = Listener("lbl-0000bbbb", APP_ID, "ap-guangzhou", lb.id, "HTTPS", 443, 0, "secure",
                     ProvisioningState.ACTIVE, STAMP,
                     {"certificate": {"ssl_mode": "UNIDIRECTIONAL", "cert_id": "cert-0000aaaa"}})
    rule = Rule("loc-0000aaaa", APP_ID, "ap-guangzhou", lb.id, https.id, ("rsa.example.com",), "/", STAMP)
    targets = (Target(tcp.id, "10.0.0.1", 8080, lb.id, registered_at=STAMP),
               Target(https.id, "10.0.0.2", 8443, lb.id, weight=50, location_id=rule.id, registered_at=STAMP))
    certificate = Certificate("cert-0000aaaa", APP_ID, "rsa", "SVR", pki.rsa.cert,
                              keys.seal("cert-0000aaaa", pki.rsa.key), "ab" * 32, "RSA", "2027-01-01", STAMP)
    return AccountState((lb,), (tcp, https), (rule,), targets, (certificate,))


def test_to_document_from_document_same_rows_and_same_text():
    keys = sealer()
    state = account_state(keys)

    document = to_document(state, keys)
    back = from_document(json.loads(dumps(document)), APP_ID, keys)

    assert back == state
    assert dumps(to_document(back, keys)) == dumps(document)
    assert document["MasterKeyId"] == keys.key_id


def test_to_document_include_private_keys_clear_pem_imports_under_another_key():
    keys, other = sealer(), sealer()
    document = to_document(account_state(keys), keys, include_private_keys=True)

    back = from_document(document, APP_ID, other)

    assert document["MasterKeyId"] is None
    assert document["Certificates"][0]["PrivateKey"] == {"Pem": make_pki().rsa.key}
    assert other.open("cert-0000aaaa", back.certificates[0].key_pem) == make_pki().rsa.key


def test_from_document_sealed_keys_other_master_key_failed_operation():
    keys = sealer()
    document = to_document(account_state(keys), keys)

    with pytest.raises(errors.FailedOperation) as caught:
        from_document(document, APP_ID, sealer())

    assert keys.key_id in caught.value.message


def _document() -> dict:
    keys = sealer()
    return to_document(account_state(keys), keys, include_private_keys=True)


@pytest.mark.parametrize("change, member", [
    (lambda d: d.update(Format="other"), "State.Format"),
    (lambda d: d.pop("Certificates"), "State.Certificates"),
    (lambda d: d["LoadBalancers"][0].update(LoadBalancerId="LB-1"), "State.LoadBalancers.0.LoadBalancerId"),
    (lambda d: d["LoadBalancers"][0].update(LoadBalancerType="PUBLIC"), "State.LoadBalancers.0.LoadBalancerType"),
    (lambda d: d["LoadBalancers"][0]["Listeners"][0].update(Protocol="SCTP"),
     "State.LoadBalancers.0.Listeners.0.Protocol"),
    (lambda d: d["LoadBalancers"][0]["Listeners"][0].update(EndPort=10), "State.LoadBalancers.0.Listeners.0.EndPort"),
    (lambda d: d["LoadBalancers"][0]["Listeners"][0]["Rules"].append({}), "State.LoadBalancers.0.Listeners.0.Rules"),
    (lambda d: d["LoadBalancers"][0]["Listeners"][1]["Rules"][0].update(Domains=[]),
     "State.LoadBalancers.0.Listeners.1.Rules.0.Domains"),
    (lambda d: d["LoadBalancers"][0]["Listeners"][0]["Targets"].append(
        copy.deepcopy(d["LoadBalancers"][0]["Listeners"][0]["Targets"][0])),
     "State.LoadBalancers.0.Listeners.0.Targets.1"),
    (lambda d: d["LoadBalancers"][0].update(CreateTime="yesterday"), "State.LoadBalancers.0.CreateTime"),
    (lambda d: d["Certificates"][0].update(PrivateKey={"Pem": "x", "Sealed": "y"}), "State.Certificates.0.PrivateKey"),
    (lambda d: d["LoadBalancers"].append(copy.deepcopy(d["LoadBalancers"][0])), "State.LoadBalancers"),
])
def test_from_document_malformed_member_invalid_parameter_value_names_it(change, member):
    document = _document()
    change(document)

    with pytest.raises(errors.InvalidParameterValue) as caught:
        from_document(document, APP_ID, sealer())

    assert f"`{member}" in caught.value.message, caught.value.message


def test_plan_import_certificate_missing_from_document_refused():
    document = _document()
    document["Certificates"] = []

    with pytest.raises(errors.InvalidParameterValue) as caught:
        plan_import(document, APP_ID, sealer())

    assert "cert-0000aaaa" in caught.value.message


def test_plan_import_settings_engine_cannot_read_refused():
    document = _document()
    document["LoadBalancers"][0]["Listeners"][0]["Settings"] = {"health_check": "not an object"}

    with pytest.raises(errors.InvalidParameterValue) as caught:
        plan_import(document, APP_ID, sealer())

    assert "`State.LoadBalancers.0`" in caught.value.message
