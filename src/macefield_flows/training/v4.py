"""The v4 campaign stages over a work folder (resumable; state committed under ``campaign/v4``).

Work folder layout (``runs/v4/``, git-ignored)::

    labels/{valid,train}-NNN.npz    SevenNet-0 labels (EFS, HVP, polar paths), chunked
    distill/state.pt, best.pt       distillation (64 channels, float32)
    field/{frozen,joint}/*.pt       field training (``frozen`` then ``joint``)
    stages.json                     wall time, settings and last metrics of every stage call
    check-<model>.json              textbook checks

``snapshot`` copies what the next session needs into ``campaign/v4/`` (labels, the last
checkpoint of each stage, stages.json); ``campaign/v4/assemble.sh`` copies it back.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Optional

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
CAMPAIGN = REPO_ROOT / "campaign" / "v4"


def record(work: Path, stage: str, payload: dict[str, Any]) -> None:
    """Append ``payload`` (with a UTC time stamp) to ``work/stages.json[stage]['calls']``."""
    from macefield_flows.training.pipeline import read_stages

    path = work / "stages.json"
    data = read_stages(work)
    entry = data.setdefault(stage, {"calls": []})
    entry["calls"].append(dict(payload, utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    entry["wall_s_total"] = sum(float(c.get("wall_s", 0.0)) for c in entry["calls"])
    path.write_text(json.dumps(data, indent=1, default=str))


def run_labels(work: Path, wall: Optional[float] = None) -> dict[str, Any]:
    """Teacher labels chunk by chunk (resumable); each chunk's wall time goes into stages.json."""
    from macefield_flows.training.curvature_labels import LabelSettings, generate_labels

    work.mkdir(parents=True, exist_ok=True)
    settings = LabelSettings()

    def on_chunk(path: Path, seconds: float) -> None:
        record(work, "labels", {"chunk": path.name, "wall_s": seconds})

    t0 = time.time()
    summary = generate_labels(work / "labels", settings, max_wall_s=wall, on_chunk=on_chunk)
    summary["wall_s_call"] = time.time() - t0
    summary["settings"] = asdict(settings)
    return summary


def snapshot(work: Path, dest: Path = CAMPAIGN) -> list[str]:
    """Copy labels, the last checkpoints and stages.json of ``work`` into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for sub in ("labels",):
        for path in sorted((work / sub).glob("*")):
            if path.name.endswith(".tmp.npz"):
                continue
            target = dest / sub / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_file() or target.stat().st_size != path.stat().st_size:
                shutil.copy2(path, target)
                copied.append(str(target))
    field_stages = sorted(f"field/{d.name}" for d in (work / "field").glob("*") if d.is_dir())
    data_curve = sorted(d.name for d in work.glob("distill-*") if d.is_dir())
    for stage in ("distill", *field_stages, *data_curve):
        # distillation resumes from its optimiser state; a field phase restarts from a best.pt
        # (``v4-field --start``), so only its model and its history (JSON) are kept; the
        # data-subset runs (learning curve over data) keep their history only: small commits
        keep = ("state.pt", "best.pt") if stage == "distill" else () if stage in data_curve else ("best.pt",)
        for name in keep:
            src = work / stage / name
            if src.is_file():
                target = dest / stage / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
                copied.append(str(target))
        if stage != "distill" and (work / stage / "state.pt").is_file():
            import torch

            state = torch.load(work / stage / "state.pt", map_location="cpu", weights_only=True)["state"]
            target = dest / stage / "history.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(state["history"], indent=1))
            copied.append(str(target))
    for name in ("stages.json",):
        if (work / name).is_file():
            shutil.copy2(work / name, dest / name)
            copied.append(str(dest / name))
    for path in [*work.glob("check-*.json"), *work.glob("compare-*.json"), *work.glob("eval-*.json"),
                 *work.glob("teacher-stability-*.json")]:
        shutil.copy2(path, dest / path.name)
        copied.append(str(dest / path.name))
    return copied


# ---------------------------------------------------------------------------- distillation
def v4_arch():
    """64 channels (the issue's item 4); the rest as v3."""
    from macefield_flows.training.pipeline import ArchSettings

    return ArchSettings(channels=64, mlp_irreps="16x0e", radial_mlp=(32, 32))


def distill_settings(wall: float):
    from macefield_flows.training.trainer import TrainSettings

    return TrainSettings(lr=5e-3, batch_size=8, w_energy=10.0, w_forces=10.0, w_stress=100.0, w_hvp=0.5,
                         delta_hvp=0.05, max_wall_s=wall, checkpoint_every=50, dtype="float32",
                         plateau_patience=3, max_batches_per_epoch=300, device="cpu")


def _label_items(work: Path, split: str, z: list[int], r_max: float, max_chunks: Optional[int] = None):
    """EFS items (without the +-h HVP points) and HVP items of ``split``, restricted to ``z``
    (and to the first ``max_chunks`` label chunks when given)."""
    from macefield_flows.training.curvature_labels import load_label_dir
    from macefield_flows.training.data import check_training_samples
    from macefield_flows.training.trainer import make_hvp_items, make_items

    chunk = load_label_dir(work / "labels", split, max_chunks)
    if split == "train":
        check_training_samples(chunk.samples)
    ok = [set(int(v) for v in s.atoms.get_atomic_numbers()) <= set(z) for s in chunk.samples]
    efs = [s for s, good in zip(chunk.samples, ok) if good and s.meta.get("kind") != "hvp_point"]
    hvps = [h for h in chunk.hvps if ok[h.index]]
    return make_items(efs, z, r_max, "efs"), make_hvp_items(chunk.samples, hvps, z, r_max), chunk


def model_elements(work: Path) -> list[int]:
    """Elements of the labelled train structures (E0s and scales need labels for every element).

    A model is built once, at the first distillation call; labels of other elements that land
    later are skipped by a resumed run (restart the stage from scratch to include them).
    """
    from macefield_flows.training.curvature_labels import load_label_dir
    from macefield_flows.training.data import elements_of

    return elements_of(load_label_dir(work / "labels", "train").samples)


def run_distill(work: Path, wall: float, train_chunks: Optional[int] = None, max_epochs: Optional[int] = None,
                name: str = "distill") -> dict[str, Any]:
    """Distil the teacher's labels (EFS + HVP) into a 64-channel backbone; resumes from state.pt.

    The learning curve over data: ``train_chunks=k`` trains on the first k train label chunks (a
    random material-level subset of k x 100 materials) in ``work/<name>`` with the main
    distillation's model config (same element table, E0s and scales, so the valid set and the
    architecture are identical and only the training data differ), for ``max_epochs`` epochs.
    """
    import torch

    from macefield_flows.model.config import build_field_mace
    from macefield_flows.training.curvature_labels import load_label_dir
    from macefield_flows.training.pipeline import base_model_config
    from macefield_flows.training.teacher import TEACHER_NAME
    from macefield_flows.training.trainer import train

    arch = v4_arch()
    cfg = distill_settings(wall)
    if max_epochs is not None:
        cfg = replace(cfg, max_epochs=max_epochs)
    if train_chunks is not None and name == "distill":
        raise ValueError("a data-subset run needs its own name (e.g. distill-c4), not 'distill'")
    state_path = work / name / "state.pt"
    main_state = work / "distill" / "state.pt"
    if not state_path.is_file() and train_chunks is not None:
        if not main_state.is_file():
            raise FileNotFoundError(f"{main_state}: the subset runs reuse the main distillation's model config")
        state_path = main_state  # config only; the weights start fresh below
    if state_path.is_file():
        config = torch.load(state_path, map_location="cpu", weights_only=True)["config"]
        z = [int(v) for v in config["atomic_numbers"]]
    else:
        z = model_elements(work)
        if not z:
            raise ValueError(f"no train labels under {work / 'labels'}: run `macefield train v4-labels` first")
        train_samples = [s for s in load_label_dir(work / "labels", "train").samples
                         if s.meta.get("kind") != "hvp_point"]
        config = base_model_config(train_samples, z, arch)
    torch.manual_seed(cfg.seed)
    model = build_field_mace(config, dtype=torch.float32)
    train_efs, train_hvp, _ = _label_items(work, "train", z, arch.r_max, train_chunks)
    valid_efs, valid_hvp, _ = _label_items(work, "valid", z, arch.r_max)
    t0 = time.time()
    summary = train(model, train_efs + train_hvp, valid_efs + valid_hvp, cfg, work / name,
                    metadata={"stage": f"v4-{name}", "teacher": TEACHER_NAME})
    last = summary["history"][-1] if summary["history"] else None
    record(work, name, {"wall_s": time.time() - t0, "train_chunks": train_chunks, "n_train_efs": len(train_efs),
                             "n_train_hvp": len(train_hvp), "n_valid_efs": len(valid_efs),
                             "n_valid_hvp": len(valid_hvp), "epochs": summary["epochs"],
                             "steps": summary["steps"], "train_wall_s_total": summary["wall_s"],
                             "arch": asdict(arch), "settings": asdict(cfg), "last_epoch": last})
    return summary


# ---------------------------------------------------------------------------- field training
FIELD_TOLERANCE = 0.10
"""Joint field training stops when the valid force MAE or HVP MAE exceeds the distilled backbone's
by more than this fraction (the potential must not be traded for the field response)."""


def field_settings(stage: str, wall: float, backbone_lr_factor: float = 0.05, w_eps: float = 3.0,
                   lr: Optional[float] = None, w_bec: float = 10.0):
    """Settings of a field stage; ``lr`` (default 3e-2 frozen, 4e-3 joint) is the field blocks' rate, the
    backbone's is ``lr * backbone_lr_factor`` (joint only)."""
    from macefield_flows.training.trainer import TrainSettings

    common = dict(batch_size=8, w_energy=10.0, w_bec=w_bec, w_eps=w_eps, delta_eps=1.0, w_hvp=0.5,
                  delta_hvp=0.05, max_wall_s=wall, checkpoint_every=100, dtype="float32", device="cpu",
                  plateau_patience=3, seed=1, max_batches_per_epoch=150)
    if stage == "frozen":
        return TrainSettings(lr=3e-2 if lr is None else lr, freeze_backbone=True, replay_fraction=0.0, **common)
    if stage == "joint":
        return TrainSettings(lr=4e-3 if lr is None else lr, backbone_lr_factor=backbone_lr_factor, replay_fraction=1.0, **common)
    raise ValueError(f"stage={stage!r}, expected 'frozen' or 'joint'")


def _response_items(z: list[int], r_max: float, n_valid: int = 120):
    from macefield_flows.training.data import check_training_samples
    from macefield_flows.training.pipeline import DataSettings, response_structures
    from macefield_flows.training.trainer import make_items

    import numpy as np

    settings = DataSettings(max_atoms=12)
    ok = lambda s: set(int(v) for v in s.atoms.get_atomic_numbers()) <= set(z)  # noqa: E731
    train = [s for s in response_structures("train", settings) if ok(s)]
    check_training_samples(train)
    valid = [s for s in response_structures("valid", settings) if ok(s)]
    rng = np.random.default_rng(11)
    valid = [valid[i] for i in np.sort(rng.permutation(len(valid))[:n_valid])]
    return make_items(train, z, r_max, "response"), make_items(valid, z, r_max, "response")


def run_field(work: Path, stage: str, wall: float, tolerance: float = FIELD_TOLERANCE,
              backbone_lr_factor: float = 0.05, start: Optional[Path] = None,
              name: Optional[str] = None, w_eps: float = 3.0, lr: Optional[float] = None,
              w_bec: float = 10.0) -> dict[str, Any]:
    """Field stage ``frozen`` (field blocks only) or ``joint`` (small backbone lr, full replay, guard).

    A frozen backbone learns Z* but hardly eps_inf (chi needs the E^2 terms of the backbone's
    product basis and readout: measured eps_inf ~ 1 after the frozen stage), so eps_inf is learned
    in the joint stage; ``backbone_lr_factor`` scales the backbone's learning rate there.
    ``start`` (joint only): begin from this model file instead of ``field/frozen/best.pt``;
    ``name``: folder under ``field/`` and stage name in stages.json (default: ``stage``), so a
    second joint phase (e.g. from ``field/joint/best.pt`` at a smaller backbone rate) keeps the
    first one's checkpoints and record. ``tolerance``: the guard's allowed fractional rise of the
    valid force / HVP MAE over the distilled backbone's; ``w_eps``, ``w_bec``: weights of the eps_inf
    and Z* losses; ``lr``: the field blocks' learning rate (see :func:`field_settings`).
    """
    import torch

    from macefield_flows.model.io import load_model
    from macefield_flows.training.pipeline import to_field_model
    from macefield_flows.training.teacher import TEACHER_NAME
    from macefield_flows.training.trainer import evaluate_loss, train

    cfg = field_settings(stage, wall, backbone_lr_factor, w_eps, lr, w_bec)
    name = name or stage
    folder = work / "field" / name
    if stage == "frozen":
        model = to_field_model(load_model(work / "distill" / "best.pt", dtype="float32"), seed=cfg.seed)
    else:
        model = load_model(start or work / "field" / "frozen" / "best.pt", dtype="float32")
    z = [int(v) for v in model.atomic_numbers.tolist()]
    r_max = float(model.r_max)
    resp_train, resp_valid = _response_items(z, r_max)
    train_efs, train_hvp, _ = _label_items(work, "train", z, r_max)
    valid_efs, valid_hvp, _ = _label_items(work, "valid", z, r_max)
    guard = None
    reference: dict[str, float] = {}
    if stage == "joint":
        base = load_model(work / "distill" / "best.pt", dtype="float32")
        base.num_elements_ = len(z)
        reference = evaluate_loss(base, valid_efs + valid_hvp, cfg, torch.device("cpu"), torch.float32)

        def guard(rec: dict[str, Any]) -> Optional[str]:
            for key in ("f_mae", "hvp_mae"):
                if rec.get(f"valid_{key}", 0.0) > (1 + tolerance) * reference[key]:
                    return (f"valid {key} {rec[f'valid_{key}']:.4f} > (1 + {tolerance}) x distilled "
                            f"{reference[key]:.4f}")
            return None
    t0 = time.time()
    summary = train(model, resp_train, resp_valid + (valid_efs + valid_hvp if stage == "joint" else []), cfg,
                    folder, replay_items=train_efs + train_hvp if stage == "joint" else (),
                    metadata={"stage": f"v4-field-{name}", "teacher": TEACHER_NAME}, guard=guard)
    last = summary["history"][-1] if summary["history"] else None
    record(work, f"field-{name}", {"wall_s": time.time() - t0, "start": str(start) if start else None, "n_response_train": len(resp_train),
                                    "n_response_valid": len(resp_valid), "epochs": summary["epochs"],
                                    "steps": summary["steps"], "reference_distilled": reference,
                                    "stopped_by_guard": summary.get("stopped_by_guard"),
                                    "tolerance": tolerance if stage == "joint" else None,
                                    "settings": asdict(cfg), "last_epoch": last})
    return summary


# ---------------------------------------------------------------------------- throughput
def engine_throughput(model_paths: dict[str, Path], n: int = 16, max_atoms: int = 12,
                      repeats: int = 1) -> dict[str, Any]:
    """Structures/s of ``engine.evaluate`` (default properties, float64, CPU) for each model, same run.

    Test-split Petousis structures (the first ``n`` with <= ``max_atoms`` atoms). A backbone
    without field blocks gets random ones (``to_field_model``): the timing does not depend on
    the weights' values.
    """
    import torch

    from macefield_flows.engine.evaluate import evaluate
    from macefield_flows.model.io import load_model
    from macefield_flows.training.data import load_split
    from macefield_flows.training.pipeline import PETOUSIS, to_field_model

    out: dict[str, Any] = {"threads": torch.get_num_threads(), "n_structures": n}
    prepared = {}
    for name, path in model_paths.items():
        model = load_model(path, dtype="float64")
        if not model.has_field_blocks:
            model = to_field_model(model).double()
        z = set(int(v) for v in model.atomic_numbers.tolist())
        structs = [s.atoms for s in load_split(PETOUSIS, "test", max_atoms=max_atoms)
                   if set(int(v) for v in s.atoms.get_atomic_numbers()) <= z][:n]
        evaluate(structs, model, device="cpu")  # warm-up (first-call costs are not throughput)
        prepared[name] = (model, structs)
    best: dict[str, float] = {}
    for _ in range(max(repeats, 2)):  # interleaved rounds, the fastest round of each model counts
        for name, (model, structs) in prepared.items():
            t0 = time.time()
            evaluate(structs, model, device="cpu")
            best[name] = min(best.get(name, float("inf")), time.time() - t0)
    for name, (model, structs) in prepared.items():
        out[name] = {"structures_per_s": len(structs) / best[name], "seconds": best[name],
                     "atoms": int(sum(len(a) for a in structs)),
                     "parameters": int(sum(p.numel() for p in model.parameters()))}
    return out
