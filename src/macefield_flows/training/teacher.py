"""The v4 teacher (SevenNet-0) as a subprocess in its own virtual environment.

``sevenn`` needs e3nn >= 0.5 and mace-torch pins e3nn 0.4.4, so the teacher runs
in a separate venv (created on first use by :func:`ensure_teacher_venv`) and
talks to the project through :mod:`macefield_flows.training.teacher_worker`
(JSON lines over a pipe). The project never imports ``sevenn``.

Units at the boundary: positions and cell in A, energy in eV, forces in eV/A,
stress (3, 3) in eV/A^3 with ASE's sign (positive = tensile).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from macefield_flows.exceptions import MacefieldError

logger = logging.getLogger(__name__)

TEACHER_MODEL = "7net-0"
TEACHER_NAME = "SevenNet-0 (sevenn 0.13 wheel, checkpoint 7net-0 shipped in the package; MPtrj-trained, PBE/PBE+U)"
ENV_VENV = "MACEFIELD_TEACHER_VENV"
VENV_PACKAGES = ("torch==2.13.0", "sevenn")
WORKER = Path(__file__).with_name("teacher_worker.py")


class TeacherError(MacefieldError):
    """The teacher process could not be started or answered with an error."""


def default_venv() -> Path:
    """``$MACEFIELD_TEACHER_VENV`` or ``~/.cache/macefield/venvs/sevenn``."""
    env = os.environ.get(ENV_VENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "macefield" / "venvs" / "sevenn"


def ensure_teacher_venv(venv: Optional[Path] = None) -> Path:
    """Python of the teacher venv; creates it (``python -m venv`` + pip install) if missing."""
    venv = Path(venv) if venv else default_venv()
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import sevenn, e3nn"]
    if python.is_file() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    logger.info("creating the teacher venv %s (%s)", venv, " ".join(VENV_PACKAGES))
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    res = subprocess.run([str(python), "-m", "pip", "install", "-q", *VENV_PACKAGES],
                         capture_output=True, text=True)
    if res.returncode != 0 or subprocess.run(probe, capture_output=True).returncode != 0:
        raise TeacherError(f"could not install {' '.join(VENV_PACKAGES)} into {venv}: "
                           f"{res.stderr.strip().splitlines()[-1:] or 'import failed'}")
    return python


class TeacherProcess:
    """A running teacher worker; use as a context manager.

    Parameters
    ----------
    model : teacher checkpoint name (``7net-0``, ``7net-l3i5`` or ``chgnet``).
    python : interpreter of the teacher venv (default: :func:`ensure_teacher_venv`).
    threads : torch threads of the worker.
    """

    def __init__(self, model: str = TEACHER_MODEL, python: Optional[Path] = None, threads: int = 1) -> None:
        self.model = model
        self.python = Path(python) if python else ensure_teacher_venv()
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            [str(self.python), str(WORKER), "--model", model, "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=env, bufsize=1)
        hello = self._read()
        if not hello.get("ready"):
            raise TeacherError(f"teacher {model} did not start: {hello}")
        self.name = hello["teacher"]
        self.seconds = 0.0
        self.calls = 0

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise TeacherError(f"teacher process {self.model} ended (exit code {self.proc.poll()})")
        return json.loads(line)

    def evaluate(self, atoms_list: Sequence[Any]) -> list[dict[str, Any]]:
        """Energies (eV), forces (N, 3) eV/A, stresses (3, 3) eV/A^3 of ASE Atoms objects."""
        req = {"batch": [{"numbers": a.get_atomic_numbers().tolist(), "positions": a.positions.tolist(),
                          "cell": a.cell.array.tolist()} for a in atoms_list]}
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise TeacherError(f"teacher {self.model}: {reply['error']}")
        self.seconds += float(reply.get("seconds", 0.0))
        self.calls += len(atoms_list)
        return [{"energy": r["energy"], "forces": np.asarray(r["forces"]), "stress": np.asarray(r["stress"])}
                for r in reply["batch"]]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001
                self.proc.kill()

    def __enter__(self) -> "TeacherProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def calculator(self):
        """An ASE calculator backed by this process (energy, forces, stress)."""
        return TeacherCalculator(self)


def _ase_calculator_base():
    from ase.calculators.calculator import Calculator

    return Calculator


class TeacherCalculator(_ase_calculator_base()):
    """ASE calculator: energy (eV), forces (eV/A), stress (Voigt, eV/A^3) from a :class:`TeacherProcess`."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, process: TeacherProcess, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.process = process

    def calculate(self, atoms=None, properties=("energy",), system_changes=None) -> None:
        from ase.calculators.calculator import all_changes

        super().calculate(atoms, properties, system_changes or all_changes)
        (res,) = self.process.evaluate([self.atoms])
        s = res["stress"]
        self.results = {"energy": res["energy"], "free_energy": res["energy"], "forces": res["forces"],
                        "stress": np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])}


def label_with_teacher(samples: Sequence[Any], teacher: str = "chgnet", batch_size: int = 16,
                       python: Optional[Path] = None) -> list[Any]:
    """Set ``energy`` (eV), ``forces`` (eV/A), ``stress`` (eV/A^3, ASE sign) of training samples.

    ``teacher``: ``"chgnet"`` (CHGNet 0.3.0 in this environment, the v1-v3 teacher) or a
    checkpoint of the teacher venv (``"7net-0"``, the v4 teacher; ``"7net-l3i5"``); ``python``
    runs the worker with another interpreter (default: the teacher venv's).
    """
    if teacher == "chgnet" and python is None:
        from macefield_flows.training.labels import label_with_chgnet

        return label_with_chgnet(samples, batch_size=batch_size)
    with TeacherProcess(teacher, python=python) as proc:
        for k in range(0, len(samples), batch_size):
            chunk = samples[k:k + batch_size]
            for s, r in zip(chunk, proc.evaluate([s.atoms for s in chunk])):
                s.energy, s.forces, s.stress = float(r["energy"]), r["forces"], r["stress"]
    return list(samples)


def teacher_calculator_factory(teacher: str = "chgnet"):
    """(calculator, close) of ``teacher`` for ASE: CHGNet in process, others in the teacher venv."""
    if teacher == "chgnet":
        from chgnet.model import CHGNetCalculator

        return CHGNetCalculator(use_device="cpu"), (lambda: None)
    proc = TeacherProcess(teacher)
    return proc.calculator(), proc.close
