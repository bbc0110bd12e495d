"""Property: whatever arrives over HTTP, the gateway answers with a well-formed envelope.

Random methods, headers, query strings and bodies (unsigned garbage), and random parameter
shapes for random actions of the spec signed correctly (TC3 JSON, TC3 GET, v1), so that they
pass authentication and reach validation and the handlers. Every answer must be HTTP 200,
Content-Type exactly ``application/json``, a UUID4 RequestId and, for an error, a code from
the documented set in openclb/api/errors.py, and never InternalError. One server serves the
whole module; the number of examples is bounded.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REGION, make_settings, start_server
from gateway_support import DOCUMENTED_CODES, Tc3Call, assert_envelope, v1_signed_params
from openclb.api import regions, spec

EXAMPLES = 70
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ACTIONS = sorted(spec.ACTION_NAMES)
_nonces = itertools.count(int(time.time() * 1000))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    running = start_server(make_settings(tmp_path_factory.mktemp("fuzz")))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def session():
    with requests.Session() as http:
        yield http


def assert_documented_answer(response: requests.Response) -> None:
    assert "Traceback" not in response.text
    inner = assert_envelope(response)
    if "Error" in inner:
        code = inner["Error"]["Code"]
        assert code in DOCUMENTED_CODES, code
        assert code != "InternalError", inner


def _member_names(shape_name: str, depth: int = 0) -> list[str]:
    shape = spec.object_shape(shape_name)
    names = [member.name for member in shape.members]
    if depth < 2:
        for member in shape.members:
            if member.nests_shape:
                names.extend(_member_names(member.member, depth + 1))
    return names


KEY_NAMES = {action: sorted(set(_member_names(spec.catalog().actions[action].input))) for action in ACTIONS}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["lb-00000000", "lbl-00000000", "TCP", "HTTP", "OPEN", "INTERNAL", "80", "", "0"]),
)


@st.composite
def action_and_params(draw) -> tuple[str, dict[str, Any]]:
    action = draw(st.sampled_from(ACTIONS))
    keys = st.one_of(st.sampled_from(KEY_NAMES[action] or ["Nothing"]), st.text(min_size=1, max_size=12))
    values = st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=12,
    )
    return action, draw(st.dictionaries(keys, values, max_size=6))


# Visible ASCII and Latin-1: what HTTP/1.1 allows in a header value (others are refused as bad HTTP).
HEADER_CHARACTERS = st.one_of(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), st.characters(min_codepoint=0xA1, max_codepoint=0xFF)
)
header_names = st.sampled_from(
    [
        "Content-Type", "Authorization", "X-TC-Action", "X-TC-Version", "X-TC-Region", "X-TC-Timestamp",
        "X-TC-Language", "X-TC-Token", "X-TC-Content-SHA256", "Content-Encoding", "X-Random",
    ]
)
header_values = st.one_of(
    st.sampled_from(
        [
            "application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
            "TC3-HMAC-SHA256 Credential=AKID/2024-01-01/clb/tc3_request, SignedHeaders=host, Signature=" + "a" * 64,
            "DescribeLoadBalancers", "2018-03-17", REGION, "ap-shanghai-fsi", "zh-CN", "UNSIGNED-PAYLOAD",
            "gzip", "deflate", "0", "99999999999999999999999",
        ]
    ),
    st.text(HEADER_CHARACTERS, max_size=40),
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.dictionaries(st.text(max_size=10), scalars, max_size=5).map(lambda d: json.dumps(d).encode()),
    st.builds(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode(),
              st.lists(st.tuples(st.sampled_from(["Action", "Version", "Region", "SecretId", "Signature",
                                                 "Nonce", "Timestamp", "Limit", "Ports.0"]),
                                 st.text(max_size=10)), max_size=8)),
)
queries = st.one_of(
    st.just(""),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=120),
    st.just("Action=DescribeLoadBalancers&Version=2018-03-17&Region=ap-guangzhou&SecretId=x&Signature=y"),
)


@FUZZ_SETTINGS
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    headers=st.dictionaries(header_names, header_values, max_size=6),
    query=queries,
    body=bodies,
)
def test_any_action_unsigned_garbage_answers_documented_envelope(fuzz_server, session, method, headers, query, body):
    url = f"{fuzz_server.url}/" + (f"?{query}" if query else "")

    response = session.request(method, url, data=body if method != "GET" else None, headers=headers, timeout=30)

    assert_documented_answer(response)


@FUZZ_SETTINGS
@given(
    call=action_and_params(),
    region=st.one_of(
        st.just(REGION), st.sampled_from(sorted(regions.REGIONS)), st.text(HEADER_CHARACTERS, max_size=12)
    ),
    language=st.sampled_from([None, "zh-CN", "en-US", "xx-YY"]),
)
def test_any_action_signed_tc3_json_answers_documented_envelope(fuzz_server, session, call, region, language):
    action, params = call
    extra = {"X-TC-Language": language} if language else {}

    response = Tc3Call(action, params, region=region, headers=extra).send(fuzz_server.url, session)

    assert_documented_answer(response)


@FUZZ_SETTINGS
@given(call=action_and_params(), signature=st.sampled_from(["TC3-GET", "HmacSHA1", "HmacSHA256"]))
def test_any_action_signed_flat_parameters_answers_documented_envelope(fuzz_server, session, call, signature):
    action, params = call
    flat_safe = {key: value for key, value in params.items() if "." not in key and "=" not in key}
    if signature == "TC3-GET":
        response = Tc3Call(action, flat_safe, method="GET").send(fuzz_server.url, session)
    else:
        host = fuzz_server.url.removeprefix("http://")
        signed = v1_signed_params("POST", host, action, _stringified(flat_safe), sign_method=signature,
                                  nonce=next(_nonces))
        response = session.post(f"{fuzz_server.url}/", data=signed, timeout=30)

    assert_documented_answer(response)


def _stringified(params: dict[str, Any]) -> dict[str, Any]:
    """v1 carries text only: None and nested ``None`` become empty strings like a careless client's."""
    if isinstance(params, dict):
        return {key: _stringified(value) for key, value in params.items()}
    if isinstance(params, list):
        return [_stringified(item) for item in params]
    return "" if params is None else params
