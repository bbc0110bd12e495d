"""What a customized configuration asks of an HTTP/HTTPS listener beyond its spec's timeouts.

``added_header_lines``: the ``add_header`` lines appended to every response head a target
gives, rendered once per spec. ``body_too_large``: whether a request's Content-Length passes
``client_max_body_size`` (the session then answers 413 before choosing a target, as nginx does).
"""

from __future__ import annotations

from openclb.engine.spec import ListenerSpec, RuleSpec


def added_header_lines(spec: ListenerSpec | RuleSpec) -> bytes:
    return b"".join(b"%s: %s\r\n" % (name.encode("latin-1"), value.encode("latin-1"))
                    for name, value in spec.added_headers)


def body_too_large(headers: list[tuple[bytes, bytes]], limit: int) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip().isdigit() and int(value) > limit
    return False
