"""maggma store classes used by macefield-flows.

* :class:`EmbeddedJSONStore` - the embedded default: a mongomock collection
  persisted to one JSON file, written atomically (temporary file + rename), so
  an interrupted write never loses what was already stored.
* :class:`SharedMemoryStore` - a mongomock-backed ``MongoStore`` whose data are
  shared by every instance with the same ``database``/``collection_name`` in
  one Python process. jobflow-remote builds a fresh store from its project
  configuration in every component (submission, JobController, Runner); with
  this class they all see the same in-process "database". For tests and demos
  only: nothing is persisted.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import mongomock
import orjson
from maggma.stores import JSONStore, MongoStore


class EmbeddedJSONStore(JSONStore):
    """A writable :class:`maggma.stores.JSONStore` whose file is replaced atomically."""

    def __init__(self, paths: str | list[str], read_only: bool = False, **kwargs: Any) -> None:
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        paths = [str(p) for p in paths]
        for p in paths:
            Path(p).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("serialization_option", orjson.OPT_SERIALIZE_NUMPY)
        kwargs.setdefault("serialization_default", _json_default)
        super().__init__(paths, read_only=read_only, **kwargs)

    def update_json_file(self) -> None:
        target = Path(self.paths[0])
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        data = list(self.query())
        for d in data:
            d.pop("_id", None)
        tmp.write_bytes(
            orjson.dumps(data, option=self.serialization_option, default=self.serialization_default)
        )
        tmp.replace(target)

    def as_dict(self) -> dict:
        d = super().as_dict()
        d.pop("serialization_default", None)
        d.pop("serialization_option", None)
        return d


def _json_default(obj: Any) -> Any:
    """Fallback JSON conversion (datetimes, enums, MSONable objects)."""
    from datetime import datetime
    from enum import Enum

    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


class SharedMemoryStore(MongoStore):
    """A ``MongoStore`` backed by a process-wide mongomock client (see module docstring)."""

    _clients: ClassVar[dict[str, mongomock.MongoClient]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, database: str = "macefield", collection_name: str = "outputs", **kwargs: Any):
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        super().__init__(database=database, collection_name=collection_name, **kwargs)

    @classmethod
    def _client(cls, database: str) -> mongomock.MongoClient:
        with cls._lock:
            if database not in cls._clients:
                cls._clients[database] = mongomock.MongoClient()
            return cls._clients[database]

    def connect(self, force_reset: bool = False) -> None:
        if self._coll is None or force_reset:
            self._coll = self._client(self.database)[self.database][self.collection_name]

    def close(self) -> None:
        """Keep the shared data: closing only drops this instance's handle."""
        self._coll = None

    @classmethod
    def reset(cls, database: str | None = None) -> None:
        """Forget the shared data of ``database`` (all databases when None)."""
        with cls._lock:
            if database is None:
                cls._clients.clear()
            else:
                cls._clients.pop(database, None)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SharedMemoryStore)
            and other.database == self.database
            and other.collection_name == self.collection_name
        )

    def __hash__(self) -> int:
        return hash((self.database, self.collection_name))
