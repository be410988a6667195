"""Safe upload of files into the corpus folder, and their removal.

Whatever name a browser sends (``../../x.txt``, ``/etc/passwd.txt``, ``a\\x00b.txt``, a
thousand characters), the file lands directly inside the corpus folder under a plain name,
never replaces a different file unless asked to, and is written atomically. It is read first,
as the index will read it: a file the index would skip (a bad JSONL line, a binary ``.txt``,
a scanned PDF) is refused and never saved. A removed file is moved into the folder's hidden
``.removed/`` folder, which the loader does not read, so that nothing is lost.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import SourceError
from .load import SUPPORTED_SUFFIXES, check_file_size, read_data

REMOVED_DIR = ".removed"
MAX_NAME_BYTES = 120          # well under the 255-byte limit of common file systems
_UNSAFE = re.compile(r"[^\w.\- ]+")
_RUNS = re.compile(r"[_ ]{2,}")

Status = Literal["added", "replaced", "unchanged"]


@dataclass(frozen=True)
class SavedFile:
    """Where an upload went and what happened to the folder."""

    name: str
    path: Path
    status: Status
    size: int
    kind: str = "text"
    # caveats of the read, e.g. a web page read without its main text
    notices: list[str] = field(default_factory=list)


def safe_name(name: str) -> str:
    """A plain file name for an uploaded file: no folders, no control characters, short.

    Raises SourceError when nothing usable is left or the type is not allowed.
    """
    raw = str(name)
    base = re.split(r"[/\\]", raw.replace("\x00", ""))[-1]
    base = unicodedata.normalize("NFKC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _RUNS.sub("_", _UNSAFE.sub("_", base)).strip(" ._-")
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    shown = _shown(raw)
    if suffix not in SUPPORTED_SUFFIXES:
        raise SourceError(
            f"{shown}: file type {suffix or '(none)'} is not accepted; upload "
            + ", ".join(SUPPORTED_SUFFIXES) + " files"
        )
    stem = stem.strip(" ._-")
    if not stem:
        raise SourceError(f"{shown}: the file name has no usable characters; rename the file")
    budget = MAX_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:budget].decode(errors="ignore").rstrip(" ._-")
    return stem + suffix


def _shown(name: str) -> str:
    """The name as sent, made printable and short enough for a one-line message."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in name)
    return printable if len(printable) <= 60 else printable[:57] + "..."


def check_size(name: str, size: int, max_bytes: int) -> None:
    if size == 0:
        raise SourceError(f"{name}: the file is empty; upload a file with text in it")
    check_file_size(name, size, max_bytes)


def save_upload(folder: Path | str, name: str, data: bytes, max_bytes: int,
                overwrite: bool = False) -> SavedFile:
    """Write ``data`` into ``folder`` under ``safe_name(name)``.

    An identical file already there is left alone (status "unchanged"); a different one is
    replaced only when ``overwrite`` is true, otherwise SourceError says how to proceed. A file
    with no indexable text raises SourceError and nothing is written.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"corpus folder {folder} does not exist; create it or set "
                          "RETRIEVAL_SOURCE_DIR")
    clean = safe_name(name)
    check_size(clean, len(data), max_bytes)
    target = folder / clean
    if target.resolve().parent != folder.resolve():
        raise SourceError(f"{_shown(name)}: would be saved outside the corpus folder; "
                          "rename the file")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise SourceError(f"{clean}: a non-file of that name is in the corpus folder; "
                          "rename the upload")
    existed = target.exists()
    if existed and target.read_bytes() == data:
        return SavedFile(clean, target, "unchanged", len(data))
    source = read_data(clean, data)  # raises, naming the problem, before anything is written
    if existed and not overwrite:
        raise SourceError(
            f"{clean} is already in the corpus with different content; rename the file "
            "or choose to replace existing files"
        )
    _write_atomically(target, data, replace=existed)
    return SavedFile(clean, target, "replaced" if existed else "added", len(data),
                     source.kind, source.notices)


def remove_document(folder: Path | str, name: str) -> Path:
    """Take the file ``name`` out of the corpus: it moves into ``folder/.removed/`` (stamped
    with the time, never replacing an earlier removal) and the next index update drops it.
    Returns where it went."""
    folder = Path(folder)
    target = folder / name
    if (not name or name != Path(name).name or name.startswith(".")
            or target.resolve().parent != folder.resolve()):
        raise SourceError(f"{_shown(name)}: not a file name of the corpus folder; pick a "
                          "document from the list")
    if target.is_symlink() or not target.is_file():
        raise SourceError(f"{name}: is not in the corpus folder {folder}; refresh the list of "
                          "documents")
    bin_dir = folder / REMOVED_DIR
    bin_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    moved = bin_dir / f"{stamp}-{uuid.uuid4().hex[:6]}-{name}"
    os.replace(target, moved)
    return moved


def _write_atomically(target: Path, data: bytes, replace: bool) -> None:
    """Temp file (hidden, so the loader skips it), fsync, then link or rename into place."""
    tmp = target.with_name(f".{uuid.uuid4().hex}.upload.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)   # fails if a file appeared meanwhile: never clobbers
            except FileExistsError:
                raise SourceError(
                    f"{target.name} appeared in the corpus during the upload; upload again"
                ) from None
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
