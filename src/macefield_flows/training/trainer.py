"""Training loop: Huber losses on energies/forces/stresses and on Born charges / eps_inf.

One loop serves both stages. Batches are homogeneous in the labels they carry
(``efs``: energy/forces/stress, ``bec_eps``: Born charges + eps_inf,
``eps``: eps_inf only) so that the costly field derivatives are computed only
where labels exist. Checkpoints (``state.pt``: model, optimiser, scheduler,
epoch, history; loadable with ``weights_only=True``) are written every
``checkpoint_every`` steps and at the end of each epoch; ``best.pt`` (the
project's safe model format) holds the best-valid model. A run resumes from
``state.pt`` when it exists. Shuffling is seeded per epoch, so a resumed run
replays the same batch order.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from macefield_flows.model.graph import AtomicGraph, atoms_to_graph, collate
from macefield_flows.model.io import save_model
from macefield_flows.training.data import Sample

logger = logging.getLogger(__name__)

KINDS = ("efs", "bec_eps", "eps", "hvp")


@dataclass
class TrainSettings:
    """Optimisation settings of one stage (weights multiply mean Huber losses)."""

    lr: float = 5e-3
    batch_size: int = 8
    max_epochs: int = 1000
    max_wall_s: float = 1500.0
    weight_decay: float = 0.0
    w_energy: float = 1.0  # per-atom energy, eV/atom
    w_forces: float = 10.0  # eV/A
    w_stress: float = 100.0  # eV/A^3
    w_bec: float = 1.0  # e
    w_eps: float = 0.2  # eps_inf (dimensionless)
    delta_efs: float = 0.01
    delta_bec: float = 0.1
    delta_eps: float = 0.5
    replay_fraction: float = 0.5  # replay efs batches per response batch (fine-tuning)
    checkpoint_every: int = 50
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    plateau_patience: int = 2
    plateau_factor: float = 0.5
    min_lr: float = 1e-5
    clip_grad: float = 10.0
    backbone_lr_factor: float = 1.0  # lr multiplier of non-field parameters (fine-tuning)
    max_batches_per_epoch: int = 0  # >0: an "epoch" is this many batches of the shuffled set (more valid points)
    freeze_backbone: bool = False  # train only the field blocks (v4 field stage "frozen")
    w_hvp: float = 0.5  # Hessian-vector products, eV/A^2
    delta_hvp: float = 0.05

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclass
class Item:
    """A graph with its targets (numpy) and the kind of labels it carries."""

    graph: AtomicGraph
    kind: str
    n_atoms: int
    energy: Optional[float] = None
    forces: Optional[np.ndarray] = None
    stress: Optional[np.ndarray] = None
    born_charges: Optional[np.ndarray] = None
    eps: Optional[np.ndarray] = None
    direction: Optional[np.ndarray] = None  # (N, 3) unit direction of an HVP label
    hvp: Optional[np.ndarray] = None  # (N, 3) H v, eV/A^2
    name: str = ""


def make_items(samples: Sequence[Sample], z_table: Sequence[int], r_max: float, kind: str) -> list[Item]:
    """Graphs + targets. ``kind`` 'efs' needs energy/forces/stress; 'response' picks bec_eps or eps."""
    items = []
    for s in samples:
        g = atoms_to_graph(s.atoms, z_table, r_max, label=s.name)
        if kind == "efs":
            items.append(Item(g, "efs", s.n_atoms, energy=s.energy, forces=s.forces, stress=s.stress,
                              name=s.name))
        elif s.born_charges is not None and s.eps_electronic is not None:
            items.append(Item(g, "bec_eps", s.n_atoms, born_charges=s.born_charges,
                              eps=s.eps_electronic, name=s.name))
        elif s.eps_electronic is not None:
            items.append(Item(g, "eps", s.n_atoms, eps=s.eps_electronic, name=s.name))
    return items


def make_hvp_items(samples: Sequence[Sample], hvps: Sequence[Any], z_table: Sequence[int],
                   r_max: float) -> list[Item]:
    """Items of Hessian-vector labels (``curvature_labels.HVP``: index into ``samples``)."""
    items = []
    for h in hvps:
        s = samples[h.index]
        g = atoms_to_graph(s.atoms, z_table, r_max, label=s.name)
        items.append(Item(g, "hvp", s.n_atoms, direction=np.asarray(h.direction),
                          hvp=np.asarray(h.value), name=s.name))
    return items


def student_hvp(model, data: dict[str, torch.Tensor], direction: torch.Tensor,
                create_graph: bool) -> torch.Tensor:
    """Hessian-vector product ``H v`` (N, 3) eV/A^2 of the model energy by double backward.

    ``H = d^2 E / dx dx`` over all atoms of the batch (block diagonal over graphs), ``direction``
    (N, 3) the concatenated per-graph directions. Computed as ``-d(F . v)/dx``.
    """
    from macefield_flows.model import derivatives as dv

    n_graphs = int(data["ptr"].numel() - 1)
    field = data["positions"].new_zeros((n_graphs, 3))
    out = model.enthalpy(data, field, compute_strain=False)
    resp = dv.response(out, field, data["ptr"], frozenset({"forces"}), create_graph=True)
    (grad,) = torch.autograd.grad(-(resp["forces"] * direction).sum(), out["positions"],
                                  create_graph=create_graph)
    return grad


def _batches(items: Sequence[Item], batch_size: int, rng: Optional[np.random.Generator]) -> list[list[Item]]:
    out = []
    for kind in KINDS:
        idx = [i for i, it in enumerate(items) if it.kind == kind]
        if rng is not None:
            idx = list(rng.permutation(idx))
        out += [[items[i] for i in idx[k:k + batch_size]] for k in range(0, len(idx), batch_size)]
    if rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def _huber(pred: torch.Tensor, target: torch.Tensor, delta: float) -> torch.Tensor:
    return torch.nn.functional.huber_loss(pred, target, delta=delta)


def batch_loss(model, batch: Sequence[Item], cfg: TrainSettings, device, dtype,
               training: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted Huber loss of one homogeneous batch and its MAEs (sums, counts) for logging."""
    kind = batch[0].kind
    data = collate([it.graph for it in batch], model.num_elements_, dtype, device)
    t = lambda x: torch.as_tensor(np.asarray(x), dtype=dtype, device=device)  # noqa: E731
    stats: dict[str, float] = {}
    if kind == "efs":
        out = model(data, training=training, compute_force=True, compute_stress=True)
        n = t([it.n_atoms for it in batch])
        e_ref = t([it.energy for it in batch])
        f_ref = t(np.concatenate([it.forces for it in batch]))
        s_ref = t(np.stack([it.stress for it in batch]))
        de = (out["energy"] - e_ref) / n
        loss = (cfg.w_energy * _huber(out["energy"] / n, e_ref / n, cfg.delta_efs)
                + cfg.w_forces * _huber(out["forces"], f_ref, cfg.delta_efs)
                + cfg.w_stress * _huber(out["stress"], s_ref, cfg.delta_efs))
        stats = {"e_abs": float(de.detach().abs().sum()), "e_n": len(batch),
                 "f_abs": float((out["forces"] - f_ref).detach().abs().sum()), "f_n": f_ref.numel(),
                 "s_abs": float((out["stress"] - s_ref).detach().abs().sum()), "s_n": s_ref.numel()}
    elif kind == "hvp":
        v = t(np.concatenate([it.direction for it in batch]))
        ref = t(np.concatenate([it.hvp for it in batch]))
        pred = student_hvp(model, data, v, create_graph=training)
        loss = cfg.w_hvp * _huber(pred, ref, cfg.delta_hvp)
        stats = {"hvp_abs": float((pred - ref).detach().abs().sum()), "hvp_n": ref.numel()}
    else:
        want_bec = kind == "bec_eps"
        out = model(data, training=training, compute_force=False, compute_bec=want_bec,
                    compute_polarizability=True)
        eps_ref = t(np.stack([it.eps for it in batch]))
        eps_pred = out["epsilon_electronic"]
        loss = cfg.w_eps * _huber(eps_pred, eps_ref, cfg.delta_eps)
        diag = torch.diagonal(eps_pred - eps_ref, dim1=-2, dim2=-1)
        stats = {"eps_abs": float(diag.detach().abs().sum()), "eps_n": diag.numel()}
        if want_bec:
            z_ref = t(np.concatenate([it.born_charges for it in batch]))
            loss = loss + cfg.w_bec * _huber(out["born_charges"], z_ref, cfg.delta_bec)
            zd = torch.diagonal(out["born_charges"] - z_ref, dim1=-2, dim2=-1)
            stats.update({"z_abs": float(zd.detach().abs().sum()), "z_n": zd.numel()})
    return loss, stats


def _merge(total: dict[str, float], stats: dict[str, float]) -> None:
    for k, v in stats.items():
        total[k] = total.get(k, 0.0) + v


def _maes(total: dict[str, float]) -> dict[str, float]:
    out = {}
    for key in ("e", "f", "s", "z", "eps", "hvp"):
        if total.get(f"{key}_n"):
            out[f"{key}_mae"] = total[f"{key}_abs"] / total[f"{key}_n"]
    return out


def evaluate_loss(model, items: Sequence[Item], cfg: TrainSettings, device, dtype) -> dict[str, float]:
    """Mean loss per batch and MAEs on ``items`` (no parameter update)."""
    model.eval()
    total: dict[str, float] = {}
    losses = []
    for batch in _batches(items, cfg.batch_size, None):
        loss, stats = batch_loss(model, batch, cfg, device, dtype, training=False)
        losses.append(float(loss.detach()))
        _merge(total, stats)
    return {"loss": float(np.mean(losses)) if losses else math.nan, **_maes(total)}


def _epoch_batches(train: Sequence[Item], replay: Sequence[Item], cfg: TrainSettings, epoch: int):
    rng = np.random.default_rng(cfg.seed * 1000 + epoch)
    batches = _batches(train, cfg.batch_size, rng)
    if replay:
        n_resp = sum(1 for b in batches if b[0].kind != "efs")
        n_replay = int(round(cfg.replay_fraction * max(n_resp, 1)))
        idx = rng.permutation(len(replay))[: n_replay * cfg.batch_size]
        batches += _batches([replay[i] for i in idx], cfg.batch_size, rng)
        batches = [batches[i] for i in rng.permutation(len(batches))]
    if cfg.max_batches_per_epoch > 0:
        batches = batches[: cfg.max_batches_per_epoch]
    return batches


def train(
    model,
    train_items: Sequence[Item],
    valid_items: Sequence[Item],
    cfg: TrainSettings,
    work_dir: str | Path,
    replay_items: Sequence[Item] = (),
    metadata: Optional[dict[str, Any]] = None,
    guard: Optional[Any] = None,
) -> dict[str, Any]:
    """Train ``model`` in place; resume from ``work_dir/state.pt`` if present.

    Stops after ``cfg.max_epochs`` epochs or once ``cfg.max_wall_s`` seconds of
    this call have passed (checked between steps), or when ``guard(valid_record)`` returns a
    reason (a string: recorded as ``stopped_by_guard``). Returns the history summary.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    device, dtype = cfg.resolved_device(), getattr(torch, cfg.dtype)
    torch.manual_seed(cfg.seed)
    model.to(device=device, dtype=dtype)
    model.num_elements_ = int(len(model.atomic_numbers))
    for n, p in model.named_parameters():
        p.requires_grad_(not (cfg.freeze_backbone and not n.startswith(("field_feats.", "field_linear."))))
    field_params = [p for n, p in model.named_parameters() if n.startswith(("field_feats.", "field_linear."))]
    other_params = [p for n, p in model.named_parameters() if not n.startswith(("field_feats.", "field_linear."))]
    groups = [] if cfg.freeze_backbone else [{"params": other_params, "lr": cfg.lr * cfg.backbone_lr_factor}]
    if field_params:
        groups.append({"params": field_params, "lr": cfg.lr})
    opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, amsgrad=True)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=cfg.plateau_factor, patience=cfg.plateau_patience, min_lr=cfg.min_lr)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "batch_in_epoch": 0, "best_valid": math.inf,
                             "history": [], "wall_s": 0.0}
    state_path, best_path = work / "state.pt", work / "best.pt"
    if state_path.is_file():
        ck = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        state.update(ck["state"])
        logger.info("resumed %s at epoch %d step %d", state_path, state["epoch"], state["step"])

    def checkpoint() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "state": state,
                    "config": dict(model.json_config), "settings": asdict(cfg)}, tmp)
        tmp.replace(state_path)

    t_start, wall0 = time.time(), state["wall_s"]
    stop = False
    while state["epoch"] < cfg.max_epochs and not stop:
        model.train()
        batches = _epoch_batches(train_items, replay_items, cfg, state["epoch"])
        total: dict[str, float] = {}
        losses = []
        for b_idx in range(state["batch_in_epoch"], len(batches)):
            opt.zero_grad(set_to_none=True)
            loss, stats = batch_loss(model, batches[b_idx], cfg, device, dtype, training=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.clip_grad)
            opt.step()
            losses.append(float(loss.detach()))
            _merge(total, stats)
            state["step"] += 1
            state["batch_in_epoch"] = b_idx + 1
            state["wall_s"] = wall0 + time.time() - t_start
            if state["step"] % cfg.checkpoint_every == 0:
                checkpoint()
            if time.time() - t_start > cfg.max_wall_s:
                stop = True
                break
        if stop and state["batch_in_epoch"] < len(batches):
            checkpoint()
            break
        valid = evaluate_loss(model, valid_items, cfg, device, dtype)
        sched.step(valid["loss"])
        record = {"epoch": state["epoch"], "step": state["step"], "lr": opt.param_groups[-1]["lr"],
                  "train_loss": float(np.mean(losses)) if losses else math.nan,
                  **{f"train_{k}": v for k, v in _maes(total).items()},
                  **{f"valid_{k}": v for k, v in valid.items()},
                  "wall_s": wall0 + time.time() - t_start}
        state["history"].append(record)
        logger.info("epoch %s", {k: (round(v, 5) if isinstance(v, float) else v) for k, v in record.items()})
        reason = guard(record) if guard is not None else None
        if valid["loss"] < state["best_valid"] and not reason:  # an epoch the guard rejects is never "best"
            state["best_valid"] = valid["loss"]
            save_model(model, best_path, metadata=dict(metadata or {}, epoch=state["epoch"],
                                                        valid=valid))
        state["epoch"] += 1
        state["batch_in_epoch"] = 0
        state["wall_s"] = wall0 + time.time() - t_start
        if reason:
            state["stopped_by_guard"] = reason
            logger.info("guard stopped training: %s", reason)
            stop = True
        checkpoint()
    return {"stopped_by_guard": state.get("stopped_by_guard"), "epochs": state["epoch"], "steps": state["step"], "best_valid": state["best_valid"],
            "wall_s": state["wall_s"], "history": state["history"]}
