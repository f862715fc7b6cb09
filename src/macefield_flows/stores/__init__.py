"""Results stores: construction from settings, resume lookups and document queries.

Store specs understood by :func:`get_jobstore` (``--store`` on the CLI,
``MACEFIELD_STORE`` in the environment):

=======================  ====================================================
spec                     store
=======================  ====================================================
None / ``"default"``     embedded store in ``$MACEFIELD_HOME/store`` (default
                         ``~/.macefield/store``): no server needed
a folder path            embedded store in that folder
``json:<folder>``        JSON files ``outputs.json`` / ``outputs_data.json``
                         in that folder (the store of versions < 0.2)
``mongodb://...`` /      MongoDB (``outputs`` and ``outputs_data`` collections
``mongodb+srv://...``    of the URI's database, default ``macefield``)
``"jobflow"``            jobflow's configured ``JOB_STORE`` (JOBFLOW config)
``"memory"``             in-memory (tests)
=======================  ====================================================

The embedded store is a pair of maggma ``MontyStore`` collections (montydb,
SQLite: ``<folder>/macefield/outputs.collection`` and the `data` store
``outputs_data.collection`` for force constants); every write is committed at
once, so an interruption loses nothing already written. JSON files of the former
embedded store found in the folder are imported once (and renamed
``*.imported``). ``macefield export`` still writes one JSON file.
"""

from macefield_flows.stores.backends import EmbeddedJSONStore, EmbeddedMontyStore, SharedMemoryStore
from macefield_flows.stores.results import iter_task_docs, stored_keys, task_docs_store
from macefield_flows.stores.settings import default_store_dir, embedded_jobstore, get_jobstore

__all__ = [
    "EmbeddedJSONStore",
    "EmbeddedMontyStore",
    "SharedMemoryStore",
    "default_store_dir",
    "embedded_jobstore",
    "get_jobstore",
    "iter_task_docs",
    "stored_keys",
    "task_docs_store",
]
