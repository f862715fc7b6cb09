"""maggma store classes used by macefield-flows.

* :class:`EmbeddedMontyStore` - the embedded default: a maggma ``MontyStore``
  (montydb, SQLite storage) on disk; every write is committed at once, several
  store objects (and processes) may open the same folder, and writes from
  several threads of one process are serialised by a per-folder lock.
* :class:`EmbeddedJSONStore` - a mongomock collection persisted to one JSON
  file, written atomically (temporary file + rename); the store of earlier
  versions, still readable (imported once into the MontyStore, see
  :func:`macefield_flows.stores.settings.get_jobstore`).
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

import json
import mongomock
import orjson
from maggma.stores import JSONStore, MongoStore, MontyStore
from monty.json import jsanitize


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


class EmbeddedMontyStore(MontyStore):
    """A maggma :class:`~maggma.stores.MontyStore` (SQLite) in ``database_path``, tuned for screening.

    Differences from ``MontyStore``:

    * :meth:`update` reads the existing keys once per call and inserts new
      documents in one transaction (``MontyStore`` scans the collection once per
      document, quadratic in the store size);
    * every operation holds a lock shared by all instances on the same folder
      in this process (montydb's SQLite engine is not thread-safe);
    * equality includes the folder.

    montydb evaluates queries in Python over all documents of a collection:
    fine for tens of thousands of documents; use MongoDB beyond.
    """

    _locks: ClassVar[dict[str, threading.RLock]] = {}
    _locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, collection_name: str, database_path: str | os.PathLike, database_name: str = "macefield",
                 key: str = "task_id", storage: str = "sqlite", **kwargs: Any) -> None:
        database_path = str(Path(database_path).expanduser())
        super().__init__(collection_name, database_path=database_path, database_name=database_name,
                         storage=storage, key=key, **kwargs)

    @property
    def lock(self) -> threading.RLock:
        """The lock of this store's folder (one per folder and process)."""
        path = str(Path(self.database_path).resolve())
        with self._locks_guard:
            return self._locks.setdefault(path, threading.RLock())

    def connect(self, force_reset: bool = False) -> None:
        Path(self.database_path).mkdir(parents=True, exist_ok=True)
        with self.lock:
            super().connect(force_reset=force_reset)

    def update(self, docs: list[dict] | dict, key: list | str | None = None) -> None:
        """Insert or replace ``docs`` by ``key`` (the store's key when None)."""
        docs = [docs] if isinstance(docs, dict) else list(docs)
        if not docs:
            return
        key = key or self.key
        keys = list(key) if isinstance(key, (list, tuple)) else [key]
        clean = []
        for d in docs:
            d = jsanitize(d, allow_bson=True)
            missing = [k for k in keys if k not in d]
            if missing:
                raise KeyError(f"document lacks key field(s) {missing} of store {self.name}")
            if self.validator and not self.validator.is_valid(d):
                if self.validator.strict:
                    raise ValueError(self.validator.validation_errors(d))
                self.logger.error(self.validator.validation_errors(d))
                continue
            d.pop("_id", None)
            clean.append(d)

        def ident(d: dict) -> str:
            return json.dumps([d.get(k) for k in keys], sort_keys=True, default=str)

        with self.lock:
            coll = self._collection
            existing: dict[str, Any] = {}
            if coll.count_documents({}):
                for d in coll.find({}, projection={k: 1 for k in keys}):
                    existing[ident(d)] = d["_id"]
            new: dict[str, dict] = {}
            for d in clean:
                i = ident(d)
                if i in existing:
                    coll.replace_one({"_id": existing[i]}, d)
                else:
                    new[i] = d  # the last of duplicates in one call wins
            if new:
                coll.insert_many(list(new.values()))

    def query(self, *args: Any, **kwargs: Any):
        """As ``MontyStore.query``; the documents are read under the folder lock."""
        with self.lock:
            docs = list(super().query(*args, **kwargs))
        yield from docs

    def count(self, *args: Any, **kwargs: Any) -> int:
        with self.lock:
            return super().count(*args, **kwargs)

    def distinct(self, *args: Any, **kwargs: Any) -> list:
        with self.lock:
            return super().distinct(*args, **kwargs)

    def remove_docs(self, criteria: dict) -> None:
        with self.lock:
            super().remove_docs(criteria)

    def close(self) -> None:
        if self._coll is not None:
            with self.lock:
                super().close()
        self._coll = None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, MontyStore) and other.collection_name == self.collection_name
                and Path(other.database_path).resolve() == Path(self.database_path).resolve()
                and other.database_name == self.database_name)

    def __hash__(self) -> int:
        return hash(self.name)


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
