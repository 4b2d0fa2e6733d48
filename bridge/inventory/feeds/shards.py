"""Writing one feed as shards, as it is read: memory stays flat whatever the tenant's size.

Records go, serialised, into staging parts, a new part whenever the next record would
take the current one past ``max_bytes`` (a record never spans two). Only when every part
is written is the total known; ``finish`` then writes each final shard — metadata first,
then the part's records, gzipped if asked — under a temporary name, and ``publish``
renames them all. Nothing appears under a final name until the whole feed set is done.
"""

from __future__ import annotations

import gzip
import json
import pathlib
import shutil
from dataclasses import dataclass
from typing import IO, Any

# Google reads at most this many shards of one feed.
MAX_SHARDS = 20


class FeedTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Upload:
    """What every shard of one upload shares."""

    nonce: int
    generation_timestamp: int  # unix seconds
    stamp: str  # the timestamp in file names, e.g. 20261129T103000Z
    gzip: bool = False


class ShardedFeed:
    def __init__(self, kind: str, records_key: str, staging: pathlib.Path, upload: Upload, max_bytes: int):
        self.kind = kind
        self._key = records_key
        self._staging = staging
        self._upload = upload
        self._max = max_bytes
        self._parts: list[pathlib.Path] = []
        self._file: IO[bytes] | None = None
        self._size = 0
        self._count = 0
        self.records = 0

    def add(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        if self._file is None or (self._count and self._size + len(data) + 1 > self._max):
            self._next_part()
        assert self._file is not None
        if self._count:
            self._file.write(b",")
        self._file.write(data)
        self._size += len(data) + 1
        self._count += 1
        self.records += 1

    def finish(self) -> list[pathlib.Path]:
        """Write the final shards under temporary names; returns them in order."""
        if self._file is None:
            self._next_part()  # an empty feed is still one valid shard
        assert self._file is not None
        self._file.close()
        total = len(self._parts)
        if total > MAX_SHARDS:
            raise FeedTooLarge(f"the {self.kind} feed needs {total} shards, above Google's {MAX_SHARDS}: "
                               f"raise --max-shard-bytes")
        shards = []
        for number, part in enumerate(self._parts):
            shard = self._staging / f"{self.final_name(number, total)}.tmp"
            metadata = {
                "processing_instruction": "PROCESS_AS_COMPLETE",
                "shard_number": number,
                "total_shards": total,
                "nonce": self._upload.nonce,
                "generation_timestamp": self._upload.generation_timestamp,
            }
            opener = gzip.open if self._upload.gzip else open
            with opener(shard, "wb") as out, open(part, "rb") as records:
                out.write(b'{"metadata":' + json.dumps(metadata, sort_keys=True).encode())
                out.write(b',"' + self._key.encode() + b'":[')
                shutil.copyfileobj(records, out)
                out.write(b"]}\n")
            part.unlink()
            shards.append(shard)
        return shards

    def final_name(self, number: int, total: int) -> str:
        suffix = ".json.gz" if self._upload.gzip else ".json"
        return f"{self.kind}_{self._upload.stamp}_{number + 1:02d}-of-{total:02d}{suffix}"

    def _next_part(self) -> None:
        if self._file is not None:
            self._file.close()
        part = self._staging / f"{self.kind}.part{len(self._parts):03d}"
        self._parts.append(part)
        self._file = open(part, "wb")
        self._size = len(b'{"metadata":{},"":[]}') + 200  # room for the envelope
        self._count = 0

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()


def publish(shards: list[pathlib.Path], out: pathlib.Path) -> list[pathlib.Path]:
    """Rename finished shards (``NAME.tmp`` in staging) to their final names in ``out``."""
    final = []
    for shard in shards:
        target = out / shard.name.removesuffix(".tmp")
        shard.replace(target)
        final.append(target)
    return final
