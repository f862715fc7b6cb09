"""Results stores: construction from settings, resume lookups and document queries.

Store specs understood by :func:`get_jobstore` (``--store`` on the CLI,
``MACEFIELD_STORE`` in the environment):

=======================  ====================================================
spec                     store
=======================  ====================================================
None / ``"default"``     embedded store in ``$MACEFIELD_HOME/store`` (default
                         ``~/.macefield/store``): no server needed
a folder path            embedded store in that folder
``mongodb://...`` /      MongoDB (``outputs`` and ``outputs_data`` collections
``mongodb+srv://...``    of the URI's database, default ``macefield``)
``"jobflow"``            jobflow's configured ``JOB_STORE`` (JOBFLOW config)
``"memory"``             in-memory (tests)
=======================  ====================================================

The embedded store is a pair of JSON files (``outputs.json`` and the `data`
store ``outputs_data.json`` for force constants) written atomically.
"""

from macefield_flows.stores.backends import EmbeddedJSONStore, SharedMemoryStore
from macefield_flows.stores.results import iter_task_docs, stored_keys, task_docs_store
from macefield_flows.stores.settings import default_store_dir, get_jobstore

__all__ = [
    "EmbeddedJSONStore",
    "SharedMemoryStore",
    "default_store_dir",
    "get_jobstore",
    "iter_task_docs",
    "stored_keys",
    "task_docs_store",
]
