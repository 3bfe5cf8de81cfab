"""A cassette file and its interactions: loaded through the persister and the serializer, saved the
same way, as vcrpy's `Cassette` works with its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy_addons.cassettes import persister, serializer
from proxy_addons.cassettes.model import Interaction


@dataclass
class Cassette:
    path: Path
    interactions: list[Interaction] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    existed: bool = False  # the file was there when loaded
    # The serializer's cache of each interaction's YAML, so that a save renders only the new ones.
    _rendered: dict[int, tuple[Interaction, str]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        """The cassette at `path`; an empty one when the file does not exist yet."""
        path = Path(path)
        raw = persister.read(path)
        if raw is None:
            return cls(path)
        loaded = serializer.loads(raw, path)
        if loaded is None:
            # An empty file is a cassette still to record, as vcrpy treats it.
            return cls(path, existed=bool(raw.strip()))
        interactions, meta = loaded
        return cls(path, interactions, meta, existed=True)

    def dumps(self) -> bytes:
        """The file's bytes (see `serializer.dumps`)."""
        return serializer.dumps(self.interactions, self.meta, self._rendered)

    def save(self) -> None:
        """Write the file atomically (see `persister.save`)."""
        persister.save(self.path, self.dumps())
        self.existed = True
