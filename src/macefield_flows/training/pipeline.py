"""The two training stages (distillation, field fine-tuning) as plain functions over a work folder.

Work folder layout (``runs/<name>/``, git-ignored)::

    labels_train.json.gz, labels_valid.json.gz   CHGNet labels (cache)
    distill/state.pt, distill/best.pt            stage 1 checkpoints (resume / best valid)
    finetune/state.pt, finetune/best.pt          stage 2 checkpoints
    stages.json                                  wall time and settings of each stage
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from macefield_flows.training.data import Sample, load_split, material_key

logger = logging.getLogger(__name__)

PETRETTO = "petretto2018_dfpt_becs_epsinf_e3nn"
PETOUSIS = "mp_dielectric_petousis2017"


@dataclass
class DataSettings:
    """Which structures each stage uses (all from train splits; valid for early stopping)."""

    max_atoms: int = 10
    n_train_structures: int = 450
    n_valid_structures: int = 80
    n_copies_train: int = 2
    n_copies_valid: int = 1
    rattle: float = 0.04
    strain: float = 0.02
    seed: int = 0


def _pool(split: str, max_atoms: int) -> list[Sample]:
    """Petretto rows, then Petousis rows of materials not already present (one per material key)."""
    out, seen = [], set()
    for dataset in (PETRETTO, PETOUSIS):
        for s in load_split(dataset, split, max_atoms=max_atoms, for_training=(split == "train")):
            key = material_key(s.meta["reduced_formula"], s.meta["space_group"])
            if key in seen:
                # the same material with eps from Petousis: attach it if Petretto has none
                continue
            seen.add(key)
            out.append(s)
    return out


def select_structures(split: str, settings: DataSettings) -> list[Sample]:
    """A seeded random subset of the (deduplicated) pool of ``split``."""
    pool = _pool(split, settings.max_atoms)
    n = settings.n_train_structures if split == "train" else settings.n_valid_structures
    rng = np.random.default_rng(settings.seed + (0 if split == "train" else 1))
    idx = np.sort(rng.permutation(len(pool))[: min(n, len(pool))])
    return [pool[i] for i in idx]


def distillation_labels(work: Path, settings: DataSettings) -> dict[str, Any]:
    """Label train/valid structures (+ perturbed copies) with CHGNet, cached in ``work``."""
    from macefield_flows.training.labels import cached_chgnet_labels, perturbed_copies

    info: dict[str, Any] = {}
    for split in ("train", "valid"):
        base = select_structures(split, settings)
        n_copies = settings.n_copies_train if split == "train" else settings.n_copies_valid
        copies = perturbed_copies(base, n_copies=n_copies, rattle=settings.rattle,
                                  strain=settings.strain, seed=settings.seed)
        _, seconds = cached_chgnet_labels(copies, work / f"labels_{split}.json.gz")
        info[split] = {"structures": len(base), "labelled": len(copies), "seconds": seconds}
    return info


def extra_distillation_labels(work: Path, settings: DataSettings, n_copies: int = 1) -> dict[str, Any]:
    """Label the rest of the train pool (materials not in ``labels_train``) + ``n_copies`` copies each."""
    from macefield_flows.training.labels import cached_chgnet_labels, perturbed_copies

    chosen = {s.name for s in select_structures("train", settings)}
    rest = [s for s in _pool("train", settings.max_atoms) if s.name not in chosen]
    copies = perturbed_copies(rest, n_copies=n_copies, rattle=settings.rattle, strain=settings.strain,
                              seed=settings.seed + 1)
    _, seconds = cached_chgnet_labels(copies, work / "labels_train_extra.json.gz")
    return {"structures": len(rest), "labelled": len(copies), "seconds": seconds}


def more_distillation_labels(work: Path, settings: DataSettings, max_atoms: int = 12,
                             rattle: float = 0.06, tag: str = "extra2") -> dict[str, Any]:
    """One more perturbed copy of every train-pool material up to ``max_atoms`` atoms (plus the
    unperturbed structure of materials not labelled yet), stored as ``labels_train_<tag>``."""
    from macefield_flows.training.labels import cached_chgnet_labels, perturbed_copies

    done = {s.name for s in train_labels(work)}
    pool = _pool("train", max_atoms)
    new = [s for s in pool if s.name not in done]
    copies = perturbed_copies(pool, n_copies=1, rattle=rattle, strain=settings.strain,
                              seed=settings.seed + 2, keep_original=False)
    copies = [Sample(atoms=c.atoms, name=c.name + tag, dataset=c.dataset, split=c.split, meta=c.meta)
              for c in copies]
    todo = perturbed_copies(new, n_copies=0, seed=0) + copies
    _, seconds = cached_chgnet_labels(todo, work / f"labels_train_{tag}.json.gz")
    return {"structures": len(pool), "new_materials": len(new), "labelled": len(todo), "seconds": seconds}


def train_labels(work: Path) -> list[Sample]:
    """CHGNet-labelled train structures: ``labels_train`` plus every ``labels_train_*`` file."""
    from macefield_flows.training.labels import load_labels

    out = load_labels(work / "labels_train.json.gz")
    for extra in sorted(work.glob("labels_train_*.json.gz")):
        out += load_labels(extra)
    return out


DFPT_TRAIN_SETS = ["petretto2018_dfpt_becs_epsinf_e3nn:train", "mp_dielectric_petousis2017:train"]
"""The DFPT sets whose train rows every shipped model's field training used (provenance)."""


def read_stages(work: Path) -> dict[str, Any]:
    """``work/stages.json`` (stage -> record), or ``{}`` when the folder has none."""
    path = Path(work) / "stages.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def record_stage(work: Path, stage: str, payload: dict[str, Any]) -> None:
    """Merge ``payload`` into ``work/stages.json`` under ``stage``."""
    path = work / "stages.json"
    data = read_stages(work)
    data.setdefault(stage, {}).update(payload)
    path.write_text(json.dumps(data, indent=1, default=str))


def main_labels(work: str, **kw: Any) -> None:
    work_p = Path(work)
    work_p.mkdir(parents=True, exist_ok=True)
    settings = DataSettings(**kw)
    t0 = time.time()
    info = distillation_labels(work_p, settings)
    record_stage(work_p, "labels", {"settings": asdict(settings), "info": info,
                                    "wall_s": time.time() - t0})


# ---------------------------------------------------------------------------- model
@dataclass
class ArchSettings:
    """Architecture of the small model (a 2-layer MACE with one field-coupling block)."""

    r_max: float = 5.0
    channels: int = 16
    max_ell: int = 2
    correlation: int = 2
    num_interactions: int = 2
    num_bessel: int = 8
    mlp_irreps: str = "16x0e"
    radial_mlp: tuple[int, ...] = (32, 32)


def fit_e0s(samples: list[Sample], z_table: list[int]) -> np.ndarray:
    """Least-squares atomic reference energies (eV) from total energies vs composition."""
    col = {z: i for i, z in enumerate(z_table)}
    a = np.zeros((len(samples), len(z_table)))
    for r, s in enumerate(samples):
        for z in s.atoms.get_atomic_numbers():
            a[r, col[int(z)]] += 1
    e = np.array([s.energy for s in samples])
    e0, *_ = np.linalg.lstsq(a, e, rcond=None)
    return e0


def base_model_config(samples: list[Sample], z_table: list[int], arch: ArchSettings) -> dict[str, Any]:
    """JSON config of the base (no field blocks) model with data-derived E0s, scale, neighbours."""
    from macefield_flows.model.graph import atoms_to_graph

    e0 = fit_e0s(samples, z_table)
    forces = np.concatenate([s.forces.ravel() for s in samples])
    n_edges = sum(atoms_to_graph(s.atoms, z_table, arch.r_max).n_edges for s in samples)
    n_atoms = sum(s.n_atoms for s in samples)
    c = arch.channels
    return {
        "r_max": float(arch.r_max), "num_bessel": arch.num_bessel, "num_polynomial_cutoff": 5,
        "max_ell": arch.max_ell,
        "interaction_cls": "RealAgnosticResidualInteractionBlock",
        "interaction_cls_first": "RealAgnosticResidualInteractionBlock",
        "num_interactions": arch.num_interactions, "num_elements": len(z_table),
        "hidden_irreps": f"{c}x0e+{c}x1o", "MLP_irreps": arch.mlp_irreps, "gate": "silu",
        "atomic_energies": e0.tolist(), "avg_num_neighbors": float(n_edges / n_atoms),
        "atomic_numbers": list(z_table), "correlation": arch.correlation, "radial_type": "bessel",
        "radial_MLP": list(arch.radial_mlp),
        "atomic_inter_scale": float(np.sqrt(np.mean(forces**2))), "atomic_inter_shift": 0.0,
        "heads": ["Default"], "field_coupling": False,
    }


# ---------------------------------------------------------------------------- stages
def _z_table(work: Path, settings: DataSettings) -> list[int]:
    """Elements of the model: those of the labelled train structures and the response train set."""
    from macefield_flows.training.data import elements_of
    from macefield_flows.training.labels import load_labels

    train = load_labels(work / "labels_train.json.gz")
    return sorted(set(elements_of(train)) | set(elements_of(response_structures("train", settings))))


def response_structures(split: str, settings: DataSettings, n: Optional[int] = None) -> list[Sample]:
    """Born-charge + eps_inf rows (Petretto) then eps_inf-only rows (Petousis, other materials)."""
    pool = _pool(split, settings.max_atoms)
    n = n if n is not None else len(pool)
    rng = np.random.default_rng(settings.seed + 7)
    bec = [s for s in pool if s.born_charges is not None]
    eps_only = [s for s in pool if s.born_charges is None and s.eps_electronic is not None]
    order = [bec[i] for i in rng.permutation(len(bec))] + [eps_only[i] for i in rng.permutation(len(eps_only))]
    return order[:n]


def run_distill(work: str | Path, arch: ArchSettings, cfg, settings: DataSettings) -> dict[str, Any]:
    """Stage 1: train the base MACE (no field blocks) on CHGNet energies, forces, stresses."""
    import torch

    from macefield_flows.model.config import build_field_mace
    from macefield_flows.model.io import load_model
    from macefield_flows.training.labels import TEACHER, load_labels
    from macefield_flows.training.trainer import make_items, train

    work = Path(work)
    train_s = train_labels(work)
    valid_s = load_labels(work / "labels_valid.json.gz")
    state_path = work / "distill" / "state.pt"
    if state_path.is_file():  # resuming: the architecture, z table, E0s and scales of the run
        config = torch.load(state_path, map_location="cpu", weights_only=True)["config"]
        z = [int(v) for v in config["atomic_numbers"]]
        train_s = [s for s in train_s if set(int(v) for v in s.atoms.get_atomic_numbers()) <= set(z)]
    else:
        z = _z_table(work, settings)
        config = base_model_config(train_s, z, arch)
    torch.manual_seed(cfg.seed)
    model = build_field_mace(config, dtype=getattr(torch, cfg.dtype))
    t0 = time.time()
    summary = train(model, make_items(train_s, z, arch.r_max, "efs"),
                    make_items(valid_s, z, arch.r_max, "efs"), cfg, work / "distill",
                    metadata={"stage": "distill", "teacher": TEACHER})
    record_stage(work, "distill", {"arch": asdict(arch), "train": asdict(cfg),
                                   "n_train": len(train_s), "n_valid": len(valid_s),
                                   "wall_s_total": summary["wall_s"], "epochs": summary["epochs"],
                                   "steps": summary["steps"], "wall_s_this_call": time.time() - t0,
                                   "last": summary["history"][-1] if summary["history"] else None})
    return summary


def to_field_model(base, seed: int = 0, field_init_scale: float = 1.0):
    """``FieldMACE.from_foundation`` of the distilled base (built without field blocks).

    ``from_foundation`` always adds the field blocks. The random ``field_linear`` weights are scaled by
    ``field_init_scale`` (1 by default: a first try with 10 started at eps_inf
    errors of ~80 and Adam needed thousands of steps to shrink the weights).
    """
    import torch

    from macefield_flows.model.field_mace import FieldMACE

    model = FieldMACE.from_foundation(base, seed=seed)
    with torch.no_grad():
        for lin in model.field_linear:
            lin.weight.mul_(field_init_scale)
    return model


def _response_training_data(model, labels_work: Path, train_settings: DataSettings,
                            n_response: Optional[int], n_response_valid: int) -> dict[str, Any]:
    """Items of a field fine-tuning run: train response rows, valid rows (+ CHGNet valid
    labels) and the replay of CHGNet train labels, restricted to the model's elements."""
    from macefield_flows.training.data import check_training_samples
    from macefield_flows.training.labels import load_labels
    from macefield_flows.training.trainer import make_items

    z = [int(v) for v in model.atomic_numbers.tolist()]
    r_max = float(model.r_max)
    resp_train = [s for s in response_structures("train", train_settings, n_response)
                  if set(s.atoms.get_atomic_numbers()) <= set(z)]
    check_training_samples(resp_train)
    valid_settings = DataSettings()  # the same valid rows for every run (comparable early stopping)
    resp_valid = [s for s in response_structures("valid", valid_settings, None)
                  if set(s.atoms.get_atomic_numbers()) <= set(z)]
    rng = np.random.default_rng(valid_settings.seed + 11)
    resp_valid = [resp_valid[i] for i in np.sort(rng.permutation(len(resp_valid))[:n_response_valid])]
    replay = [s for s in train_labels(labels_work) if set(int(v) for v in s.atoms.get_atomic_numbers()) <= set(z)]
    replay_valid = load_labels(labels_work / "labels_valid.json.gz")
    return {
        "train": make_items(resp_train, z, r_max, "response"),
        "valid": make_items(resp_valid, z, r_max, "response") + make_items(replay_valid, z, r_max, "efs"),
        "replay": make_items(replay, z, r_max, "efs"),
        "counts": {"n_response_train": len(resp_train), "n_response_valid": len(resp_valid),
                   "n_replay": len(replay)},
    }


def _train_field_stage(work: Path, stage: str, model, data: dict[str, Any], cfg,
                       extra: dict[str, Any]) -> dict[str, Any]:
    from macefield_flows.training.labels import TEACHER
    from macefield_flows.training.trainer import train

    t0 = time.time()
    summary = train(model, data["train"], data["valid"], cfg, work / "finetune",
                    replay_items=data["replay"], metadata={"stage": stage, "teacher": TEACHER})
    record_stage(work, stage, {"train": asdict(cfg), **data["counts"], **extra,
                               "wall_s_total": summary["wall_s"], "epochs": summary["epochs"],
                               "steps": summary["steps"], "wall_s_this_call": time.time() - t0,
                               "last": summary["history"][-1] if summary["history"] else None})
    return summary


def run_finetune(work: str | Path, cfg, settings: DataSettings, n_response: int = 600,
                 n_response_valid: int = 120) -> dict[str, Any]:
    """Stage 2: field fine-tuning on Z* and eps_inf (train split) with replay of the CHGNet labels."""
    from macefield_flows.model.io import load_model

    work = Path(work)
    model = to_field_model(load_model(work / "distill" / "best.pt", dtype=cfg.dtype), seed=cfg.seed)
    data = _response_training_data(model, work, settings, n_response, n_response_valid)
    return _train_field_stage(work, "finetune", model, data, cfg, {})


REFINE_SETTINGS = dict(lr=4e-3, backbone_lr_factor=0.25, w_energy=10.0, w_bec=10.0, w_eps=3.0,
                       delta_eps=1.0, replay_fraction=1.0, plateau_patience=4, seed=1)
"""Stage-3 settings (macefield-small-v2): gentler backbone lr than stage 2 (which raised the
force error), Born-charge and eps_inf terms weighted up, one replay batch per response batch."""


def run_refine(work: str | Path, source: str | Path, cfg, settings: DataSettings = DataSettings(max_atoms=12),
               n_response_valid: int = 120) -> dict[str, Any]:
    """Stage 3: continue field fine-tuning from ``source``'s best stage-2 model.

    Uses every train response row up to ``settings.max_atoms`` atoms and the CHGNet labels
    of ``source`` (not copied); checkpoints go to ``work/finetune`` (so ``export`` and
    ``evaluate`` work on ``work`` as on a stage-2 folder) and the stage records of
    ``source`` are carried into ``work/stages.json``.
    """
    from macefield_flows.model.io import load_model

    work, source = Path(work), Path(source)
    work.mkdir(parents=True, exist_ok=True)
    previous = read_stages(source)
    for stage, payload in previous.items():
        if stage != "refine":
            record_stage(work, stage, payload)
    model = load_model(source / "finetune" / "best.pt", dtype=cfg.dtype)
    data = _response_training_data(model, source, settings, None, n_response_valid)
    return _train_field_stage(work, "refine", model, data, cfg,
                              {"source": str(source), "work": str(work), "max_atoms": settings.max_atoms})


def run_all(work: str | Path, distill_wall_s: float = 1500.0, finetune_wall_s: float = 1800.0,
            arch: Optional[ArchSettings] = None, settings: Optional[DataSettings] = None) -> None:
    """Labels -> distillation -> fine-tuning, each resumable; budgets are per call."""
    from macefield_flows.training.trainer import TrainSettings

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    settings = settings or DataSettings()
    arch = arch or ArchSettings()
    t0 = time.time()
    info = distillation_labels(work, settings)
    if any(v["seconds"] for v in info.values()):
        record_stage(work, "labels", {"settings": asdict(settings), "info": info,
                                      "wall_s": time.time() - t0})
    run_distill(work, arch, TrainSettings(lr=5e-3, w_energy=10.0, max_wall_s=distill_wall_s), settings)
    run_finetune(work, TrainSettings(lr=3e-2, backbone_lr_factor=0.5, w_energy=10.0, w_eps=1.0, delta_eps=1.0,
                                     max_wall_s=finetune_wall_s, replay_fraction=0.75),
                 settings)



# ---------------------------------------------------------------------------- export / evaluate
def export_model(work: str | Path, name: str = "macefield-small-v1",
                 models_dir: Optional[str | Path] = None, register: bool = True) -> dict[str, Any]:
    """Best-valid fine-tuned model -> ``data/models/<name>.pt`` (float64) + registry entry."""
    from macefield_flows.training.labels import TEACHER

    work = Path(work)
    entry = export_model_file(work / "finetune" / "best.pt", name, TEACHER,
                              [*DFPT_TRAIN_SETS, "CHGNet labels (project-generated)"], read_stages(work),
                              models_dir, register)
    (work / "export.json").write_text(json.dumps(entry, indent=1))
    return entry


def export_model_file(model_path: str | Path, name: str, teacher: str, training_data: list[str],
                      stages: dict[str, Any], models_dir: Optional[str | Path] = None,
                      register: bool = True) -> dict[str, Any]:
    """A trained model file -> ``<models_dir>/<name>.pt`` (float64, provenance metadata) + registry entry
    (the registry default when ``register``); returns the entry."""
    from macefield_flows.model.io import describe_model, load_model, save_model
    from macefield_flows.training.registry import MODELS_DIR, register_model

    models_dir = Path(models_dir) if models_dir else MODELS_DIR
    model = load_model(model_path, dtype="float64")
    info = describe_model(model)
    meta = {
        "name": name, "card": "docs/model_card.md", "teacher": teacher, "training_data": training_data,
        "best_epoch_finetune": model.model_info.metadata.get("epoch"),
        "valid_finetune": model.model_info.metadata.get("valid"),
        "wall_s": {k: v.get("wall_s_total", v.get("wall_s")) for k, v in stages.items()},
        "dtype_trained": "float32",
    }
    path = models_dir / f"{name}.pt"
    sha = save_model(model, path, metadata=meta)
    entry = {"name": name, "file": path.name, "sha256": sha, "size_bytes": path.stat().st_size,
             "num_parameters": info.num_parameters, "elements": info.elements, "dtype": "float64",
             "r_max": info.r_max}
    register_model(name, path, sha, "docs/model_card.md", default=register,
                   extra={k: entry[k] for k in ("size_bytes", "num_parameters", "elements", "dtype")},
                   path=models_dir / "registry.json")
    return entry


def evaluate_work(work: str | Path, model_path: Optional[str | Path] = None, max_atoms: int = 12,
                  max_relax: Optional[int] = None, teacher_stability: int = 0,
                  teacher: str = "chgnet", out_name: str = "eval.json") -> dict[str, Any]:
    """Test-split report of the exported (or given) model, saved as ``work/eval.json``."""
    from macefield_flows.model.io import load_model
    from macefield_flows.training.evaluate import evaluate_model, teacher_phonon_stability

    work = Path(work)
    if model_path is None:
        entry = json.loads((work / "export.json").read_text())
        from macefield_flows.training.registry import MODELS_DIR
        model_path = MODELS_DIR / entry["file"]
    model = load_model(model_path, dtype="float64")
    report = evaluate_model(model, max_atoms=max_atoms, max_relax=max_relax, teacher=teacher)
    if teacher_stability:
        t0 = time.time()
        ion_set = [s for s in load_split(PETOUSIS, "test", max_atoms=max_atoms)
                   if set(int(z) for z in s.atoms.get_atomic_numbers()) <= set(model.atomic_numbers.tolist())]
        report["teacher_stability"] = teacher_phonon_stability(ion_set[:teacher_stability], teacher=teacher)
        report["timings_s"]["teacher_stability"] = time.time() - t0
    report["model_sha256"] = model.model_info.sha256
    (work / out_name).write_text(json.dumps(report, indent=1, default=lambda o: o.tolist()
                                               if hasattr(o, "tolist") else str(o)))
    return report


def write_model_card(work: str | Path, card_path: Optional[str | Path] = None, notes: str = "") -> Path:
    """docs/model_card.md from ``work/{export,stages,eval}.json``."""
    from macefield_flows.training.card import load_json, write_card
    from macefield_flows.training.registry import REPO_ROOT

    work = Path(work)
    card_path = Path(card_path) if card_path else REPO_ROOT / "docs" / "model_card.md"
    return write_card(card_path, load_json(work / "export.json"), load_json(work / "stages.json"),
                      load_json(work / "eval.json"), notes)


if __name__ == "__main__":  # pragma: no cover
    import sys

    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_all(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
