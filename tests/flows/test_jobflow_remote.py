"""jobflow-remote: submit_flow to a local worker, run in-process with the Runner, results in the store.

No MongoDB server can run here: queue and output stores are SharedMemoryStore
(mongomock shared within the process). Jobs run in a subprocess through the
local worker's shell scheduler (`jf execution run`), exchanging files with the
runner, exactly as on a real worker. The SLURM template is rendered, not submitted.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("jobflow_remote")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _loggers_stay_enabled():
    """jobflow-remote configures logging with ``disable_existing_loggers=True``: undo that afterwards.

    Without this every logger created before (ours included) stays disabled for the rest
    of the test session, and later tests that check a logged warning see nothing.
    """
    import logging

    enabled = [lg for lg in logging.root.manager.loggerDict.values()
               if isinstance(lg, logging.Logger) and not lg.disabled]
    yield
    for lg in enabled:
        lg.disabled = False


def _shared(db: str, coll: str) -> dict:
    return {"@module": "macefield_flows.stores.backends", "@class": "SharedMemoryStore",
            "database": db, "collection_name": coll}


@pytest.fixture
def jfr_project(tmp_path, monkeypatch):
    import jobflow_remote
    from jobflow_remote.jobs.jobcontroller import JobController

    from macefield_flows.stores import SharedMemoryStore

    # the local worker runs `jf execution run` in a shell: use the jf of the running
    # interpreter's environment, whether or not that environment's bin is on PATH
    bin_dir = Path(sys.executable).parent
    if shutil.which("jf", path=str(bin_dir)) is None:
        pytest.skip(f"jobflow-remote's `jf` script not found next to {sys.executable}")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    SharedMemoryStore.reset()
    projects = tmp_path / "projects"
    projects.mkdir()
    fast = {k: 1 for k in ("delay_checkout", "delay_check_run_status", "delay_advance_status",
                           "delay_refresh_limited", "delay_update_batch")}
    proj = {
        "name": "mftest", "base_dir": str(tmp_path / "base"), "runner": fast,
        "workers": {"local": {"type": "local", "scheduler_type": "shell", "work_dir": str(tmp_path / "work"),
                              "resources": {}}},
        "queue": {"store": _shared("jfr_queue", "jobs")},
        "jobstore": {"@module": "jobflow.core.store", "@class": "JobStore",
                     "docs_store": _shared("jfr_out", "outputs"),
                     "additional_stores": {"data": _shared("jfr_out", "outputs_data")}},
    }
    (projects / "mftest.yaml").write_text(yaml.safe_dump(proj))
    monkeypatch.setattr(jobflow_remote.SETTINGS, "projects_folder", str(projects))
    monkeypatch.setattr(jobflow_remote.SETTINGS, "project", "mftest")
    # mongomock cannot build jobflow-remote's compound indexes; indexes only matter for speed
    monkeypatch.setattr(JobController, "build_indexes", lambda self, *a, **k: None)
    from jobflow_remote.config.manager import ConfigManager

    project = ConfigManager().get_project("mftest")
    project.get_job_controller().reset(reset_output=True, max_limit=0)
    yield project
    SharedMemoryStore.reset()


def test_submit_flow_runner_local_worker(jfr_project, model_file, structures):
    from jobflow_remote import submit_flow
    from jobflow_remote.jobs.runner import Runner
    from jobflow_remote.jobs.state import JobState

    from macefield_flows.flows import ScreeningMaker, build_screening_flow
    from macefield_flows.stores import iter_task_docs

    store = jfr_project.get_jobstore()
    store.connect()
    maker = ScreeningMaker(model=str(model_file), device="cpu", chunk_size=2, relax=False)
    flow, n, _ = build_screening_flow(maker, structures, store)
    ids = submit_flow(flow, worker="local", project="mftest")
    assert len(ids) == 2
    Runner(project_name="mftest").run_all_jobs(max_seconds=240)
    jc = jfr_project.get_job_controller()
    states = [j.state for j in jc.get_jobs_info()]
    assert states == [JobState.COMPLETED] * 2, [(j.state, j.error) for j in jc.get_jobs_info()]
    docs = list(iter_task_docs(store))
    assert {d["structure_id"] for d in docs} == {"MgO", "NaCl", "ZnO"}
    assert all(d["status"] == "successful" for d in docs)
    assert store.additional_stores["data"].count() == 3  # force constants in the data store
    # resume through the same store: nothing left to submit
    flow2, _, skipped = build_screening_flow(maker, structures, store)
    assert skipped == 3 and not flow2.jobs


def test_slurm_template_requests_one_gpu():
    from jobflow_remote.config.base import Project
    from jobflow_remote.remote.queue import QueueManager

    raw = yaml.safe_load((REPO / "workflows" / "jobflow_remote" / "macefield.yaml").read_text())
    # the template's placeholders are strings: it validates as it stands
    project = Project.model_validate(raw)
    worker = project.workers["gpu"]
    qm = QueueManager(worker.get_scheduler_io(), host=None)
    script = qm.get_submission_script(["jf -fe execution run /tmp/x"], worker.resources,
                                      work_dir="/scratch/job", pre_run=worker.pre_run)
    assert "#SBATCH --gres=gpu:1" in script
    assert "jf -fe execution run" in script and "source <path/to/venv>/bin/activate" in script
    assert project.workers["local"].scheduler_type == "shell"
