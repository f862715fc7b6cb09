"""Build a jobflow ``JobStore`` from a store spec (see :mod:`macefield_flows.stores`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

from jobflow import JobStore
from maggma.stores import MemoryStore, MongoStore

from macefield_flows.exceptions import StoreError
from macefield_flows.stores.backends import EmbeddedJSONStore, EmbeddedMontyStore

logger = logging.getLogger(__name__)

HOME_ENV = "MACEFIELD_HOME"
STORE_ENV = "MACEFIELD_STORE"
MONGO_TIMEOUT_ENV = "MACEFIELD_MONGO_TIMEOUT_MS"


def default_store_dir() -> Path:
    """``$MACEFIELD_HOME/store`` (default ``~/.macefield/store``), read at call time."""
    home = os.environ.get(HOME_ENV) or str(Path.home() / ".macefield")
    return Path(home).expanduser() / "store"


def get_jobstore(spec: Optional[str | os.PathLike] = None, connect: bool = True,
                 read_only: bool = False) -> JobStore:
    """JobStore (docs + additional ``data`` store) for ``spec``; see the module table.

    With ``connect=True`` the store is connected (and a MongoDB pinged), so an
    unreachable server fails here with a :class:`StoreError`. With
    ``read_only=True`` (queries) nothing is created or imported, and an embedded
    store in a folder this process cannot write (montydb writes when it opens a
    collection) is read from a private temporary copy.
    """
    spec = spec if spec not in (None, "") else os.environ.get(STORE_ENV) or "default"
    spec = str(spec)
    if spec == "memory":
        store = JobStore(MemoryStore(collection_name="outputs"),
                         additional_stores={"data": MemoryStore(collection_name="outputs_data")})
    elif spec == "jobflow":
        from jobflow import SETTINGS

        store = SETTINGS.JOB_STORE
    elif spec.startswith("json:"):
        folder = Path(spec[5:]).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        store = JobStore(EmbeddedJSONStore(str(folder / "outputs.json"), key="uuid"),
                         additional_stores={"data": EmbeddedJSONStore(str(folder / "outputs_data.json"),
                                                                      key="blob_uuid")})
    elif spec.startswith(("mongodb://", "mongodb+srv://")):
        store = _mongo_jobstore(spec)
    else:
        folder = default_store_dir() if spec == "default" else Path(spec).expanduser()
        if read_only:
            return _read_only_embedded(folder, connect)
        if folder.exists() and not folder.is_dir():
            raise StoreError(f"store path {str(folder)!r} is a file; give a folder or a mongodb:// URI")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store folder {str(folder)!r}: {exc}") from exc
        store = embedded_jobstore(folder)
    if connect:
        _connect(store, spec)
        if isinstance(store.docs_store, EmbeddedMontyStore):
            _import_legacy_json(store, Path(store.docs_store.database_path))
    return store


def _read_only_embedded(folder: Path, connect: bool) -> JobStore:
    """The embedded store of ``folder`` for reading; a temporary copy when the folder is not writable."""
    import shutil
    import tempfile

    if not folder.is_dir():
        raise StoreError(f"no results store at {str(folder)!r} (screen something into it first)")
    db = folder / EMBEDDED_DB
    writable = os.access(folder, os.W_OK) and (not db.exists() or (
        os.access(db, os.W_OK) and all(os.access(p, os.W_OK) for p in db.iterdir())))
    if not writable:
        copy = Path(tempfile.mkdtemp(prefix="macefield-ro-"))
        if db.is_dir():
            shutil.copytree(db, copy / EMBEDDED_DB)
        logger.info("store %s is read-only: reading a temporary copy in %s", folder, copy)
        folder = copy
    store = embedded_jobstore(folder)
    if connect:
        _connect(store, str(folder))
    return store


def embedded_jobstore(folder: str | os.PathLike) -> JobStore:
    """The embedded JobStore in ``folder``: MontyStores ``outputs`` and ``outputs_data`` (the `data` store).

    The SQLite files are ``<folder>/macefield/outputs.collection`` and
    ``<folder>/macefield/outputs_data.collection``.
    """
    folder = str(Path(folder).expanduser())
    docs = EmbeddedMontyStore("outputs", database_path=folder, database_name=EMBEDDED_DB, key="uuid")
    data = EmbeddedMontyStore("outputs_data", database_path=folder, database_name=EMBEDDED_DB, key="blob_uuid")
    return JobStore(docs, additional_stores={"data": data})


EMBEDDED_DB = "macefield"
LEGACY_FILES = (("outputs.json", None, ["uuid", "index"]), ("outputs_data.json", "data", "blob_uuid"))


def _import_legacy_json(store: JobStore, folder: Path) -> None:
    """Import the JSON files of the former embedded store (``outputs*.json``) once, then rename them."""
    for name, extra, key in LEGACY_FILES:
        path = folder / name
        if not path.is_file():
            continue
        target = store.docs_store if extra is None else store.additional_stores[extra]
        legacy = EmbeddedJSONStore(str(path), read_only=True, key="uuid" if extra is None else "blob_uuid")
        legacy.connect()
        docs = [{k: v for k, v in d.items() if k != "_id"} for d in legacy.query()]
        if docs:
            target.update(docs, key=key)
        path.rename(path.with_name(name + ".imported"))
        logger.warning("imported %d documents of the former JSON store %s (renamed to %s.imported)",
                       len(docs), path, name)


def _mongo_jobstore(uri: str) -> JobStore:
    database = urlparse(uri).path.lstrip("/").split("?")[0] or "macefield"
    timeout = int(os.environ.get(MONGO_TIMEOUT_ENV, "5000"))
    kwargs = {"serverSelectionTimeoutMS": timeout, "connectTimeoutMS": timeout}
    docs = MongoStore.from_uri(uri, "outputs", database=database, mongoclient_kwargs=kwargs)
    data = MongoStore.from_uri(uri, "outputs_data", database=database, mongoclient_kwargs=kwargs)
    return JobStore(docs, additional_stores={"data": data})


def _connect(store: JobStore, spec: str) -> None:
    shown = _redact(spec)
    try:
        store.connect()
        coll = getattr(store.docs_store, "_coll", None)
        client = getattr(getattr(coll, "database", None), "client", None)
        if client is not None and type(client).__module__.startswith("pymongo"):
            client.admin.command("ping")
    except StoreError:
        raise
    except Exception as exc:  # pymongo / file errors of many kinds: one clear line
        raise StoreError(f"cannot open results store {shown}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc


def _redact(spec: str) -> str:
    """Hide a password in a MongoDB URI."""
    parsed = urlparse(spec)
    if parsed.password:
        return spec.replace(parsed.password, "***")
    return spec
