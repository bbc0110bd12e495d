"""The gRPC health probe's request and its judgement of replies, without sockets."""

from __future__ import annotations

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection

from openclb.engine.embedded.health_grpc import GrpcStatusCheck, grpc_code_passes, grpc_request
from openclb.engine.spec import HealthCheckSpec

CHECK = HealthCheckSpec(check_type="GRPC", http_path="/pkg.Svc/Check", extended_code="0,5-7")


@pytest.mark.parametrize("code,codes,passes", [
    (12, "12", True), (0, "12", False), (25, "20,25", True), (21, "20,25", False), (99, "0-99", True),
    (6, " 5-7 ", True), (1, "x,1", True), (1, "", False),
])
def test_grpc_code_passes_single_list_and_range(code, codes, passes):
    assert grpc_code_passes(code, codes) is passes


def _server_reply(status: bytes, trailers_only: bool) -> bytes:
    """What a gRPC server answers the probe: a trailers-only head, or head + trailers."""
    server = H2Connection(H2Configuration(client_side=False, header_encoding=None))
    server.initiate_connection()
    server.receive_data(grpc_request(CHECK, "127.0.0.1"))
    if trailers_only:
        server.send_headers(1, [(b":status", b"200"), (b"grpc-status", status)], end_stream=True)
    else:
        server.send_headers(1, [(b":status", b"200"), (b"content-type", b"application/grpc")])
        server.send_headers(1, [(b"grpc-status", status)], end_stream=True)
    return server.data_to_send()


@pytest.mark.parametrize("trailers_only", [True, False])
def test_grpc_status_check_passes_listed_status_fails_others(trailers_only):
    assert GrpcStatusCheck(CHECK, "127.0.0.1").feed(_server_reply(b"6", trailers_only)) is True
    assert GrpcStatusCheck(CHECK, "127.0.0.1").feed(_server_reply(b"12", trailers_only)) is False


def test_grpc_status_check_http11_reply_or_close_fails():
    assert GrpcStatusCheck(CHECK, "127.0.0.1").feed(b"HTTP/1.1 400 Bad Request\r\n\r\n") is False
    assert GrpcStatusCheck(CHECK, "127.0.0.1").finish() is False
