"""reader.count_lines: the line count and the bytes handed on, whatever the chunking."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.collect.flows import reader


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"")),
       st.sampled_from([b"", b"\n", b"x", b"x\n", b"\n\n"]))
def test_count_lines_matches_splitlines_and_hands_on_every_byte(tmp_path_factory, body, tail):
    data = body + tail
    path = tmp_path_factory.mktemp("count") / "log"
    path.write_bytes(data)
    digest = hashlib.sha256()
    lines = reader.count_lines(path, on_chunk=digest.update)
    assert lines == data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_count_lines_across_buffer_refills(tmp_path):
    # more than one 4 MiB read, a newline right at the refill boundary, no final newline
    line = b"a" * 1023 + b"\n"
    data = line * 4096 + b"tail"
    path = tmp_path / "big.log"
    path.write_bytes(data)
    digest = hashlib.sha256()
    assert reader.count_lines(path, on_chunk=digest.update) == 4097
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert reader.count_lines(tmp_path / "big.log") == 4097
