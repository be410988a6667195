"""Durable writes: a file or a folder reaches the disk before the manifest names it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from ..ingest.load import sha256_file


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_tree(folder: Path) -> dict[str, str]:
    """fsync every file below ``folder``; return their sha256 by relative path."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
            files[str(path.relative_to(folder))] = sha256_file(path)
    for path in sorted({p.parent for p in folder.rglob("*")} | {folder}):
        fsync_dir(path)
    return files
