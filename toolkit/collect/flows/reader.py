"""Input plumbing shared by every flow reader: path expansion, opening plain or gzip files,
content hashes, binary-file detection, and streaming a file as blocks of whole lines.

Nothing here knows a flow format. Errors are :class:`~toolkit.errors.InputError` with the
file (and line) in the message, never a traceback.

>>> from pathlib import Path
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "a.log").write_text("one\\ntwo\\n")
>>> [p.name for p in expand_paths([folder])]
['a.log']
>>> [(b.first_line, b.data) for b in iter_blocks(folder / "a.log")]
[(1, b'one\\ntwo\\n')]
"""

from __future__ import annotations

import glob
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from toolkit.errors import InputError

#: A line longer than this is refused (no flow record is anywhere near it).
MAX_LINE_BYTES = 16 * 1024 * 1024
#: Default size of a block of lines handed to a parser.
BLOCK_BYTES = 64 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_GLOB_CHARS = set("*?[")

#: Called with every raw (still compressed) chunk read by the main pass over a file: the
#: importer counts it for progress and hashes it (one read of each file, not two).
ProgressFn = Callable[[memoryview], None]


#: Files a directory walk passes over: a folder of flow logs often carries its documentation.
DOC_FILES = re.compile(r"^(LICEN[CS]E|NOTICE|COPYING|README|CHANGELOG|PROVENANCE)([.-].*)?$|"
                       r".*\.md$", re.IGNORECASE)


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not DOC_FILES.match(p.name)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named by ``paths``: plain files, directories (all files below, sorted; hidden
    files and documentation such as LICENSE, README* or *.md skipped) and glob patterns
    (``**`` recurses). A path that matches nothing is an error."""
    found: list[Path] = []
    for raw in paths:
        text = str(raw)
        path = Path(text)
        if path.is_dir():
            found += _walk(path)
        elif path.is_file():
            found.append(path)
        elif _GLOB_CHARS & set(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise InputError("glob pattern matches no file", path=text)
            found += files
        else:
            raise InputError("no such file or directory", path=text,
                             hint="check the path; quote glob patterns so the shell keeps them")
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path, None)
    if not unique:
        raise InputError("no input files found (empty directory?)",
                         path=", ".join(str(p) for p in paths))
    return list(unique)


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


class _Counting(io.RawIOBase):
    """Wraps the raw file to hand every (compressed) chunk read to a callback."""

    def __init__(self, fh: IO[bytes], progress: ProgressFn | None):
        self._fh = fh
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        n = self._fh.readinto(buffer)
        if self._progress and n:
            self._progress(memoryview(buffer)[:n])
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_binary(path: Path, progress: ProgressFn | None = None) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing gzip (detected by its magic bytes)."""
    raw = _Counting(open(path, "rb"), progress)  # noqa: SIM115 - returned to the caller
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    if is_gzip(path):
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def read_checked(fh: IO[bytes], size: int, path: Path) -> bytes:
    """``fh.read(size)`` turning damaged-gzip errors into one-line InputErrors."""
    try:
        return fh.read(size)
    except EOFError:
        raise InputError("truncated gzip file (compressed data ends early)", path=str(path),
                         hint="download or copy the file again") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise InputError(f"damaged gzip file ({exc})", path=str(path),
                         hint="download or copy the file again") from None


def check_text(head: bytes, path: Path) -> None:
    """Refuse binary input (NUL bytes or invalid UTF-8 in the first block)."""
    sample = head[:65536]
    if b"\x00" in sample:
        raise InputError("binary file (NUL bytes), not a text flow log", path=str(path),
                         hint="pass text or .gz files; use --format parquet for Parquet")
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a multi-byte character cut at the end is fine
            raise InputError(f"binary or non-UTF-8 file (bad byte at offset {exc.start})",
                             path=str(path), hint="flow logs must be UTF-8 text") from None


@dataclass(frozen=True)
class Block:
    """Whole lines of a file: ``buffer[:end]`` holds them (the last ends with a newline);
    ``first_line`` is 1-based; ``n_lines`` counts the lines. ``view`` is zero-copy."""

    first_line: int
    buffer: bytearray
    end: int
    n_lines: int

    @property
    def view(self) -> memoryview:
        return memoryview(self.buffer)[: self.end]

    @property
    def data(self) -> bytes:
        return bytes(self.view)


def iter_blocks(path: Path, *, block_bytes: int = BLOCK_BYTES,
                progress: ProgressFn | None = None,
                max_line: int = MAX_LINE_BYTES, reuse: bool = False) -> Iterator[Block]:
    """Stream ``path`` (plain or gzip) as blocks of whole lines of about ``block_bytes``.

    Each block is read straight into a buffer (no copy of the block afterwards), so memory
    stays bounded by the block size. A line longer than ``max_line`` is an error. With
    ``reuse`` the next block overwrites the previous block's buffer (no fresh pages to fault
    in for every block); only for a consumer that is done with a block when it asks for the
    next one.
    """
    line_no, carry, first = 1, b"", True
    spare: bytearray | None = None
    with open_binary(path, progress) as fh:
        while True:
            want = len(carry) + max(block_bytes, len(carry))
            fits = spare is not None and want <= len(spare) <= 2 * want
            buf = spare if fits and spare is not None else bytearray(want)
            buf[: len(carry)] = carry
            got = _fill(fh, memoryview(buf)[len(carry): want], path)
            size = len(carry) + got
            if first:
                check_text(bytes(buf[: min(size, 65536)]), path)
                first = False
            if size == 0:
                return
            cut = buf.rfind(b"\n", 0, size) + 1 if got else size
            _check_lines(buf, cut, size, max_line, path, line_no)
            if cut == 0:  # no line break yet: keep reading (bounded by _check_lines)
                carry = bytes(buf[:size])
                continue
            carry = bytes(buf[cut:size])
            if buf[cut - 1] != 10:  # last line of a file without a final newline
                buf[cut: cut + 1] = b"\n"
                cut += 1
            n_lines = buf.count(b"\n", 0, cut)
            yield Block(line_no, buf, cut, n_lines)
            spare = buf if reuse else None
            line_no += n_lines
            if not got:
                return


def bytes_per_line(path: Path, sample: int = 1 << 20) -> float:
    """Average line length of an uncompressed file, from its first ``sample`` bytes."""
    with open(path, "rb") as fh:
        head = fh.read(sample)
    return len(head) / max(1, head.count(b"\n"))


def count_lines(path: Path, *, on_chunk: ProgressFn | None = None) -> int:
    """Lines of an uncompressed file (a last line without a newline counts), reading it
    once; every chunk read is handed to ``on_chunk`` (e.g. to hash it on the way), which
    must use it before returning: the buffer is reused.

    The newlines are counted by numpy, several times faster than ``bytes.count`` (measured
    on a 2.3 GB flow log: the count and SHA-256 pass took 2.9-3.2 CPU-s instead of 4.4).
    """
    lines, last = 0, 10
    buffer = bytearray(1 << 22)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while size := fh.readinto(buffer):
            chunk = view[:size]
            lines += int(np.count_nonzero(np.frombuffer(chunk, np.uint8) == 10))
            last = buffer[size - 1]
            if on_chunk is not None:
                on_chunk(chunk)
    return lines + (last != 10)


def _fill(fh: IO[bytes], view: memoryview, path: Path) -> int:
    """Read into ``view`` until it is full or the file ends; the number of bytes read."""
    total = 0
    while total < len(view):
        try:
            n = fh.readinto(view[total:])  # type: ignore[attr-defined]
        except EOFError:
            raise InputError("truncated gzip file (compressed data ends early)",
                             path=str(path), hint="download or copy the file again") from None
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise InputError(f"damaged gzip file ({exc})", path=str(path),
                             hint="download or copy the file again") from None
        if not n:
            break
        total += n
    return total


def _check_lines(buf: bytearray, cut: int, size: int, max_line: int, path: Path,
                 line_no: int) -> None:
    """Refuse a line longer than ``max_line``: any such line covers a whole aligned window
    of ``max_line // 2`` bytes without a newline, so one ``find`` per window suffices."""
    window = max(1, max_line // 2)
    for start in range(0, size, window):
        stop = min(size, start + window)
        if stop - start == window and buf.find(b"\n", start, stop) < 0:
            begin = buf.rfind(b"\n", 0, start) + 1
            end = buf.find(b"\n", stop, size)
            end = size if end < 0 else end
            if end - begin > max_line or (end == size and cut == 0 and size > max_line):
                raise InputError(f"line longer than {max_line // (1024 * 1024)} MiB without "
                                 "a line break: not a line-based flow log (wrong --format?)",
                                 path=str(path), line=line_no + buf.count(b"\n", 0, begin))


def read_all_text(path: Path, *, limit: int = 512 * 1024 * 1024,
                  progress: ProgressFn | None = None) -> str:
    """The whole (decompressed) text of a small file, for whole-document JSON inputs."""
    with open_binary(path, progress) as fh:
        data = read_checked(fh, limit + 1, path)
    check_text(data, path)
    if len(data) > limit:
        raise InputError(f"a single JSON document larger than {limit // 2**20} MiB",
                         path=str(path), hint="write one JSON object per line (JSON Lines)")
    return data.decode("utf-8", errors="replace")
