"""Cassette files on disk: reading one, saving one atomically, and clearing what an interrupted
save left behind. Bytes only: what they mean is the serializer's business."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from proxy_addons.cassettes.model import CassetteError
from proxy_addons.messages import logger

log = logger(__name__)


def read(path: Path) -> bytes | None:
    """The file's bytes; None when there is no file yet."""
    if not path.exists():
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CassetteError(f"{path}: cannot be read: {exc.strerror}") from None


def _affixes(path: Path) -> tuple[str, str]:
    """Prefix and suffix of `save`'s temporary files for `path`: hidden, and beside it, so that the
    rename is atomic and `remove_stale_temporaries` finds them."""
    return f".{path.name}.", ".tmp"


def save(path: Path, data: bytes) -> None:
    """Write atomically: a temporary file in the same directory, then a rename. A reader, or a
    proxy killed mid-write, only ever sees the old file or the new one, both complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _affixes(path)
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: Path) -> None:
    """A recorder killed while saving leaves its temporary file beside the (intact) cassette."""
    prefix, suffix = _affixes(path)
    for stale in path.parent.glob(f"{prefix}*{suffix}"):
        log.info("removing %s, left by an interrupted save", stale)
        stale.unlink(missing_ok=True)
