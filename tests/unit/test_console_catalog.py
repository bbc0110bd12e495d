"""The console's catalog: every served action with the spec's structure; prose only from tccli."""

from __future__ import annotations

from openclb.api import admin, spec
from openclb.console import catalog, docs_text


def _service(document, name):
    return next(s for s in document["services"] if s["service"] == name)


def test_describe_all_every_served_service_and_action_listed():
    document = catalog.describe_all()

    for name in spec.SERVICE_NAMES:
        assert {a["name"] for a in _service(document, name)["actions"]} == set(spec.catalog(name).action_names)
    assert {a["name"] for a in _service(document, admin.SERVICE)["actions"]} == set(admin.ACTION_NAMES)


def test_describe_all_members_carry_spec_requiredness_and_types():
    clb = _service(catalog.describe_all(), "clb")

    for action in spec.catalog().actions.values():
        shape = spec.input_shape(action.name)
        described = {m["name"]: m for m in clb["shapes"][shape.name]}
        for member in shape.members:
            assert (described[member.name]["type"], described[member.name]["member"], described[member.name]["required"]) \
                == (member.type, member.member, member.required), (action.name, member.name)


def test_describe_all_without_tccli_works_without_descriptions_or_examples(monkeypatch):
    monkeypatch.setattr(catalog, "tccli_services_dir", lambda: None)

    document = catalog.describe_all()

    clb = _service(document, "clb")
    assert document["descriptions"] is False and document["docsSource"] is None
    assert all(a["examples"] == [] and a["description"] == "" for a in clb["actions"])
    assert all(m["description"] == "" and m["choices"] == [] for members in clb["shapes"].values() for m in members)


def test_example_params_query_form_unfolded_and_typed():
    text = ("https://clb.tencentcloudapi.com/?Action=BatchModifyTargetWeight\n&LoadBalancerId=lb-1\n"
            "&ModifyList.0.ListenerId=lbl-1\n&ModifyList.0.Targets.0.Port=110\n&ModifyList.0.Targets.0.Weight=50\n"
            "&<Common request parameters>")

    params = catalog.example_params(text, spec.object_shape, "BatchModifyTargetWeightRequest")

    assert params == {"LoadBalancerId": "lb-1", "ModifyList": [{"ListenerId": "lbl-1", "Targets": [{"Port": 110, "Weight": 50}]}]}


def test_example_params_json_body_read_as_is():
    text = 'POST / HTTP/1.1\nHost: clb.tencentcloudapi.com\n<Common request parameters>\n\n{"Ports": [1], "Protocol": "TCP"}'

    assert catalog.example_params(text, spec.object_shape, "CreateListenerRequest") == {"Ports": [1], "Protocol": "TCP"}


def test_choices_named_after_valid_values_in_order():
    assert docs_text.choices("<p>Mode of the widget. Valid values: ALPHA, BETA_2, and GAMMA.</p> Not DELTA.") == \
        ["ALPHA", "BETA_2", "GAMMA"]
    assert docs_text.choices("ID of the CLB instance.") == []


def test_one_line_plain_text_and_bounded():
    assert docs_text.one_line("<p>A [link](https://x) &amp;\n<b>bold</b></p>") == "A link & bold"
    assert len(docs_text.one_line("x " * 1000)) == docs_text.MAX_LINE
