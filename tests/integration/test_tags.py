"""Tags: CreateLoadBalancer's Tags, DescribeLoadBalancers' tag filters and the tag service's eight actions
over the same stored tags, through the official tag SDK client (typed models and call_json)."""

from __future__ import annotations

import hashlib

import pytest

from admin_support import admin, admin_client, export_text, import_state
from clb_support import checked, create_clb, refused, write
from conftest import REGION, sdk_client
from openclb.api.accounts import DEFAULT_OWNER_UIN
from services_support import service_checked, service_client, service_refused, typed_call

pytestmark = pytest.mark.postgres


def resource(lb_id: str, region: str = REGION, uin: str = DEFAULT_OWNER_UIN) -> str:
    return f"qcs::clb:{region}:uin/{uin}:clb/{lb_id}"


def tags_of(client, lb_id: str) -> dict[str, str]:
    (lb,) = checked(client, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"]
    return {tag["TagKey"]: tag["TagValue"] for tag in lb["Tags"]}


def tag_rows(tag, lb_id: str) -> dict[str, str]:
    answer = service_checked(tag, "DescribeResourceTagsByResourceIds", {
        "ServiceType": "clb", "ResourcePrefix": "clb", "ResourceRegion": REGION, "ResourceIds": [lb_id]})
    return {row["TagKey"]: row["TagValue"] for row in answer["Tags"]}


@pytest.fixture
def clients(any_store_server):
    return sdk_client(any_store_server.url), service_client(any_store_server.url, "tag")


def test_create_load_balancer_with_tags_reads_back_in_both_services(clients):
    clb, tag = clients
    lb_id = create_clb(clb, "tagged", Tags=[{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": ""}])

    assert tags_of(clb, lb_id) == {"env": "prod", "team": ""} == tag_rows(tag, lb_id)
    response = typed_call(tag, "DescribeResourceTagsByResourceIds", ServiceType="clb", ResourcePrefix="clb",
                          ResourceRegion=REGION, ResourceIds=[lb_id], Limit=50)
    row = next(row for row in response.Tags if row.TagKey == "env")
    assert (response.TotalCount, row.ResourceId, row.TagValueMd5) == (2, lb_id, hashlib.md5(b"prod").hexdigest())


def test_describe_load_balancers_tag_filter_returns_only_matching(clients):
    clb, _ = clients
    prod = create_clb(clb, "prod", Tags=[{"TagKey": "env", "TagValue": "prod"}])
    create_clb(clb, "dev", Tags=[{"TagKey": "env", "TagValue": "dev"}])

    found = checked(clb, "DescribeLoadBalancers", {"Filters": [{"Name": "tag:env", "Values": ["prod"]}]})

    assert [lb["LoadBalancerId"] for lb in found["LoadBalancerSet"]] == [prod]


def test_tag_resources_then_un_tag_resources_change_describe_load_balancers(clients):
    clb, tag = clients
    first, second = create_clb(clb, "a"), create_clb(clb, "b", Tags=[{"TagKey": "env", "TagValue": "dev"}])

    answer = service_checked(tag, "TagResources", {"ResourceList": [resource(first), resource(second)],
                                                   "Tags": [{"TagKey": "env", "TagValue": "prod"}]})

    assert answer["FailedResources"] == []
    assert tags_of(clb, first) == tags_of(clb, second) == {"env": "prod"}
    service_checked(tag, "UnTagResources", {"ResourceList": [resource(first)], "TagKeys": ["env", "absent"]})
    assert (tags_of(clb, first), tags_of(clb, second)) == ({}, {"env": "prod"})


def test_tag_resources_missing_load_balancer_reported_in_failed_resources(clients):
    clb, tag = clients
    lb_id = create_clb(clb, "a")

    answer = service_checked(tag, "TagResources", {"ResourceList": [resource(lb_id), resource("lb-00000000")],
                                                   "Tags": [{"TagKey": "env", "TagValue": "prod"}]})

    assert [(f["Resource"], f["Code"]) for f in answer["FailedResources"]] == [
        (resource("lb-00000000"), "InvalidParameterValue.ResourceIdInvalid")]
    assert tags_of(clb, lb_id) == {"env": "prod"}


def test_modify_resource_tags_replaces_and_deletes_in_one_call(clients):
    clb, tag = clients
    lb_id = create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "dev"}, {"TagKey": "old", "TagValue": "x"}])

    typed_call(tag, "ModifyResourceTags", Resource=resource(lb_id),
               ReplaceTags=[{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "new", "TagValue": "y"}],
               DeleteTags=[{"TagKey": "old"}])

    assert tags_of(clb, lb_id) == {"env": "prod", "new": "y"}


def test_get_tag_keys_and_values_list_the_account_tags(clients):
    clb, tag = clients
    create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "web"}])
    create_clb(clb, "b", Tags=[{"TagKey": "env", "TagValue": "dev"}])

    assert service_checked(tag, "GetTagKeys")["TagKeys"] == ["env", "team"]
    values = service_checked(tag, "GetTagValues", {"TagKeys": ["env"]})["Tags"]
    assert [(t["TagKey"], t["TagValue"]) for t in values] == [("env", "dev"), ("env", "prod")]


def test_get_resources_pages_with_pagination_token(clients):
    clb, tag = clients
    ids = [create_clb(clb, f"lb{i}", Tags=[{"TagKey": "env", "TagValue": "prod"}]) for i in range(3)]

    first = service_checked(tag, "GetResources", {"MaxResults": 2, "TagFilters": [{"TagKey": "env"}]})
    rest = service_checked(tag, "GetResources", {"MaxResults": 2, "PaginationToken": first["PaginationToken"],
                                                 "TagFilters": [{"TagKey": "env", "TagValue": ["prod"]}]})

    listed = [m["Resource"] for m in first["ResourceTagMappingList"] + rest["ResourceTagMappingList"]]
    assert sorted(listed) == sorted(resource(lb_id) for lb_id in ids)
    assert rest["PaginationToken"] == ""
    named = service_checked(tag, "GetResources", {"ResourceList": [resource(ids[0])]})["ResourceTagMappingList"]
    assert named == [{"Resource": resource(ids[0]), "Tags": [{"TagKey": "env", "TagValue": "prod",
                                                               "Category": "Custom"}]}]


def test_describe_resources_by_tags_matches_every_filter(clients):
    clb, tag = clients
    both = create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "web"}])
    create_clb(clb, "b", Tags=[{"TagKey": "env", "TagValue": "prod"}])

    answer = service_checked(tag, "DescribeResourcesByTags", {"TagFilters": [
        {"TagKey": "env", "TagValue": ["prod", "dev"]}, {"TagKey": "team"}]})

    assert [(row["ResourceId"], row["ResourceRegion"]) for row in answer["Rows"]] == [(both, REGION)]
    assert answer["TotalCount"] == 1


def test_delete_load_balancer_removes_its_tags(clients):
    clb, tag = clients
    lb_id = create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "prod"}])

    write(clb, "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id]})

    assert service_checked(tag, "GetTagKeys")["TagKeys"] == []
    assert tag_rows(tag, lb_id) == {}


def test_state_export_import_and_reset_carry_tags(any_store_server):
    clb, tag, admin_api = (sdk_client(any_store_server.url), service_client(any_store_server.url, "tag"),
                           admin_client(any_store_server.url))
    lb_id = create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "prod"}])
    service_checked(tag, "TagResources", {"ResourceList": [resource(lb_id)], "Tags": [{"TagKey": "k", "TagValue": "v"}]})
    text = export_text(admin_api)

    admin(admin_api, "ResetState")
    assert service_checked(tag, "GetTagKeys")["TagKeys"] == []
    assert import_state(admin_api, clb, text)["status"]["Status"] == 0

    assert tag_rows(tag, lb_id) == {"env": "prod", "k": "v"}


@pytest.mark.parametrize(("sign_method", "req_method"), [("HmacSHA256", "POST"), ("HmacSHA1", "GET")])
def test_get_tag_keys_v1_signature_reaches_tag_service(any_store_server, sign_method, req_method):
    clb = sdk_client(any_store_server.url)
    create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "prod"}])
    tag = service_client(any_store_server.url, "tag", sign_method, req_method)

    assert service_checked(tag, "GetTagKeys")["TagKeys"] == ["env"]


def _refusal_cases(lb: str) -> list[tuple[str, dict, str]]:
    one = [{"TagKey": "env", "TagValue": "x"}]
    return [
        ("TagResources", {"ResourceList": [lb], "Tags": [{"TagKey": "qcloud:x", "TagValue": "1"}]},
         "InvalidParameterValue.ReservedTagKey"),
        ("TagResources", {"ResourceList": [lb], "Tags": [{"TagKey": "k" * 128, "TagValue": "1"}]},
         "InvalidParameterValue.TagKeyLengthExceeded"),
        ("TagResources", {"ResourceList": [lb], "Tags": [{"TagKey": "k", "TagValue": "v" * 256}]},
         "InvalidParameterValue.TagValueLengthExceeded"),
        ("TagResources", {"ResourceList": [lb], "Tags": [{"TagKey": "", "TagValue": "1"}]},
         "InvalidParameterValue.TagKeyEmpty"),
        ("TagResources", {"ResourceList": [lb], "Tags": [{"TagKey": "a<b", "TagValue": "1"}]},
         "InvalidParameterValue.TagKeyCharacterIllegal"),
        ("TagResources", {"ResourceList": [lb], "Tags": one * 2}, "InvalidParameterValue.TagKeyDuplicate"),
        ("TagResources", {"ResourceList": [lb], "Tags": [{"TagKey": f"k{i}", "TagValue": ""} for i in range(11)]},
         "LimitExceeded.TagNumPerRequest"),
        ("TagResources", {"ResourceList": [lb] * 11, "Tags": one}, "LimitExceeded.ResourceNumPerRequest"),
        ("TagResources", {"ResourceList": ["lb-abc"], "Tags": one}, "InvalidParameterValue.ResourceDescriptionError"),
        ("TagResources", {"ResourceList": [lb.replace("qcs::clb:", "qcs::cvm:")], "Tags": one},
         "InvalidParameter.UnsupportedService"),
        ("TagResources", {"ResourceList": [lb.replace(":clb/", ":instance/")], "Tags": one},
         "InvalidParameterValue.ResourcePrefixInvalid"),
        ("TagResources", {"ResourceList": [lb.replace(DEFAULT_OWNER_UIN, "200000000002")], "Tags": one},
         "InvalidParameterValue.UinInvalid"),
        ("UnTagResources", {"ResourceList": [lb], "TagKeys": []}, "LimitExceeded.TagNumPerRequest"),
        ("ModifyResourceTags", {"Resource": lb}, "MissingParameter"),
        ("ModifyResourceTags", {"Resource": lb, "DeleteTags": []}, "InvalidParameter"),
        ("ModifyResourceTags", {"Resource": lb, "ReplaceTags": one, "DeleteTags": [{"TagKey": "env"}]},
         "InvalidParameterValue.DeleteTagsParamError"),
        ("ModifyResourceTags", {"Resource": lb.rsplit("/", 1)[0] + "/lb-00000000", "ReplaceTags": one},
         "InvalidParameterValue.ResourceIdInvalid"),
        ("GetResources", {"PaginationToken": "not-ours"}, "InvalidParameter.PaginationTokenInvalid"),
        ("GetResources", {"MaxResults": 201}, "InvalidParameterValue"),
        ("GetResources", {"TagFilters": [{"TagKey": f"k{i}"} for i in range(7)]},
         "InvalidParameterValue.TagFiltersLengthExceeded"),
        ("DescribeResourceTagsByResourceIds", {"ServiceType": "clb", "ResourcePrefix": "clb", "ResourceRegion": REGION,
                                               "ResourceIds": ["lb-1"], "Offset": 5, "Limit": 10},
         "InvalidParameterValue.OffsetInvalid"),
        ("DescribeResourceTagsByResourceIds", {"ServiceType": "clb", "ResourcePrefix": "clb", "ResourceRegion": "??",
                                               "ResourceIds": ["lb-1"]}, "InvalidParameterValue.RegionInvalid"),
        ("GetTagValues", {"TagKeys": [f"k{i}" for i in range(21)]}, "LimitExceeded.TagNumPerRequest"),
        ("GetTagKeys", {"Category": "Mine"}, "InvalidParameterValue"),
    ]


@pytest.mark.parametrize("case", range(len(_refusal_cases("x"))))
def test_tag_action_bad_input_answers_documented_code_and_changes_nothing(server, case):
    clb, tag = sdk_client(server.url), service_client(server.url, "tag")
    lb_id = create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "prod"}])
    action, params, code = _refusal_cases(resource(lb_id))[case]
    before = (checked(clb, "DescribeLoadBalancers", {})["LoadBalancerSet"], service_checked(tag, "GetTagKeys"))

    service_refused(tag, action, params, code)

    after = (checked(clb, "DescribeLoadBalancers", {})["LoadBalancerSet"], service_checked(tag, "GetTagKeys"))
    assert (before[0], before[1]["TagKeys"]) == (after[0], after[1]["TagKeys"])


def test_tag_resources_past_fifty_tags_refused_and_changes_nothing(server):
    clb, tag = sdk_client(server.url), service_client(server.url, "tag")
    lb_id = create_clb(clb, "a", Tags=[{"TagKey": f"k{i}", "TagValue": ""} for i in range(20)])
    for batch in range(3):
        service_checked(tag, "TagResources", {"ResourceList": [resource(lb_id)],
                                              "Tags": [{"TagKey": f"t{batch}{i}", "TagValue": ""} for i in range(10)]})
    before = tags_of(clb, lb_id)

    service_refused(tag, "TagResources", {"ResourceList": [resource(lb_id)], "Tags": [{"TagKey": "one", "TagValue": ""}]},
                    "LimitExceeded.ResourceAttachedTags")

    assert len(before) == 50 and tags_of(clb, lb_id) == before


def test_get_tag_keys_category_system_lists_none_custom_lists_all(server):
    clb, tag = sdk_client(server.url), service_client(server.url, "tag")
    lb_id = create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "prod"}])

    assert service_checked(tag, "GetTagKeys", {"Category": "System"})["TagKeys"] == []
    assert service_checked(tag, "GetTagKeys", {"Category": "Custom"})["TagKeys"] == ["env"]
    system_rows = service_checked(tag, "DescribeResourceTagsByResourceIds", {
        "ServiceType": "clb", "ResourcePrefix": "clb", "ResourceRegion": REGION, "ResourceIds": [lb_id],
        "Category": "System"})
    assert system_rows["Tags"] == []


def test_tag_resources_while_a_task_holds_the_clb_waits_and_survives_its_rollback(server_factory):
    running = server_factory(fault_injection=True)
    clb, tag = sdk_client(running.url), service_client(running.url, "tag")
    lb_id = create_clb(clb, "a", Tags=[{"TagKey": "env", "TagValue": "dev"}])
    admin(admin_client(running.url), "InjectFault", {"Kind": "TaskFailure", "Action": "ModifyLoadBalancerAttributes",
                                                     "Seconds": 1.5})
    held = checked(clb, "ModifyLoadBalancerAttributes", {"LoadBalancerId": lb_id, "LoadBalancerName": "renamed"})

    service_checked(tag, "TagResources", {"ResourceList": [resource(lb_id)], "Tags": [{"TagKey": "env", "TagValue": "prod"}]})

    assert checked(clb, "DescribeTaskStatus", {"TaskId": held["RequestId"]})["Status"] == 1
    (lb,) = checked(clb, "DescribeLoadBalancers", {"LoadBalancerIds": [lb_id]})["LoadBalancerSet"]
    assert (lb["LoadBalancerName"], tags_of(clb, lb_id)) == ("a", {"env": "prod"})


def test_create_load_balancer_tag_key_twice_refused_and_creates_nothing(server):
    clb = sdk_client(server.url)

    refused(clb, "CreateLoadBalancer", {"LoadBalancerType": "OPEN", "Tags": [
        {"TagKey": "env", "TagValue": "a"}, {"TagKey": "env", "TagValue": "b"}]}, "InvalidParameterValue.Duplicate")

    assert checked(clb, "DescribeLoadBalancers", {})["TotalCount"] == 0
