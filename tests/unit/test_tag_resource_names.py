"""Six-segment resource names as the tag service reads them, including the Terraform provider's."""

from __future__ import annotations

import pytest

from openclb import errors
from openclb.resources.tags.names import parse_resource_name

OWNER = "100000000001"


def test_parse_resource_name_empty_account_is_the_callers():
    """BuildTagResourceName leaves the account empty: ``qcs::clb:REGION:uin/:clb/ID``."""
    parsed = parse_resource_name("qcs::clb:ap-guangzhou:uin/:clb/lb-abc", OWNER)

    assert (parsed.region, parsed.uin, parsed.resource_id) == ("ap-guangzhou", OWNER, "lb-abc")


def test_parse_resource_name_own_account_kept():
    assert parse_resource_name(f"qcs::clb:ap-guangzhou:uin/{OWNER}:clb/lb-abc", OWNER).uin == OWNER


def test_parse_resource_name_other_account_refused():
    with pytest.raises(errors.InvalidParameterValueUinInvalid):
        parse_resource_name("qcs::clb:ap-guangzhou:uin/200000000002:clb/lb-abc", OWNER)


def test_parse_resource_name_account_not_digits_refused():
    with pytest.raises(errors.InvalidParameterValueResourceDescriptionError):
        parse_resource_name("qcs::clb:ap-guangzhou:uin/abc:clb/lb-abc", OWNER)
