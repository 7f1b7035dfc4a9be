"""The log directory: numbered JSON Lines segments, appended under an exclusive ``flock``.

Every process that writes takes ``.audit.lock`` (flock, so a crashed holder never leaves it taken),
then reads only the tail of the newest segment to learn ``seq`` and ``prev``, and appends a batch
with one ``write`` on an ``O_APPEND`` descriptor, starting a new segment when the current one would
pass ``max_segment_bytes``. Nothing is ever deleted or rewritten; a line torn by a crash mid-write
is terminated with a newline and chained over, so the records after it stay verifiable.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

from .chain import GENESIS, line_hash, record_seq
from .errors import AuditError

log = logging.getLogger(__name__)

SEGMENT_RE = re.compile(r"audit-(\d{6,})\.jsonl\Z")
LOCK_NAME = ".audit.lock"
_FILE_MODE = 0o600
_DIR_MODE = 0o700

T = TypeVar("T")


def segment_name(number: int) -> str:
    return f"audit-{number:06d}.jsonl"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for entry in os.scandir(directory):
        match = SEGMENT_RE.match(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


def ensure_directory(directory: str | os.PathLike) -> Path:
    """Create the log directory 0700 (an existing one is left as it is) and check that the lock file opens."""
    path = Path(directory)
    try:
        if not path.is_dir():
            path.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            os.chmod(path, _DIR_MODE)  # whatever the umask
        elif os.stat(path).st_mode & 0o077:
            log.warning("audit log directory %s is open to group or others; 0700 is recommended", path)
        os.close(os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE))
    except OSError as exc:
        raise AuditError(f"audit log directory {path} is not usable: {exc.strerror or exc}") from None
    return path


def _green() -> bool:
    """Has gevent patched threading? Then a blocking flock would freeze every greenlet of the worker."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("threading"))


@contextmanager
def exclusive_lock(directory: Path) -> Iterator[None]:
    """The directory's write lock; opened per batch, so a forked child never shares its parent's lock."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
    try:
        if _green():
            delay = 0.0005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(delay)  # gevent's sleep (module attribute at call time): other greenlets run
                    delay = min(delay * 2, 0.02)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        yield
    finally:
        os.close(fd)  # closing the only descriptor of this open file releases the lock


def reverse_lines(fd: int, size: int, block: int = 8192) -> Iterator[bytes]:
    """The lines of a file from the last one back (each with its newline; the last may lack it)."""
    pos, buf = size, b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        block = min(block * 2, 1 << 20)  # long lines: fewer, bigger reads
        while True:
            cut = buf.rfind(b"\n", 0, len(buf) - 1)
            if cut < 0:
                break
            yield buf[cut + 1:]
            buf = buf[:cut + 1]
    if buf:
        yield buf


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Appender:
    """Appends batches of lines to the segments of one directory; the caller builds each line from (seq, prev)."""

    def __init__(self, directory: Path, max_segment_bytes: int) -> None:
        self.directory = directory
        self.max_segment_bytes = max_segment_bytes
        self._current = 0  # newest segment number seen by this process; only ever grows

    def _path(self, number: int) -> Path:
        return self.directory / segment_name(number)

    def _newest(self) -> int:
        if self._current == 0:
            segments = list_segments(self.directory)
            self._current = segments[-1][0] if segments else 1
        while self._path(self._current + 1).exists():  # another process rotated
            self._current += 1
        return self._current

    def _tail(self, number: int, fd: int, size: int) -> tuple[str, int, bool]:
        """(prev, last seq, torn) for the next append to segment ``number`` open on ``fd``.

        ``prev`` is the hash of the last line of the log, wherever it is; ``seq`` comes from the last
        well-formed line (a torn line has none). ``torn``: the current segment ends mid-line. A torn
        line found at the end of an older segment is terminated there at once.
        """
        prev: str | None = None
        torn = False
        current, current_fd, current_size = number, fd, size
        while True:
            for raw in (reverse_lines(current_fd, current_size) if current_size else ()):
                if prev is None:
                    prev = line_hash(raw)
                    if not raw.endswith(b"\n"):
                        if current == number:
                            torn = True
                        else:
                            _append_newline(self._path(current))
                seq = record_seq(raw)
                if seq is not None:
                    if current_fd != fd:
                        os.close(current_fd)
                    return prev, seq, torn
            if current_fd != fd:
                os.close(current_fd)
            current -= 1
            if current < 1:
                return prev or GENESIS, 0, torn
            try:
                current_fd = os.open(self._path(current), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:  # a deleted segment: keep looking back; verify will report it
                current_fd, current_size = fd, 0
                continue
            current_size = os.fstat(current_fd).st_size

    def append(self, items: Sequence[T], make_line: Callable[[T, int, str], bytes]) -> None:
        """Append one line per item, built by ``make_line(item, seq, prev)`` under the lock, in order."""
        with exclusive_lock(self.directory):
            number = self._newest()
            fd = os.open(self._path(number), os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
            try:
                size = os.fstat(fd).st_size
                prev, seq, torn = self._tail(number, fd, size)
                pending = bytearray(b"\n" if torn else b"")  # never delete a torn line: end it, chain over it
                used = size + len(pending)
                for item in items:
                    seq += 1
                    line = make_line(item, seq, prev)
                    if used > 0 and used + len(line) > self.max_segment_bytes:
                        _write_all(fd, pending)
                        os.close(fd)
                        fd = -1
                        number += 1
                        fd = os.open(self._path(number), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
                                     | os.O_CLOEXEC, _FILE_MODE)
                        self._current = number
                        pending, used = bytearray(), 0
                    pending += line
                    used += len(line)
                    prev = line_hash(line)
                _write_all(fd, pending)
            finally:
                if fd >= 0:
                    os.close(fd)

    def sync(self) -> None:
        """fsync the newest segment and the directory (at close: what was written survives a power cut)."""
        for path in (self._path(self._newest()), self.directory):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _append_newline(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        _write_all(fd, b"\n")
    finally:
        os.close(fd)
