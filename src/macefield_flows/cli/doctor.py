"""``macefield doctor``: one command that checks an installation and says what to fix.

Checks, in order (each prints ``ok`` / ``warn`` / ``FAIL`` / ``skip``, a detail and, when
not ok, the fix):

- software: python, macefield-flows, torch, mace-torch, e3nn; torch.load's safe default;
- device: CUDA (a warning when absent: CPU runs are slower, not wrong);
- backends: e3nn evaluates a tiny model (energy, forces, Z*, chi finite; E(field)
  consistent with the dipole); cuEquivariance installed, and its parity with e3nn on
  the tiny model (float64, 1e-10);
- model (``--model``, default ``default``): resolved (registry / path), sha256 against
  the registry, loads (integrity), elements, heads and the head used by default, field
  blocks, dtype, backend;
- store (``--store``, default ``$MACEFIELD_STORE`` or ``~/.macefield/store``): reachable
  (a MongoDB is pinged), writable (a probe file in a store folder; a probe document in
  MongoDB, removed again);
- references: the shipped reference sets present and matching their manifest
  (``references.shipped.verify_shipped``), the benchmark set readable.

Exit status: 0 when no check failed (warnings allowed), 1 when any check failed, 2 with
``--strict`` when there were warnings but no failure.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
PARITY_TOLERANCE = 1e-10
STRICT_EXIT_CODE = 2


@dataclass
class Check:
    """One line of the report."""

    group: str
    name: str
    status: str
    detail: str = ""
    fix: str = ""


class Doctor:
    """Collects :class:`Check` results; every check catches its own errors."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def add(self, group: str, name: str, status: str, detail: str = "", fix: str = "") -> Check:
        check = Check(group, name, status, detail, fix)
        self.checks.append(check)
        return check

    def run(self, group: str, name: str, fn: Callable[[], tuple[str, str, str] | tuple[str, str]],
            fix_on_error: str = "") -> Optional[Check]:
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 (a doctor reports, it does not crash)
            return self.add(group, name, FAIL, f"{type(exc).__name__}: {exc}", fix_on_error)
        status, detail, *fix = out
        return self.add(group, name, status, detail, fix[0] if fix else "")

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.checks)

    @property
    def warned(self) -> bool:
        return any(c.status == WARN for c in self.checks)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def check_software(doc: Doctor) -> None:
    import macefield_flows

    doc.add("software", "python", OK, f"{platform.python_version()} ({platform.machine()})")
    doc.add("software", "macefield-flows", OK, macefield_flows.__version__)
    for dist, fix in (("torch", "pip install torch"), ("mace-torch", "pip install mace-torch==0.3.16"),
                      ("e3nn", "pip install e3nn==0.4.4")):
        found = _version(dist)
        doc.add("software", dist, OK if found else FAIL, found or "not installed", "" if found else fix)

    def safe_load() -> tuple[str, str, str]:
        import macefield_flows.model  # noqa: F401  (imports mace, then restores the variable)
        from macefield_flows.model._compat import KEEP_OVERRIDE_ENV, TORCH_LOAD_ENV

        value = os.environ.get(TORCH_LOAD_ENV)
        if not value:
            return OK, "torch.load keeps its safe default (weights_only=True)", ""
        return (WARN, f"{TORCH_LOAD_ENV}={value}: every torch.load without weights_only unpickles code",
                f"unset {TORCH_LOAD_ENV}" + (f" and {KEEP_OVERRIDE_ENV}" if os.environ.get(KEEP_OVERRIDE_ENV)
                                             else ""))
    doc.run("software", "torch.load", safe_load)


def check_device(doc: Doctor, device: str) -> None:
    def cuda() -> tuple[str, str, str]:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            return OK, f"{props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}", ""
        detail = f"no CUDA device (torch {torch.__version__}); the engine runs on the CPU"
        if device.startswith("cuda"):
            return FAIL, detail, "install a CUDA build of torch, or pass --device cpu"
        return WARN, detail, "for large screenings install a CUDA build of torch on a GPU machine"
    doc.run("device", "cuda", cuda)


def _tiny_e3nn_basis() -> Any:
    """Tiny random model with e3nn's symmetric-contraction basis (exact cueq parity)."""
    import torch

    from macefield_flows.testing import tiny_field_model

    return tiny_field_model(["Mg", "O"], seed=0, dtype=torch.float64, use_reduced_cg=False)


def _rocksalt() -> Any:
    import numpy as np
    from ase.build import bulk

    atoms = bulk("MgO", "rocksalt", a=4.2).repeat((1, 1, 2))
    atoms.positions += 0.05 * np.random.default_rng(0).standard_normal(atoms.positions.shape)
    return atoms


PARITY_PROPS = ("energy", "forces", "stress", "polarization", "born_charges", "epsilon_electronic",
                "force_constants")


def check_backends(doc: Doctor) -> None:
    import numpy as np

    state: dict[str, Any] = {}

    def e3nn() -> tuple[str, str, str]:
        from macefield_flows.engine import evaluate

        model, atoms = _tiny_e3nn_basis(), _rocksalt()
        start = time.perf_counter()
        res = evaluate([atoms], model, properties=PARITY_PROPS, device="cpu", electric_field=(0, 0, 0.01))[0]
        if not res.ok:
            return FAIL, res.error or "evaluation failed", "reinstall torch / mace-torch / e3nn"
        # the field derivative of the enthalpy is minus the dipole: check it by a central difference
        h = 1e-4
        plus, minus = (evaluate([atoms], model, properties=("energy",), device="cpu",
                                electric_field=(0, 0, 0.01 + s))[0].energy for s in (h, -h))
        dipole_z = res.polarization[2] * atoms.get_volume()
        fd = -(plus - minus) / (2 * h)
        state.update(model=model, atoms=atoms, ref=res)
        if abs(fd - dipole_z) > 1e-6 * max(1.0, abs(dipole_z)):
            return FAIL, f"-dF/dE_z = {fd:.8f} != dipole_z {dipole_z:.8f} e*A", "reinstall torch / mace-torch"
        return OK, f"tiny model: E, F, stress, P, Z*, chi, force constants in " \
                   f"{time.perf_counter() - start:.1f} s; -dF/dE = dipole to {abs(fd - dipole_z):.0e} e*A", ""
    doc.run("backends", "e3nn", e3nn, "reinstall torch / mace-torch / e3nn")

    from macefield_flows.model.backends import INSTALL_HINT, cueq_available

    ok, why = cueq_available()
    if not ok:
        doc.add("backends", "cueq", WARN, f"not installed ({why.splitlines()[0][:80]})", INSTALL_HINT.split(": ")[1])
        doc.add("backends", "cueq parity", SKIP, "cuEquivariance not installed")
        return
    doc.add("backends", "cueq", OK, f"cuequivariance-torch {why}")

    def parity() -> tuple[str, str, str]:
        from macefield_flows.engine import evaluate

        if "ref" not in state:
            return SKIP, "e3nn check failed", ""
        other = evaluate([state["atoms"]], state["model"], properties=PARITY_PROPS, device="cpu",
                         electric_field=(0, 0, 0.01), backend="cueq")[0]
        if not other.ok:
            return FAIL, other.error or "evaluation failed", "reinstall cuequivariance-torch"
        worst = max((float(np.max(np.abs(np.asarray(getattr(state["ref"], k)) - np.asarray(getattr(other, k))))),
                     k) for k in PARITY_PROPS)
        status = OK if worst[0] <= PARITY_TOLERANCE else FAIL
        return (status, f"max |cueq - e3nn| = {worst[0]:.1e} ({worst[1]}), tolerance {PARITY_TOLERANCE:.0e}",
                "" if status == OK else "use backend='e3nn'; report the versions of cuequivariance and mace")
    doc.run("backends", "cueq parity", parity)


def check_model(doc: Doctor, spec: str, trust_pickle: bool, backend: Optional[str]) -> None:
    from macefield_flows.model.registry import (
        is_default_spec,
        model_registry_path,
        read_registry,
        resolve_model_path,
    )

    fix_model = "pass --model PATH, or restore data/models/ (git checkout data/models)"
    resolved = doc.run("model", "file", lambda: (OK, str(resolve_model_path(spec, verify=False))), fix_model)
    if resolved is None or resolved.status != OK:
        for name in ("sha256", "loads", "elements", "heads", "field blocks", "dtype"):
            doc.add("model", name, SKIP, "no model file")
        return
    path = Path(resolved.detail)

    def sha() -> tuple[str, str, str]:
        from macefield_flows.model.registry import file_sha256

        digest = file_sha256(path)
        registry = model_registry_path()
        entries = read_registry(registry)["models"] if registry.is_file() else {}
        name = read_registry(registry).get("default") if is_default_spec(spec) and registry.is_file() else spec
        for key, entry in entries.items():
            if (registry.parent / entry.get("file", "")).resolve() == path.resolve():
                name = key
        entry = entries.get(name)
        if entry is None or not entry.get("sha256"):
            return OK, f"{digest[:16]}... (not in the registry: nothing to compare)", ""
        if digest == entry["sha256"]:
            return OK, f"{digest[:16]}... = registry entry {name!r}", ""
        return (FAIL, f"{digest[:16]}... != registry {entry['sha256'][:16]}... ({name!r}): altered or corrupt",
                "restore the file (git checkout data/models) or update the registry")
    doc.run("model", "sha256", sha)

    holder: dict[str, Any] = {}

    def load() -> tuple[str, str, str]:
        from macefield_flows.model import load_model

        holder["model"] = load_model(path, device="cpu", trust_pickle=trust_pickle, backend=backend)
        info = holder["model"].model_info
        return OK, f"{info.format} format, {info.num_parameters} parameters, r_max {info.r_max} A, " \
                   f"backend {info.backend}", ""
    doc.run("model", "loads", load, "the file is damaged or of an unknown format: restore or convert it "
                                     "(`macefield convert --trust-pickle` for published pickles you trust)")
    if "model" not in holder:
        for name in ("elements", "heads", "field blocks", "dtype"):
            doc.add("model", name, SKIP, "model did not load")
        return
    info = holder["model"].model_info
    doc.add("model", "elements", OK if info.elements else FAIL, f"{len(info.elements)}: "
            f"{', '.join(info.elements[:12])}{' ...' if len(info.elements) > 12 else ''}")

    def heads() -> tuple[str, str, str]:
        from macefield_flows.model.heads import HeadError, resolve_head

        try:
            head = resolve_head(info.heads, None, warn=False)
        except HeadError:
            return WARN, f"{info.heads}; none named 'default'", "pass --head NAME (screen) / head=... (Python)"
        return OK, f"{info.heads}; used without --head: {head!r}", ""
    doc.run("model", "heads", heads)
    doc.add("model", "field blocks", OK if info.has_field_blocks else WARN,
            "present (Z*, eps_inf, piezo available)" if info.has_field_blocks else
            "absent: energies and forces only",
            "" if info.has_field_blocks else "use a field-aware model (e.g. the default) for response properties")
    doc.add("model", "dtype", OK if info.dtype == "float64" else WARN, info.dtype,
            "" if info.dtype == "float64" else "the engine converts to float64 by default (dtype='float64')")


def check_store(doc: Doctor, spec: Optional[str]) -> None:
    from macefield_flows.stores.settings import STORE_ENV, default_store_dir

    spec = spec or os.environ.get(STORE_ENV) or "default"
    fix = "pass --store FOLDER or a reachable mongodb:// URI (or set MACEFIELD_STORE)"
    if spec.startswith(("mongodb://", "mongodb+srv://")):
        def mongo() -> tuple[str, str, str]:
            from macefield_flows.stores import get_jobstore

            get_jobstore(spec, connect=True)  # pings the server
            return OK, "MongoDB answered", ""
        reach = doc.run("store", "reachable", mongo, fix)

        def mongo_write() -> tuple[str, str, str]:
            from macefield_flows.stores import get_jobstore

            docs = get_jobstore(spec, connect=True).docs_store
            probe = {"uuid": f"macefield-doctor-probe-{os.getpid()}", "doctor_probe": True}
            docs.update([probe], key="uuid")
            docs.remove_docs({"uuid": probe["uuid"]})
            return OK, "probe document written and removed", ""
        if reach is not None and reach.status == OK:
            doc.run("store", "writable", mongo_write, "check the MongoDB user's write permission")
        else:
            doc.add("store", "writable", SKIP, "store not reachable")
        return
    if spec in ("memory", "jobflow"):
        doc.add("store", "reachable", OK, f"{spec} store")
        doc.add("store", "writable", SKIP, f"{spec} store")
        return
    folder = default_store_dir() if spec == "default" else Path(
        spec[5:] if spec.startswith("json:") else spec).expanduser()

    def reachable() -> tuple[str, str, str]:
        if folder.is_dir():
            return OK, f"{folder} (exists)", ""
        if folder.exists():
            return FAIL, f"{folder} is a file", fix
        parent = next((p for p in folder.parents if p.exists()), None)
        if parent is not None and os.access(parent, os.W_OK):
            return OK, f"{folder} (created on first use)", ""
        return FAIL, f"{folder} does not exist and cannot be created", fix
    reach = doc.run("store", "reachable", reachable, fix)

    def writable() -> tuple[str, str, str]:
        if not folder.is_dir():
            return OK, "will be created by the first screening", ""
        probe = folder / f".doctor-probe-{os.getpid()}"
        try:
            probe.write_text("probe")
        except OSError as exc:
            return WARN, f"read-only ({exc.strerror}): queries work, screenings cannot store", fix
        finally:
            probe.unlink(missing_ok=True)
        return OK, "probe file written and removed", ""
    if reach is not None and reach.status == OK:
        doc.run("store", "writable", writable, fix)
    else:
        doc.add("store", "writable", SKIP, "store not reachable")


def check_references(doc: Doctor) -> None:
    def shipped() -> tuple[str, str, str]:
        from macefield_flows.references.shipped import verify_shipped

        sets = verify_shipped()
        n = sum(int(info.get("n_entries", info.get("entries", 0)) or 0) for info in sets.values())
        return OK, f"{len(sets)} sets match their manifest ({', '.join(sorted(sets))})" + \
            (f", {n} entries" if n else ""), ""
    doc.run("references", "shipped sets", shipped,
            "restore data/references (git checkout data/references) or rebuild with "
            "workflows/build_shipped_references.py")

    def benchmark() -> tuple[str, str, str]:
        from macefield_flows.references.benchmark import load_benchmark_set

        entries = load_benchmark_set()
        return OK, f"{len(entries)} crystals (macefield demo)", ""
    doc.run("references", "benchmark set", benchmark, "restore data/benchmark_set.json (git checkout data)")

    def external() -> tuple[str, str, str]:
        from macefield_flows.references.paths import external_reference_dir

        found = external_reference_dir()
        if found is None:
            return OK, "none configured (the shipped sets are used)", ""
        return OK, f"{found}", ""
    doc.run("references", "external folder", external)


def diagnose(model: str = "default", store: Optional[str] = None, device: str = "auto",
             trust_pickle: bool = False, backend: Optional[str] = None) -> Doctor:
    """Run every check; returns the :class:`Doctor` with its :class:`Check` list."""
    doc = Doctor()
    check_software(doc)
    check_device(doc, device)
    check_backends(doc)
    check_model(doc, model, trust_pickle, backend)
    check_store(doc, store)
    check_references(doc)
    return doc
