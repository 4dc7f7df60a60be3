"""File helpers shared by every stage: checksums and all-or-nothing writes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`, renamed onto it only if the block succeeds.

    A crash or an exception never leaves a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); outputs get the usual permissions instead.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def tree_sha256(root: str | Path, pattern: str = "*.py") -> str:
    """One checksum of the files under `root` matching `pattern`: names and contents."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(root.rglob(pattern)):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(sha256(path).encode())
    return digest.hexdigest()


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


class NotUTF8(ValueError):
    """Bytes that are not UTF-8 text; says where the first bad byte is, never what it is."""

    def __init__(self, offset: int, line: int):
        self.offset, self.line = offset, line
        super().__init__(f"not UTF-8 text: the first bad byte is at byte offset {offset} "
                         f"(line {line})")  # fmt: skip


def utf8_text(data: bytes) -> str:
    """`data` decoded as UTF-8, a byte-order mark dropped (Excel's "CSV UTF-8"); NotUTF8 if not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise NotUTF8(err.start, data[: err.start].count(b"\n") + 1) from None
