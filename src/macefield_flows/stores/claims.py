"""Claims with expiry: several ``screen`` processes on one store compute each structure once.

Before computing a chunk, a process claims the chunk's resume keys. A claim is
a small file ``<store>/claims/<key>`` created atomically (``O_CREAT|O_EXCL``)
that holds the owner (host, pid, run id) and an expiry time; the owner renews
its claims (heartbeat) while it computes and removes them when the documents are
stored. A claim whose expiry has passed, or whose owner process no longer
exists on this host, belongs to a run that died (kill -9, lost node): another
process takes it over (atomic rename) and computes the key.

Claims live next to the embedded store (a folder on a shared or local disk).
Stores without a folder (MongoDB, memory) get :class:`NoClaims` (every key is
granted): concurrent runs into MongoDB may then compute an overlap twice but
never lose or corrupt a document (writes are keyed upserts).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Optional

logger = logging.getLogger(__name__)

CLAIM_TTL_ENV = "MACEFIELD_CLAIM_TTL_S"
DEFAULT_TTL_S = 900.0


def claim_ttl_s() -> float:
    """Seconds a claim lives without renewal (``$MACEFIELD_CLAIM_TTL_S``, default 900)."""
    value = os.environ.get(CLAIM_TTL_ENV)
    ttl = float(value) if value else DEFAULT_TTL_S
    if not ttl > 0:
        raise ValueError(f"{CLAIM_TTL_ENV}={value!r}: expected a positive number of seconds")
    return ttl


class NoClaims:
    """Claims for stores without a folder: every key is granted, nothing is recorded."""

    owner = "unclaimed"

    def acquire(self, keys: Iterable[str]) -> list[str]:
        return list(keys)

    def release(self, keys: Iterable[str]) -> None:
        return None

    def held_by_others(self, keys: Iterable[str]) -> list[str]:
        return []

    def close(self) -> None:
        return None


class FolderClaims:
    """Claims as files in ``folder`` (see the module docstring); renewed by a heartbeat thread."""

    def __init__(self, folder: str | os.PathLike, ttl_s: Optional[float] = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ttl_s = float(ttl_s) if ttl_s is not None else claim_ttl_s()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name="macefield-claims", daemon=True)
        self._thread.start()

    def _path(self, key: str) -> Path:
        return self.folder / key

    def _payload(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires": time.time() + self.ttl_s}).encode()

    def _read(self, path: Path) -> Optional[dict[str, Any]]:
        try:
            return json.loads(path.read_text() or "{}")
        except FileNotFoundError:
            return None
        except ValueError:  # being written: treat as live (its writer holds it)
            return {"owner": "?", "expires": time.time() + self.ttl_s}

    @staticmethod
    def _dead(claim: dict[str, Any], now: Optional[float] = None) -> bool:
        """Expired, or owned by a process of this host that no longer exists (killed run)."""
        if float(claim.get("expires", 0)) < (now or time.time()):
            return True
        host, _, rest = str(claim.get("owner", "")).partition(":")
        pid = rest.split(":")[0]
        if host != socket.gethostname() or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return _is_zombie(int(pid))

    def _create(self, path: Path) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._payload())
        return True

    def _take_over(self, path: Path, claim: dict[str, Any]) -> bool:
        """Replace an expired claim (atomic rename: of two processes only one succeeds)."""
        grave = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.expired")
        try:
            os.rename(path, grave)
        except FileNotFoundError:
            return self._create(path)
        moved = self._read(grave) or {}
        if moved.get("owner") != claim.get("owner"):  # renewed or re-claimed meanwhile: put it back
            try:
                os.rename(grave, path) if not path.exists() else grave.unlink()
            except OSError:
                pass
            return False
        grave.unlink(missing_ok=True)
        logger.info("took over the expired claim of %s on %s", claim.get("owner"), path.name)
        return self._create(path)

    def acquire(self, keys: Iterable[str]) -> list[str]:
        """The keys of ``keys`` this process now holds (new claims, expired ones taken over, its own)."""
        got = []
        for key in keys:
            path = self._path(key)
            with self._lock:
                if key in self._held:
                    got.append(key)
                    continue
            ok = self._create(path)
            if not ok:
                claim = self._read(path)
                if claim is None:
                    ok = self._create(path)
                elif claim.get("owner") == self.owner:
                    ok = True
                elif self._dead(claim):
                    ok = self._take_over(path, claim)
            if ok:
                with self._lock:
                    self._held.add(key)
                got.append(key)
        return got

    def held_by_others(self, keys: Iterable[str]) -> list[str]:
        """Keys with a live claim of another process."""
        out = []
        now = time.time()
        for key in keys:
            claim = self._read(self._path(key))
            if claim and claim.get("owner") != self.owner and not self._dead(claim, now):
                out.append(key)
        return out

    def release(self, keys: Iterable[str]) -> None:
        """Remove this process's claims on ``keys`` (after their documents are stored)."""
        for key in keys:
            with self._lock:
                self._held.discard(key)
            path = self._path(key)
            claim = self._read(path)
            if claim and claim.get("owner") == self.owner:
                path.unlink(missing_ok=True)

    def _renew(self) -> None:
        with self._lock:
            held = list(self._held)
        for key in held:
            path = self._path(key)
            tmp = path.with_name(f".{key}.{self.owner.replace(':', '_')}.tmp")
            tmp.write_bytes(self._payload())
            os.replace(tmp, path)  # atomic: readers see the old or the new expiry

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self._renew()
            except OSError as exc:  # pragma: no cover (disk trouble: claims then expire)
                logger.warning("cannot renew screening claims: %s", exc)

    def close(self) -> None:
        """Stop renewing and release every claim still held."""
        self._stop.set()
        with self._lock:
            held = list(self._held)
        self.release(held)


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def claims_for(store: Any, ttl_s: Optional[float] = None) -> Any:
    """:class:`FolderClaims` next to an embedded store, else :class:`NoClaims`."""
    docs = getattr(store, "docs_store", store)
    folder = getattr(docs, "database_path", None)
    if folder and type(docs).__name__ in ("EmbeddedMontyStore", "MontyStore"):
        return FolderClaims(Path(folder) / "claims", ttl_s)
    path = getattr(docs, "paths", None) or getattr(docs, "path", None)
    if type(docs).__name__ == "EmbeddedJSONStore" and path:
        first = path[0] if isinstance(path, (list, tuple)) else path
        return FolderClaims(Path(first).parent / "claims", ttl_s)
    return NoClaims()
