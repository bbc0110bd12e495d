"""The neighbouring services' generated specs: one module each, the served actions only, every name listed."""

from __future__ import annotations

import dataclasses
import importlib.resources
import json

import pytest

from openclb.api import codegen, spec


@pytest.mark.parametrize("source", codegen.SOURCES[1:], ids=lambda source: source.service)
def test_codegen_neighbour_module_holds_generated_actions_and_every_name(source):
    api = json.loads((importlib.resources.files("tccli") / source.resource).read_text(encoding="utf-8"))
    catalog = spec.catalog(source.service)

    assert catalog.action_names == frozenset(source.generated)
    assert catalog.all_action_names == frozenset(api["actions"])
    assert catalog.api_version == api["metadata"]["apiVersion"]


@pytest.mark.parametrize("source", codegen.SOURCES, ids=lambda source: source.service)
def test_codegen_check_on_checked_in_module_passes(source, capsys):
    assert codegen.main(["--check", "--service", source.service]) == 0
    assert capsys.readouterr().err == ""


def test_codegen_check_on_stale_neighbour_module_exits_1(tmp_path, capsys):
    stale = tmp_path / "types_vpc.py"
    stale.write_text(codegen.SOURCES_BY_SERVICE["vpc"].output.read_text(encoding="utf-8").replace(
        'Action("DescribeAddresses"', 'Action("DescribeAddressez"', 1))

    assert codegen.main(["--check", "--service", "vpc", "--output", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_codegen_action_missing_from_spec_is_refused():
    source = dataclasses.replace(codegen.SOURCES_BY_SERVICE["sts"], generated=("GetCallerIdentity", "FlyToTheMoon"))

    with pytest.raises(codegen.SpecError, match="FlyToTheMoon"):
        codegen.generate(source=source)


def test_codegen_neighbour_module_keeps_only_reachable_shapes():
    shapes = spec.catalog("sts").shapes

    assert set(shapes) == {"GetCallerIdentityRequest", "GetCallerIdentityResponse"}


def test_object_shape_same_name_in_two_services_is_looked_up_per_service():
    clb_tag, tag_tag = spec.object_shape("TagInfo"), spec.object_shape("Tag", "tag")

    assert [m.name for m in clb_tag.members] == ["TagKey", "TagValue"]
    assert [m.name for m in tag_tag.members][:2] == ["TagKey", "TagValue"]
    with pytest.raises(KeyError):
        spec.object_shape("TagInfo", "tag")


def test_services_of_version_tag_and_sts_share_2018_08_13():
    assert spec.services_of_version("2018-08-13") == ("sts", "tag")
    assert spec.services_of_version("2017-03-12") == ("vpc",)
    assert spec.services_of_version("1999-01-01") == ()
