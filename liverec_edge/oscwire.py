"""Strict checks of the OSC 1.0 wire format, done before python-osc is trusted with a datagram.

python-osc's parser is lenient where leniency is dangerous for a daemon that obeys what it reads:

* a float (``f``) with missing bytes is padded with zeros, so ``/liverec/arm ,f`` with no payload reads as ``0.0``
  and disarms the daemon, and a desk push ``/ch/01/mix/fader ,f`` without payload reads as -inf dB;
* a bundle element with a negative size moves the parser backwards and it loops forever (logging a warning to the
  root logger on every turn); a zero-size element logs one root-logger warning each, and a garbage element is
  skipped while the rest of the bundle is still obeyed;
* type tags it does not know (``c``, ``S``, ``I``, ...) are logged and skipped without consuming their bytes, so the
  arguments after them are read from the wrong offset;
* bytes after a string's terminating NUL are never looked at, so ``"hum\\0xx\\0\\0"`` reads as ``"hum"`` and the
  ``xx`` becomes part of the next argument.

The functions here walk the layout alone (offsets and sizes, no values) and raise :class:`OscWireError` with a
reason a person can act on; only a datagram that passes is handed to python-osc for its values. Nothing here
imports the rest of the project, so the tablet server and the desk backend share it.
"""

from __future__ import annotations

import struct

BUNDLE_PREFIX = b"#bundle\x00"
#: '#bundle\0' and the 8-byte time tag.
_BUNDLE_HEADER_BYTES = len(BUNDLE_PREFIX) + 8

#: Bytes each fixed-size type tag takes in the argument data (python-osc reads exactly these).
_FIXED_SIZES: dict[str, int] = {
    "i": 4, "f": 4, "r": 4, "m": 4,  # int32, float32, RGBA colour, MIDI message
    "h": 8, "d": 8, "t": 8,  # int64, float64, time tag
    "T": 0, "F": 0, "N": 0,  # true, false, nil: the tag is the value
}


class OscWireError(ValueError):
    """A datagram that is not well-formed OSC; the message says what is wrong with it."""


def _aligned_string_end(data: bytes, start: int, what: str) -> int:
    """End (exclusive) of the NUL-terminated, NUL-padded-to-4 string at ``start`` (itself a multiple of 4)."""
    nul = data.find(b"\x00", start)
    if nul < 0:
        raise OscWireError(f"{what} has no terminating NUL")
    end = start + ((nul - start) // 4 + 1) * 4
    if end > len(data):
        raise OscWireError(f"{what} is not padded to a multiple of 4 bytes (packet ends early)")
    if any(data[nul + 1 : end]):
        raise OscWireError(f"{what} is padded with bytes other than NUL")
    return end


def message_end(data: bytes) -> int:
    """Check one OSC message's layout against its type tags; returns where its last argument ends.

    The address and type-tag strings must be NUL-terminated and NUL-padded to 4 bytes, and every argument the tags
    name must be wholly inside ``data`` (``i f r m`` 4 bytes, ``h d t`` 8, ``s`` a padded string, ``b`` an int32
    size and that many bytes padded to 4; ``T F N [ ]`` none). Tags python-osc cannot read are refused: it would
    read the arguments after them from the wrong place. A message without a type-tag string (OSC 1.0 allows old
    senders to omit it) has no arguments. What follows the returned offset is for the caller to judge.
    """
    offset = _aligned_string_end(data, 0, "address")
    if offset == len(data):
        return offset
    if data[offset : offset + 1] != b",":
        raise OscWireError("type tag string does not start with ','")
    tags = data[offset + 1 : data.index(b"\x00", offset)]
    offset = _aligned_string_end(data, offset, "type tag string")
    depth = 0
    for position, code in enumerate(tags, start=1):
        tag = chr(code)
        fixed = _FIXED_SIZES.get(tag)
        if fixed is not None:
            if offset + fixed > len(data):
                raise OscWireError(f"argument {position} ('{tag}') needs {fixed} bytes, "
                                   f"the packet has {len(data) - offset} left")
            offset += fixed
        elif tag == "s":
            offset = _aligned_string_end(data, offset, f"argument {position} ('s')")
        elif tag == "b":
            if offset + 4 > len(data):
                raise OscWireError(f"argument {position} ('b') has no size")
            (size,) = struct.unpack_from(">i", data, offset)
            end = offset + 4 + size + (-size % 4)
            if size < 0 or end > len(data):
                raise OscWireError(f"argument {position} ('b') claims {size} bytes, "
                                   f"the packet has {len(data) - offset - 4} left")
            if any(data[offset + 4 + size : end]):
                raise OscWireError(f"argument {position} ('b') is padded with bytes other than NUL")
            offset = end
        elif tag == "[":
            depth += 1
        elif tag == "]":
            if depth == 0:
                raise OscWireError("type tags close an array that was never opened")
            depth -= 1
        else:
            shown = tag if tag.isprintable() and code < 128 else f"\\x{code:02x}"
            raise OscWireError(f"unsupported type tag '{shown}' (argument {position})")
    if depth:
        raise OscWireError("type tags open an array that is never closed")
    return offset


def check_message(data: bytes) -> None:
    """Raise :class:`OscWireError` unless ``data`` is one OSC message whose arguments end exactly where it ends."""
    end = message_end(data)
    if end != len(data):
        raise OscWireError(f"{len(data) - end} bytes after the last argument the type tags name")


def split_packet(data: bytes, *, max_depth: int, max_messages: int) -> list[bytes]:
    """The messages of one packet, in order: the packet itself, or a bundle's messages at any nesting depth.

    Every bundle element is ``[int32 size][content]`` with the size positive, a multiple of 4 and inside the bundle,
    and the content a message (starting with ``/``) or a bundle (at most ``max_depth`` bundles deep). Any violation
    anywhere, or more than ``max_messages`` messages, raises :class:`OscWireError`: a packet is obeyed whole or not
    at all. Time tags are not read. The messages themselves are not checked (see :func:`check_message`).
    """
    messages: list[bytes] = []
    _split(data, 0, max_depth, max_messages, messages)
    return messages


def _split(data: bytes, depth: int, max_depth: int, max_messages: int, messages: list[bytes]) -> None:
    if not data.startswith(BUNDLE_PREFIX):
        if not data.startswith(b"/"):
            raise OscWireError("neither an OSC message (starts with '/') nor a bundle (starts with '#bundle')")
        if len(messages) >= max_messages:
            raise OscWireError(f"more than {max_messages} messages in one packet")
        messages.append(data)
        return
    if depth >= max_depth:
        raise OscWireError(f"bundles nested more than {max_depth} deep")
    if len(data) < _BUNDLE_HEADER_BYTES:
        raise OscWireError("bundle shorter than its header ('#bundle', time tag)")
    offset = _BUNDLE_HEADER_BYTES
    while offset < len(data):
        if offset + 4 > len(data):
            raise OscWireError(f"{len(data) - offset} stray bytes at the end of a bundle")
        (size,) = struct.unpack_from(">i", data, offset)
        offset += 4
        if size <= 0 or size % 4:
            raise OscWireError(f"bundle element size {size} is not a positive multiple of 4")
        if offset + size > len(data):
            raise OscWireError(f"bundle element size {size} runs past the end of the packet")
        _split(data[offset : offset + size], depth + 1, max_depth, max_messages, messages)
        offset += size
