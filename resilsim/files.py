"""Files written so that a crash never leaves a cut one under its final name, and errors said in words.

Every write goes to a temporary name in the same folder, is fsynced and is
moved into place with ``os.replace`` (atomic on POSIX).
"""
from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path


def atomic_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise


def atomic_parquet(path: Path, df) -> None:
    """Write the DataFrame ``df`` (or an Arrow table, written as is) to ``path`` as Parquet, atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        if hasattr(df, "to_parquet"):
            df.to_parquet(tmp, index=False)
        else:
            import pyarrow.parquet as pq
            pq.write_table(df, tmp, compression="snappy")  # DataFrame.to_parquet's compression
        fsync(tmp)  # else a crash soon after the rename can leave an empty file under the final name
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise


def why(e: OSError) -> str:
    """Why an OS error happened, in a few words for a one-sentence message."""
    if e.errno == errno.ENOSPC:
        return "the disk is full"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "it is not writable"
    return e.strerror or str(e)


def fsync(path) -> None:
    """Flush the file or folder ``path`` to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_quietly(p) -> None:
    """Remove the file ``p`` if it is there."""
    try:
        os.unlink(p)
    except OSError:
        pass


def sha256_of(p: Path) -> str:
    """The SHA-256 of the file ``p`` (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
