"""The training loop on a tiny dataset: loss decreases, checkpoints load and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from macefield_flows.model.io import load_model
from macefield_flows.training.data import Sample
from macefield_flows.training.pipeline import ArchSettings, base_model_config, to_field_model
from macefield_flows.training.trainer import TrainSettings, make_items, train


def _tiny_samples(n: int = 4, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = bulk("NaCl", "rocksalt", a=5.4 + 0.1 * rng.normal())
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        d = atoms.positions[1] - atoms.positions[0]
        # a smooth, learnable toy label set: pair-like energy, forces that sum to zero
        energy = -6.0 + 0.5 * float(np.sum(d**2))
        forces = np.stack([d, -d]) * 0.5
        zstar = np.stack([np.eye(3) * 1.1, -np.eye(3) * 1.1])
        out.append(Sample(atoms=atoms, name=f"toy{i}", dataset="toy", split="train",
                          energy=energy, forces=forces, stress=np.eye(3) * 0.001 * i,
                          born_charges=zstar, eps_electronic=np.eye(3) * 2.3))
    return out


ARCH = ArchSettings(r_max=4.0, channels=4, max_ell=1, correlation=1, num_bessel=4,
                    mlp_irreps="4x0e", radial_mlp=(8,))


def _cfg(**kw) -> TrainSettings:
    base = dict(lr=1e-2, batch_size=4, max_epochs=4, max_wall_s=60, checkpoint_every=2,
                device="cpu", dtype="float64", plateau_patience=100)
    base.update(kw)
    return TrainSettings(**base)


def test_distill_loss_decreases_and_checkpoint_loads(tmp_path):
    from macefield_flows.model.config import build_field_mace

    samples = _tiny_samples()
    z = [11, 17]
    torch.manual_seed(0)
    model = build_field_mace(base_model_config(samples, z, ARCH), dtype=torch.float64)
    items = make_items(samples, z, ARCH.r_max, "efs")
    summary = train(model, items, items, _cfg(), tmp_path / "distill")
    hist = summary["history"]
    assert len(hist) == 4
    assert hist[-1]["valid_loss"] < hist[0]["valid_loss"]
    loaded = load_model(tmp_path / "distill" / "best.pt")
    assert not loaded.has_field_blocks
    assert loaded.model_info.metadata["epoch"] >= 1
    # resume: state.pt exists, a second call with more epochs continues from epoch 4
    summary2 = train(model, items, items, _cfg(max_epochs=5), tmp_path / "distill")
    assert summary2["epochs"] == 5 and len(summary2["history"]) == 5
    assert summary2["steps"] == summary["steps"] + 1


def test_field_finetune_reduces_response_loss(tmp_path):
    from macefield_flows.model.config import build_field_mace

    samples = _tiny_samples()
    z = [11, 17]
    torch.manual_seed(0)
    base = build_field_mace(base_model_config(samples, z, ARCH), dtype=torch.float64)
    model = to_field_model(base, seed=0)
    assert model.has_field_blocks
    resp = make_items(samples, z, ARCH.r_max, "response")
    replay = make_items(samples, z, ARCH.r_max, "efs")
    assert {it.kind for it in resp} == {"bec_eps"}
    summary = train(model, resp, resp, _cfg(max_epochs=3), tmp_path / "ft", replay_items=replay)
    hist = summary["history"]
    assert hist[-1]["valid_z_mae"] < hist[0]["valid_z_mae"]
    loaded = load_model(tmp_path / "ft" / "best.pt")
    assert loaded.has_field_blocks
