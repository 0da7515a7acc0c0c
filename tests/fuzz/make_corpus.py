#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzers (committed in tests/fuzz/corpus/).

frame_decoder seeds are one control byte (bit 0: 1 = bytes written by the
server; bits 1-2: split; bit 3: zero-copy input; bit 4: no hello; bit 7:
FRAME_CHECK; see fuzz_frame_decoder.cpp) followed by a byte stream: a valid hello and each
message type, plus malformed streams. path_rules seeds are raw paths.

The hostile-path corpus of the integration tests
(tests/integration/hostile_paths.txt) adds a path_rules seed per case
("hp_<name>") and a frame_decoder seed per case: the PUT of that path
("hp_put_<name>"). The hostile frames of tests/integration/
hostile_frames_test.cpp add "hf_<name>" seeds.

Run from anywhere: python3 tests/fuzz/make_corpus.py
"""
import ctypes
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = b"\x89FT\r\n\x1a\n\x00"
CLIENT, SERVER = 0x00, 0x01


def hello(vmin=1, vmax=1, caps=0):
    return MAGIC + struct.pack(">HHI", vmin, vmax, caps)


def frame(ftype, rid, payload=b"", flags=0, reserved=0, length=None):
    n = len(payload) if length is None else length
    return struct.pack(">BBHII", ftype, flags, reserved, rid, n) + payload


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(b)) + b


def put(path, size=3, mode=0o644, mtime=1700000000 * 10**9, chunk=1 << 20, flags=0):
    return s(path) + struct.pack(">QIqII", size, mode, mtime, chunk, flags)


def entry(name, etype=1, size=0, mtime=0, mode=0o644):
    return s(name) + struct.pack(">BQqI", etype, size, mtime, mode)


def entries(items):
    return struct.pack(">I", len(items)) + b"".join(items)


# Not the real XXH3 values (the decoder does not check them): fixed bytes.
H64 = bytes(range(8))
H128 = bytes(range(16))

client_stream = (
    hello()
    + frame(0x10, 1, put("a/x"))
    + frame(0x03, 1, struct.pack(">Q", 0) + H64 + b"abc")
    + frame(0x04, 1, struct.pack(">Q", 3) + H128)
    + frame(0x12, 2, s("dir/ünï.txt") + struct.pack(">Q", 0))
    + frame(0x14, 3, s(""))
    + frame(0x16, 4, s("a/b"))
    + frame(0x05, 2)
)
server_stream = (
    hello()
    + frame(0x11, 1, struct.pack(">Q", 0))
    + frame(0x02, 1)
    + frame(0x13, 2, struct.pack(">QqII", 3, 0, 0o644, 1 << 20))
    + frame(0x03, 2, struct.pack(">Q", 0) + H64 + b"xyz")
    + frame(0x04, 2, struct.pack(">Q", 3) + H128)
    + frame(0x15, 3, entries([entry("a", 1, 3), entry("d", 2, mode=0o755)]), flags=1)
    + frame(0x15, 3, entries([entry("l", 3)]))
    + frame(0x15, 4, entries([entry("b", 4)]))
    + frame(0x01, 5, struct.pack(">H", 4) + s("nope") + s("no such file or directory"))
    + frame(0x01, 0, struct.pack(">H", 1) + s("") + s("bad"))
)

frame_seeds = {
    "client_session": bytes([CLIENT]) + client_stream,
    "client_session_bytes": bytes([CLIENT | 2]) + client_stream,
    "client_session_zero_copy": bytes([CLIENT | 4 | 8]) + client_stream,
    "server_session": bytes([SERVER]) + server_stream,
    "server_session_random": bytes([SERVER | 6]) + server_stream,
    "server_no_hello": bytes([SERVER | 16]) + server_stream[16:],
    "hello_only": bytes([CLIENT]) + hello(1, 3, 0xFFFFFFFF),
    "hello_wide_range": bytes([SERVER | 0xE0]) + hello(2, 5),
    "data_4k": bytes([CLIENT | 8]) + hello()
    + frame(0x03, 9, struct.pack(">Q", 4096) + H64 + bytes(4096)),
    # malformed
    "bad_magic_http": bytes([CLIENT]) + b"GET / HTTP/1.1\r\n\r\n",
    "bad_magic_tls": bytes([CLIENT]) + b"\x16\x03\x01\x00\xa5\x01\x00\x00",
    "bad_version": bytes([CLIENT]) + hello(2, 3),
    "bad_version_order": bytes([CLIENT]) + hello(1, 0),
    "unknown_type": bytes([CLIENT]) + hello() + frame(0x42, 1),
    "wrong_direction": bytes([CLIENT]) + hello() + frame(0x11, 1, bytes(8)),
    "bad_flags": bytes([SERVER]) + hello() + frame(0x15, 1, entries([]), flags=2),
    "reserved_set": bytes([CLIENT]) + hello() + frame(0x14, 1, s("a"), reserved=0x0100),
    "zero_id": bytes([CLIENT]) + hello() + frame(0x10, 0, put("a")),
    "too_long_control": bytes([CLIENT]) + hello() + frame(0x14, 1, length=65537),
    "too_long_data": bytes([SERVER]) + hello() + frame(0x03, 1, length=0xFFFFFFFF),
    "truncated_payload": bytes([CLIENT]) + hello() + frame(0x10, 1, put("a/b"))[:-5],
    "truncated_header": bytes([CLIENT]) + hello() + frame(0x02, 1)[:7],
    "truncated_hello": bytes([SERVER]) + hello()[:11],
    "put_trailing_byte": bytes([CLIENT]) + hello() + frame(0x10, 1, put("a") + b"\x00"),
    "put_nul_path": bytes([CLIENT]) + hello() + frame(0x10, 1, put(b"a\x00b")),
    "put_mode_too_big": bytes([CLIENT]) + hello() + frame(0x10, 1, put("a", mode=0o10000)),
    "entries_absurd_count": bytes([SERVER]) + hello()
    + frame(0x15, 1, struct.pack(">I", 0xFFFFFFFF) + bytes(40)),
    "entries_bad_type": bytes([SERVER]) + hello() + frame(0x15, 1, entries([entry("x", 5)])),
    "data_empty": bytes([CLIENT]) + hello() + frame(0x03, 1, struct.pack(">Q", 0) + H64),
    "get_ready_bad_chunk": bytes([SERVER]) + hello()
    + frame(0x13, 1, struct.pack(">QqII", 1, 0, 0o644, 4095)),
    "error_nul_message": bytes([SERVER]) + hello()
    + frame(0x01, 1, struct.pack(">H", 3) + s("") + s(b"a\x00b")),
    # DELETE (section 5.7): a path and a flags word
    "delete": bytes([CLIENT]) + hello(caps=0x20) + frame(0x19, 1, s("a/x") + struct.pack(">I", 0)),
    "delete_no_flags": bytes([CLIENT]) + hello(caps=0x20) + frame(0x19, 1, s("a/x")),
    "link": bytes([CLIENT]) + hello(caps=0x40)
    + frame(0x1A, 1, s("s/2/a") + s("s/1/a") + struct.pack(">QqII", 3, 0, 0o644, 0)),
    "link_hash": bytes([CLIENT]) + hello(caps=0x40)
    + frame(0x1A, 1, s("s/2/a") + s("s/1/a") + struct.pack(">QqII", 3, 0, 0o644, 1) + H128),
    "link_hash_missing": bytes([CLIENT]) + hello(caps=0x40)
    + frame(0x1A, 1, s("s/2/a") + s("s/1/a") + struct.pack(">QqII", 3, 0, 0o644, 1)),
    "delete_nul_path": bytes([CLIENT]) + hello() + frame(0x19, 1, s(b"a\x00") + bytes(4)),
    # ARCHIVE and SPARSE (docs/protocol.md section 5.9)
    "archive_client": bytes([CLIENT | 2]) + hello(caps=0x182)
    + frame(0x1C, 1, s(b"a/\xff\n") + s("a/x"))
    + frame(0x1D, 2, s("a/x") + struct.pack(">IIII", 0x1F, 0o4755, 0, 0) + s("root") + s("")
            + struct.pack(">H", 1) + s("user.k") + struct.pack(">H", 2) + b"\x00v")
    + frame(0x1E, 3, struct.pack(">QQ", 0, 1 << 30)),
    "archive_server": bytes([SERVER | 6]) + hello(caps=0x182)
    + frame(0x15, 1, entries([entry("f", 1, 3) + struct.pack(">II", 0, 0) + s("root") + s("root")
                              + struct.pack(">QH", 7, 1) + s("user.k") + struct.pack(">H", 1)
                              + b"v"]), flags=0x20)
    + frame(0x1E, 2, struct.pack(">QQ", 4096, 8192)),
    "hole_empty": bytes([CLIENT]) + hello() + frame(0x1E, 1, struct.pack(">QQ", 0, 0)),
    "attrs_unknown_field": bytes([CLIENT]) + hello()
    + frame(0x1D, 1, s("a") + struct.pack(">IIII", 0x40, 0, 0, 0) + s("") + s("")
            + struct.pack(">H", 0)),
}

# FRAME_CHECK (docs/protocol.md section 3.1): the real XXH3 values this
# time, since the decoder checks them; libxxhash is a build dependency.
_xxhash = ctypes.CDLL("libxxhash.so.0")
_xxhash.XXH3_64bits.restype = ctypes.c_uint64
_xxhash.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def check32(data):
    return _xxhash.XXH3_64bits(bytes(data), len(data)) & 0xFFFFFFFF


def checked(frames):
    """Inserts the check block after the header of each frame in `frames`."""
    out, at = b"", 0
    while at < len(frames):
        header = frames[at:at + 12]
        n = struct.unpack(">I", header[8:12])[0]
        payload = frames[at + 12:at + 12 + n]
        covered = payload[:16] if header[0] == 0x03 else payload
        out += header + struct.pack(">II", check32(header), check32(covered)) + payload
        at += 12 + n
    return out


CHECK = 0x80
checked_client = hello(caps=0x1F) + checked(client_stream[16:])
checked_server = hello(caps=0x1B) + checked(server_stream[16:])


def flipped(data, at, bit=0):
    return data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:]


frame_seeds.update({
    "check_client_session": bytes([CLIENT | CHECK]) + checked_client,
    "check_client_bytes": bytes([CLIENT | CHECK | 2]) + checked_client,
    "check_server_session": bytes([SERVER | CHECK | 4 | 8]) + checked_server,
    "check_server_no_hello": bytes([SERVER | CHECK | 16]) + checked_server[16:],
    # a bit flipped in the PUT's path, then in its payload_length
    "check_flipped_path": bytes([CLIENT | CHECK]) + flipped(checked_client, 16 + 20 + 4),
    "check_flipped_length": bytes([CLIENT | CHECK]) + flipped(checked_client, 16 + 11, 3),
    "check_flipped_data_offset": bytes([CLIENT | CHECK | 2])
    + flipped(checked_client, 16 + 20 + 33 + 20 + 7),
})

path_seeds = {
    "plain": b"a/b/c.txt",
    "unicode": "ünïcødé/файл.txt".encode(),
    "dotdot": b"a/../../etc/passwd",
    "dot": b"./a",
    "absolute": b"/etc/passwd",
    "double_slash": b"a//b",
    "trailing_slash": b"a/b/",
    "nul": b"a\x00b",
    "escape": b"\x1b[31mred\x1b[0m",
    "c1": b"x\xc2\x9b2J",
    "overlong": b"\xc0\xaf",
    "surrogate": b"\xed\xa0\x80",
    "beyond_max": b"\xf4\x90\x80\x80",
    "truncated_utf8": b"ab\xe2\x82",
    "reserved": b"a/.ft-tmp/b",
    "backslash": b"..\\..\\windows",
    "hidden": b".hidden/..foo/foo..",
    "long_component": b"n" * 256,
    "deep": b"/".join([b"d"] * 65),
    "empty": b"",
}


def expand_hostile(text, out_dir="/tmp/ft-outside"):
    """Expands a PATH field of hostile_paths.txt (escapes as documented there)."""
    if text == "''":
        return b""
    out = bytearray()
    i = 0

    def parse(i, in_repeat):
        result = bytearray()
        while i < len(text):
            c = text[i]
            if c == "}" and in_repeat:
                return result, i
            if text.startswith("\\\\", i):
                result += b"\\"
                i += 2
            elif text.startswith("\\x", i):
                result.append(int(text[i + 2:i + 4], 16))
                i += 4
            elif c == "{":
                star = text.index("*", i)
                count = int(text[i + 1:star])
                piece, end = parse(star + 1, True)
                result += piece * count
                i = end + 1
            elif text.startswith("$OUT", i):
                result += out_dir.encode()
                i += 4
            else:
                result += c.encode()
                i += 1
        return result, i

    out, _ = parse(0, False)
    return bytes(out)


def hostile_paths():
    path = os.path.join(HERE, "..", "integration", "hostile_paths.txt")
    cases = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            name, _expected, field = line.split()[:3]
            cases[name] = expand_hostile(field)
    return cases


for name, raw in hostile_paths().items():
    path_seeds["hp_" + name] = raw
    # The u16 length of a str caps what one PUT can carry.
    if len(raw) <= 0xFFFF - 64:
        frame_seeds["hp_put_" + name] = bytes([CLIENT]) + hello() + frame(0x10, 1, put(raw))

# The hostile frames of tests/integration/hostile_frames_test.cpp.
H = bytes([CLIENT]) + hello()
list_a = s("a")
put_f = put("f", 10)
frame_seeds.update({
    "hf_put_length_0": H + frame(0x10, 1),
    "hf_list_length_0": H + frame(0x14, 1),
    "hf_data_length_0": H + frame(0x10, 1, put_f) + frame(0x03, 1),
    "hf_end_length_0": H + frame(0x10, 1, put_f) + frame(0x04, 1),
    "hf_data_length_4g": H + frame(0x03, 1, length=0xFFFFFFFF),
    "hf_put_length_4g": H + frame(0x10, 1, length=0xFFFFFFFF),
    "hf_unknown_length_4g": H + frame(0x7F, 1, length=0xFFFFFFFF),
    "hf_control_over_limit": H + frame(0x14, 1, length=65537),
    "hf_data_over_limit": H + frame(0x03, 1, length=4194321),
    "hf_data_at_limit": H + frame(0x03, 1, length=4194320),
    "hf_str_longer_than_frame": H + frame(0x10, 1, b"\x03\xe8abc"),
    "hf_str_length_ffff": H + frame(0x14, 1, b"\xff\xffab"),
    "hf_put_fields_cut": H + frame(0x10, 1, put("f", 1)[:-4]),
    "hf_data_shorter_than_prefix": H + frame(0x10, 1, put_f) + frame(0x03, 1, bytes(15)),
    "hf_cancel_with_payload": H + frame(0x05, 1, b"\x01"),
    "hf_data_offset_wraps": H + frame(0x10, 1, put_f)
    + frame(0x03, 1, struct.pack(">Q", 2**64 - 3) + H64 + b"abcde"),
    "hf_data_offset_max": H + frame(0x10, 1, put_f)
    + frame(0x03, 1, struct.pack(">Q", 2**64 - 1) + H64 + b"a"),
    "hf_data_after_end": H + frame(0x10, 1, put("f", 3))
    + frame(0x03, 1, struct.pack(">Q", 0) + H64 + b"abc")
    + frame(0x04, 1, struct.pack(">Q", 3) + H128)
    + frame(0x03, 1, struct.pack(">Q", 3) + H64 + b"d"),
    "hf_duplicate_end": H + frame(0x10, 1, put("f", 0))
    + frame(0x04, 1, struct.pack(">Q", 0) + H128) * 2,
    "hf_unknown_type_0x00": H + frame(0x00, 1),
    "hf_unknown_type_0xff": H + frame(0xFF, 1),
    "hf_put_flag_0x80": H + frame(0x10, 1, put_f, flags=0x80),
    "hf_list_flag_more": H + frame(0x14, 1, list_a, flags=0x01),
    "hf_list_flag_0x08": H + frame(0x14, 1, list_a, flags=0x08),
    "hf_reserved_0x0001": H + frame(0x14, 1, list_a, reserved=0x0001),
    "hf_request_id_0": H + frame(0x14, 0, list_a),
    "hf_client_sends_ok": H + frame(0x02, 1),
    "hf_client_sends_get_ready": H + frame(0x13, 1, bytes(24)),
    "hf_http_put": bytes([CLIENT]) + b"PUT /f HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    "hf_http_connect": bytes([CLIENT]) + b"CONNECT example.org:443 HTTP/1.1\r\n\r\n",
    "hf_tls_client_hello": bytes([CLIENT])
    + bytes.fromhex("160301002d01000029030300") + bytes(range(32))
    + bytes.fromhex("000004130 1c02f0100".replace(" ", "")),
    "hf_ssh_banner": bytes([CLIENT]) + b"SSH-2.0-OpenSSH_9.2\r\n",
    "hf_magic_last_byte": bytes([CLIENT]) + MAGIC[:7] + b"\x01" + struct.pack(">HHI", 1, 1, 0),
    "hf_magic_zeros": bytes([CLIENT]) + bytes(16),
})

# Delta uploads (docs/protocol.md section 5.12): a signature from the server,
# COPY frames, and what a hostile peer might send instead.
def signature(basis_size, block_size, first, blocks):
    body = struct.pack(">QIII", basis_size, block_size, first, len(blocks))
    return body + b"".join(struct.pack(">IQ", w, h) for w, h in blocks)


frame_seeds.update({
    "delta_signature": bytes([SERVER]) + hello(caps=0x1000)
    + frame(0x24, 1, signature(8192, 4096, 0, [(0xF800F000, 0x93D76FE148C689BA),
                                               (0xFD550FFF, 0x9C7C55A435AE135A)])),
    "delta_signature_full_frame": bytes([SERVER]) + hello(caps=0x1000)
    + frame(0x24, 1, signature(1 << 30, 65536, 4096, [(i, i) for i in range(4096)])),
    "delta_signature_count_lies": bytes([SERVER]) + hello()
    + frame(0x24, 1, struct.pack(">QIII", 1 << 62, 4 << 20, 0, 0xFFFFFFFF) + bytes(24)),
    "delta_copy": bytes([CLIENT]) + hello(caps=0x1000) + frame(0x10, 1, put("f", 8195))
    + frame(0x25, 1, struct.pack(">QQQ", 0, 0, 4096))
    + frame(0x03, 1, struct.pack(">Q", 4096) + H64 + b"xyz")
    + frame(0x25, 1, struct.pack(">QQQ", 4099, 4096, 4096)),
    "delta_copy_empty": bytes([CLIENT]) + hello() + frame(0x25, 1, bytes(24)),
    "delta_copy_wraps": bytes([CLIENT]) + hello()
    + frame(0x25, 1, struct.pack(">QQQ", 2**64 - 1, 2**64 - 1, 2**64 - 1)),
})

# Delta downloads (docs/protocol.md section 5.16): GET with flag DELTA, then
# the client's signature; a GET with another flag bit.
frame_seeds.update({
    "delta_get": bytes([CLIENT]) + hello(caps=0x2000)
    + frame(0x12, 4, s("a/x") + struct.pack(">Q", 0), flags=0x10)
    + frame(0x24, 4, signature(8192, 4096, 0, [(0xF800F000, 0x93D76FE148C689BA),
                                               (0xFD550FFF, 0x9C7C55A435AE135A)])),
    "delta_get_empty_signature": bytes([CLIENT]) + hello(caps=0x2000)
    + frame(0x12, 4, s("a/x") + struct.pack(">Q", 0), flags=0x10)
    + frame(0x24, 4, signature(0, 4096, 0, [])),
    "delta_get_flag_0x20": bytes([CLIENT]) + hello()
    + frame(0x12, 4, s("a/x") + struct.pack(">Q", 0), flags=0x20),
})


def write(dirname, seeds):
    out = os.path.join(HERE, "corpus", dirname)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


write("frame_decoder", frame_seeds)
write("path_rules", path_seeds)
