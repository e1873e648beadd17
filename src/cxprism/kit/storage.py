"""Where attachment bytes live: a port with a local-directory implementation.

Objects are content-addressed (SHA-256) under their workspace, so the same file sent
twice (a replayed webhook, a forwarded mail) is stored once, and a key names exactly one
content. Another backend (S3, say) implements the same three methods.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[0-9a-f-]{36}/[0-9a-f]{2}/[0-9a-f]{64}$")


class Storage(Protocol):
    async def put(self, workspace_id: uuid.UUID, data: bytes) -> str: ...

    async def get(self, workspace_id: uuid.UUID, key: str) -> bytes: ...

    async def delete(self, workspace_id: uuid.UUID, key: str) -> None: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def put(self, workspace_id: uuid.UUID, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{workspace_id}/{digest[:2]}/{digest}"
        await asyncio.to_thread(self._write, self._path(workspace_id, key), data)
        return key

    async def get(self, workspace_id: uuid.UUID, key: str) -> bytes:
        return await asyncio.to_thread(self._path(workspace_id, key).read_bytes)

    async def delete(self, workspace_id: uuid.UUID, key: str) -> None:
        await asyncio.to_thread(self._path(workspace_id, key).unlink, True)

    def _path(self, workspace_id: uuid.UUID, key: str) -> Path:
        # A key is ours only inside its own workspace: no traversal, no other tenant's files.
        if not _KEY.match(key) or not key.startswith(f"{workspace_id}/"):
            raise KeyError(f"not a storage key of this workspace: {key!r}")
        return self.root / key

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # stored before the message that names it commits
        partial.replace(path)
