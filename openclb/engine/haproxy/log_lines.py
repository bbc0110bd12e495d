"""HAProxy's HTTP request lines completed into CLS lines: the part of the receiver that touches every line.

A request line as the ``log-format`` of ``access_log.HTTP_LOG_FORMAT`` prints it::

    H <listener> <Ta ms> <upstream status|-> <connection requests|-> <via UDP|-> {"time_local":..."request_time":

is completed with what 2.6's log-format cannot compute: ``request_time`` (``%Ta`` in seconds,
three decimals), ``upstream_response_time`` (the same when a target answered, else ``"-"``),
``connection_requests`` (1 when the variable is unset), ``"upstream_addr":"-"`` for ``-:-`` (no
target connected) and ``"request_length":0`` for ``-`` (a request refused before the rules ran).
Client text in the line is escaped by HAProxy (``json(ascii)``): a quote there is always after a
backslash, so ``"upstream_addr":"-:-"`` (the first, before any client text) and ``"request_length":-,``
(the last ``"request_length":``, after it: searched from the end, where the field is) can only be the
fields themselves.

``complete_frames`` reads the ring's TCP stream (octet counting: ``<length> <message>``, no
newline) and returns, for a chunk holding many frames, one text per listener (its completed
lines end to end), the frames it does not complete (layer-4 or HAProxy's own lines, lines it
cannot read: for Python to handle), and how many bytes it used (a frame cut at the chunk's end
waits for the next chunk). A frame whose ``via UDP`` mark is set is skipped: HAProxy sent that
line to the UDP receiver too (``access_log``), which writes it. The C extension ``_log_lines``
does the same (tests/unit/test_haproxy_log_lines.py holds them to the same bytes); this module
is what runs when it is not built.
"""

from __future__ import annotations

try:
    from openclb.engine.haproxy._log_lines import complete_frames
except ImportError:  # the extension is optional (setup.py): built where a compiler was found
    complete_frames = None

COMPILED = complete_frames is not None
TAIL = b'"request_time":'
NO_TARGET = b'"upstream_addr":"-:-"'
LENGTH = b'"request_length":'
# The longest frame the ring forwards (HAProxy's buffer, ``tune.bufsize``, is 16 KiB by default): longer is garbage.
MAX_FRAME_BYTES = 1 << 20
_MAX_MS_DIGITS = 15


class FramingError(ValueError):
    """The stream is not ``<length> <message>`` frames: what follows cannot be read."""


def complete_line(message: bytes) -> tuple[str, str] | None:
    """(listener id, completed line with its newline) of a request line; None: not a request line
    this module reads (not ``H ...``, a field out of shape)."""
    parts = message.rstrip(b"\n").split(b" ", 6)
    if len(parts) != 7 or parts[0] != b"H":
        return None
    _, listener, ms, upstream, requests, _via, head = parts
    if not head.endswith(TAIL) or not listener.isascii() or not requests.isascii():
        return None
    negative = ms[:1] == b"-"
    digits = ms[1:] if negative else ms
    if not digits or len(digits) > _MAX_MS_DIGITS or not digits.isdigit() or not digits.isascii():
        return None
    value = 0 if negative else int(digits)
    seconds = f"{value // 1000}.{value % 1000:03d}"
    target = head.find(NO_TARGET)
    parsed = head.rfind(LENGTH, target + len(NO_TARGET) if target >= 0 else 0)
    if parsed >= 0 and head[parsed + len(LENGTH):parsed + len(LENGTH) + 2] == b"-,":
        head = head[:parsed] + b'"request_length":0,' + head[parsed + len(LENGTH) + 2:]
    if target >= 0:
        head = head[:target] + b'"upstream_addr":"-"' + head[target + len(NO_TARGET):]
    try:
        text = head.decode()
    except UnicodeDecodeError:
        return None
    return listener.decode(), (
        f'{text}{seconds},"upstream_response_time":{seconds if upstream != b"-" else _DASH},'
        f'"connection_requests":{requests.decode() if requests != b"-" else 1}}}\n')


_DASH = '"-"'


def complete_frames_py(buffer) -> tuple[dict[str, str], list[bytes], int]:
    """``complete_frames`` in Python (see the module docstring); raises ``FramingError``."""
    data = bytes(buffer)
    end = len(data)
    groups: dict[str, list[str]] = {}
    others: list[bytes] = []
    at = 0
    while at < end:
        space = data.find(b" ", at, at + 8)
        if space < 0:
            if end - at >= 8 or not data[at:end].isdigit():
                raise FramingError(data[at:at + 16])
            break
        size_text = data[at:space]
        if not size_text.isdigit() or not size_text.isascii():
            raise FramingError(data[at:at + 16])
        size = int(size_text)
        if size > MAX_FRAME_BYTES:
            raise FramingError(data[at:at + 16])
        stop = space + 1 + size
        if stop > end:
            break
        message = data[space + 1:stop]
        at = stop
        if message[:2] == b"H ":
            via = _via(message)
            if via is not None and via != b"-":
                continue
            done = complete_line(message)
            if done is not None:
                groups.setdefault(done[0], []).append(done[1])
                continue
        others.append(message)
    return {listener: "".join(lines) for listener, lines in groups.items()}, others, at


def _via(message: bytes) -> bytes | None:
    parts = message.split(b" ", 6)
    return parts[5] if len(parts) == 7 else None


if complete_frames is None:
    complete_frames = complete_frames_py
