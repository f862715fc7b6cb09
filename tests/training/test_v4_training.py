"""v4 training code: student Hessian-vector products, HVP loss, curvature-label plans and storage,
frozen-backbone training and the validation guard (tiny models, float64, a few steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from macefield_flows.model.graph import atoms_to_graph, collate
from macefield_flows.training.curvature_labels import (HVP, Chunk, LabelSettings, is_perovskite_like,
                                                       label_chunk, load_chunk, load_label_dir,
                                                       material_plan, polar_path, random_direction,
                                                       save_chunk)
from macefield_flows.training.data import Sample
from macefield_flows.training.pipeline import ArchSettings, base_model_config, to_field_model
from macefield_flows.training.trainer import TrainSettings, make_hvp_items, make_items, student_hvp, train

ARCH = ArchSettings(r_max=4.0, channels=4, max_ell=1, correlation=1, num_bessel=4,
                    mlp_irreps="4x0e", radial_mlp=(8,))


def _samples(n: int = 3, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = bulk("NaCl", "rocksalt", a=5.4 + 0.1 * rng.normal()) * (1, 1, 2)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        out.append(Sample(atoms=atoms, name=f"toy{i}", dataset="toy", split="train", energy=-12.0 + 0.1 * i,
                          forces=rng.normal(scale=0.1, size=(4, 3)), stress=np.eye(3) * 1e-3))
    return out


def _model(samples):
    from macefield_flows.model.config import build_field_mace

    torch.manual_seed(0)
    return build_field_mace(base_model_config(samples, [11, 17], ARCH), dtype=torch.float64)


def _forces(model, atoms) -> np.ndarray:
    data = collate([atoms_to_graph(atoms, [11, 17], ARCH.r_max)], 2, torch.float64)
    return model(data, compute_force=True)["forces"].detach().numpy()


def test_student_hvp_matches_finite_differences_of_forces():
    samples = _samples(2)
    model = _model(samples)
    rng = np.random.default_rng(3)
    dirs = [random_direction(len(s.atoms), rng) for s in samples]
    data = collate([atoms_to_graph(s.atoms, [11, 17], ARCH.r_max) for s in samples], 2, torch.float64)
    hv = student_hvp(model, data, torch.as_tensor(np.concatenate(dirs)), create_graph=False).numpy()
    h = 1e-4
    fd = []
    for s, v in zip(samples, dirs):
        plus, minus = s.atoms.copy(), s.atoms.copy()
        plus.positions += h * v
        minus.positions -= h * v
        fd.append((_forces(model, minus) - _forces(model, plus)) / (2 * h))
    fd = np.concatenate(fd)
    assert np.abs(fd).max() > 1e-3  # a non-trivial curvature
    np.testing.assert_allclose(hv, fd, atol=1e-6 * np.abs(fd).max() + 1e-9, rtol=1e-5)


def test_random_direction_is_unit_and_translation_free():
    v = random_direction(5, np.random.default_rng(0))
    assert v.shape == (5, 3)
    assert np.linalg.norm(v) == pytest.approx(1.0)
    np.testing.assert_allclose(v.sum(axis=0), 0.0, atol=1e-12)
    with pytest.raises(ValueError):
        random_direction(1, np.random.default_rng(0))


class _QuadraticTeacher:
    """E = 1/2 x^T K x (x = displacements from the start): exact Hessian K (eV/A^2)."""

    name = "quadratic"

    def __init__(self, ref_positions: dict[int, np.ndarray], k: np.ndarray) -> None:
        self.ref, self.k = ref_positions, k

    def evaluate(self, atoms_list):
        out = []
        for a in atoms_list:
            x = (a.positions - self.ref[len(a)]).ravel()
            out.append({"energy": 0.5 * x @ self.k @ x, "forces": -(self.k @ x).reshape(-1, 3),
                        "stress": np.zeros((3, 3))})
        return out


def test_teacher_hvp_labels_by_central_differences_are_exact_for_a_quadratic(tmp_path):
    atoms = bulk("NaCl", "rocksalt", a=5.6) * (1, 1, 2)
    rng = np.random.default_rng(1)
    a = rng.normal(size=(12, 12))
    k = a @ a.T
    teacher = _QuadraticTeacher({4: atoms.positions.copy()}, k)
    s = Sample(atoms=atoms, name="q", dataset="toy", split="train")
    v = random_direction(4, rng)
    chunk = label_chunk(teacher, [s], [(0, v)], step=0.01)
    assert len(chunk.samples) == 3 and len(chunk.hvps) == 1
    np.testing.assert_allclose(chunk.hvps[0].value.ravel(), k @ v.ravel(), rtol=1e-9, atol=1e-9)
    # storage round trip (float32 forces / HVP, float64 positions and energies)
    save_chunk(chunk, tmp_path / "train-000.npz", teacher.name)
    save_chunk(chunk, tmp_path / "train-001.npz", teacher.name)
    back = load_chunk(tmp_path / "train-000.npz")
    assert [x.name for x in back.samples] == [x.name for x in chunk.samples]
    np.testing.assert_allclose(back.hvps[0].value, chunk.hvps[0].value, rtol=1e-6)
    np.testing.assert_allclose(back.samples[1].positions if False else back.samples[1].atoms.positions,
                               chunk.samples[1].atoms.positions)
    merged = load_label_dir(tmp_path, "train")
    assert len(merged.samples) == 6 and [h.index for h in merged.hvps] == [0, 3]


def test_polar_path_moves_b_site_against_oxygens():
    from ase import Atoms

    bto = Atoms("BaTiO3", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5],
                                            [0, 0.5, 0.5]], cell=np.eye(3) * 4.0, pbc=True)
    s = Sample(atoms=bto, name="bto", dataset="toy", split="train")
    assert is_perovskite_like(s)
    assert not is_perovskite_like(Sample(atoms=Atoms("CaCO3"), name="c", dataset="toy", split="train"))
    path = polar_path(s, (0.1,))
    assert len(path) == 3
    dz = path[1].atoms.positions - bto.positions  # the z path
    np.testing.assert_allclose(dz[1], [0, 0, 0.1], atol=1e-12)  # Ti
    np.testing.assert_allclose(dz[2:, 2], -0.1 / 3, atol=1e-12)  # O
    np.testing.assert_allclose(dz[0], 0.0, atol=1e-12)  # Ba
    structs, requests = material_plan([s], LabelSettings(), seed=0)
    assert len(structs) == 4 + 15 and len(requests) == 1


def test_hvp_training_reduces_hvp_error(tmp_path):
    samples = _samples(3)
    model = _model(samples)
    rng = np.random.default_rng(2)
    hvps = [HVP(i, random_direction(4, rng), rng.normal(scale=0.5, size=(4, 3))) for i in range(3)]
    items = make_items(samples, [11, 17], ARCH.r_max, "efs") + make_hvp_items(samples, hvps, [11, 17], ARCH.r_max)
    cfg = TrainSettings(lr=1e-2, batch_size=3, max_epochs=4, max_wall_s=60, device="cpu", dtype="float64",
                        plateau_patience=100, w_hvp=5.0)
    hist = train(model, items, items, cfg, tmp_path / "d")["history"]
    assert hist[-1]["valid_hvp_mae"] < hist[0]["valid_hvp_mae"]


def test_frozen_backbone_and_guard(tmp_path):
    samples = _samples(2)
    for s in samples:
        s.born_charges = np.stack([np.eye(3), -np.eye(3)] * 2) * 1.1
        s.eps_electronic = np.eye(3) * 2.3
    model = to_field_model(_model(samples), seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    resp = make_items(samples, [11, 17], ARCH.r_max, "response")
    cfg = TrainSettings(lr=1e-2, batch_size=2, max_epochs=3, max_wall_s=60, device="cpu", dtype="float64",
                        plateau_patience=100, freeze_backbone=True)
    calls = []

    def guard(record):
        calls.append(record["epoch"])
        return "stop now" if record["epoch"] >= 1 else None

    summary = train(model, resp, resp, cfg, tmp_path / "f", guard=guard)
    assert summary["stopped_by_guard"] == "stop now" and calls == [0, 1]
    for n, p in model.named_parameters():
        moved = not torch.equal(p.detach(), before[n])
        assert moved == n.startswith(("field_feats.", "field_linear.")) or not moved, n
        if not n.startswith(("field_feats.", "field_linear.")):
            assert not moved, n


def test_an_epoch_the_guard_rejects_is_never_saved_as_best(tmp_path):
    samples = _samples(2)
    for s in samples:
        s.born_charges = np.stack([np.eye(3), -np.eye(3)] * 2) * 1.1
        s.eps_electronic = np.eye(3) * 2.3
    resp = make_items(samples, [11, 17], ARCH.r_max, "response")
    cfg = TrainSettings(lr=1e-2, batch_size=2, max_epochs=3, max_wall_s=60, device="cpu", dtype="float64",
                        plateau_patience=100)
    summary = train(to_field_model(_model(samples), seed=0), resp, resp, cfg, tmp_path / "g",
                    guard=lambda record: "force MAE too high")
    assert summary["stopped_by_guard"] == "force MAE too high" and summary["epochs"] == 1
    assert not (tmp_path / "g" / "best.pt").exists()
    summary = train(to_field_model(_model(samples), seed=0), resp, resp, cfg, tmp_path / "h",
                    guard=lambda record: None if record["epoch"] == 0 else "stop")
    assert (tmp_path / "h" / "best.pt").is_file() and summary["epochs"] == 2


def _toy_label_chunks(folder, chunks: dict[str, tuple[int, int]]) -> None:
    """Label chunks ``{stem: (n structures, seed)}`` of toy NaCl cells, one HVP per structure."""
    rng = np.random.default_rng(5)
    for stem, (n, seed) in chunks.items():
        samples = _samples(n, seed=seed)
        for s in samples:
            s.dataset, s.split, s.meta = "petretto2018_dfpt_becs_epsinf_e3nn", stem[:5], {"kind": "efs"}
        hvps = [HVP(i, random_direction(4, rng), rng.normal(scale=0.5, size=(4, 3))) for i in range(n)]
        save_chunk(Chunk(samples=samples, hvps=hvps), folder / f"{stem}.npz", "toy")


def _toy_distill(monkeypatch, v4, **overrides):
    """Tiny architecture, toy elements and ``overrides`` of the distillation settings; returns the
    unpatched settings function."""
    monkeypatch.setattr(v4, "v4_arch", lambda: ARCH)
    monkeypatch.setattr(v4, "model_elements", lambda work: [11, 17])
    base = v4.distill_settings
    monkeypatch.setattr(v4, "distill_settings", lambda wall: TrainSettings(
        **{**base(wall).__dict__, "device": "cpu", **overrides}))
    return base


def test_v4_distill_stage_records_and_resumes(tmp_path, monkeypatch):
    """The v4 distill stage on toy chunks with a tiny architecture: runs, records, snapshots, resumes."""
    from macefield_flows.training import v4

    _toy_label_chunks(tmp_path / "w" / "labels", {"train-000": (3, 1), "valid-000": (3, 2)})
    base = _toy_distill(monkeypatch, v4, max_epochs=2, batch_size=3)
    work = tmp_path / "w"
    s1 = v4.run_distill(work, wall=60)
    assert s1["epochs"] == 2 and (work / "distill" / "best.pt").is_file()
    monkeypatch.setattr(v4, "distill_settings", lambda wall: TrainSettings(
        **{**base(wall).__dict__, "max_epochs": 3, "batch_size": 3, "device": "cpu"}))
    s2 = v4.run_distill(work, wall=60)
    assert s2["epochs"] == 3 and len(s2["history"]) == 3
    import json

    stages = json.loads((work / "stages.json").read_text())
    assert len(stages["distill"]["calls"]) == 2 and stages["distill"]["calls"][0]["n_train_hvp"] == 3
    copied = v4.snapshot(work, tmp_path / "campaign")
    assert (tmp_path / "campaign" / "distill" / "state.pt").is_file()
    assert (tmp_path / "campaign" / "labels" / "train-000.npz").is_file() and copied


def test_v4_field_stages_frozen_then_guarded_joint(tmp_path, monkeypatch):
    """frozen keeps the potential exactly; joint with a zero tolerance is stopped by the guard."""
    import json

    from macefield_flows.model.io import load_model
    from macefield_flows.training import v4

    test_v4_distill_stage_records_and_resumes(tmp_path, monkeypatch)
    work = tmp_path / "w"
    resp = _samples(2, seed=4)
    for s in resp:
        s.born_charges = np.stack([np.eye(3), -np.eye(3)] * 2) * 1.1
        s.eps_electronic = np.eye(3) * 2.3
    items = make_items(resp, [11, 17], ARCH.r_max, "response")
    monkeypatch.setattr(v4, "_response_items", lambda z, r_max: (items, items))
    base_field = v4.field_settings
    monkeypatch.setattr(v4, "field_settings", lambda *args: TrainSettings(
        **{**base_field(*args).__dict__, "max_epochs": 2, "batch_size": 2, "dtype": "float64"}))
    v4.run_field(work, "frozen", wall=60)
    distilled = load_model(work / "distill" / "best.pt", dtype="float64")
    frozen = load_model(work / "field" / "frozen" / "best.pt", dtype="float64")
    atoms = resp[0].atoms
    np.testing.assert_allclose(_forces(frozen, atoms), _forces(distilled, atoms), atol=1e-5)
    summary = v4.run_field(work, "joint", wall=60, tolerance=-0.5)  # any epoch fails a negative tolerance
    assert summary["stopped_by_guard"] and summary["epochs"] == 1
    stages = json.loads((work / "stages.json").read_text())
    assert stages["field-joint"]["calls"][0]["stopped_by_guard"].startswith("valid f_mae")
    # a second joint phase from a given model keeps the first phase's folder and record
    v4.run_field(work, "joint", wall=60, start=work / "field" / "frozen" / "best.pt", name="joint2",
                 tolerance=5.0, w_eps=7.0, w_bec=12.0, lr=1e-3)
    stages = json.loads((work / "stages.json").read_text())
    assert "field-joint2" in stages and stages["field-joint2"]["calls"][0]["start"].endswith("best.pt")
    joint2 = stages["field-joint2"]["calls"][0]
    assert joint2["tolerance"] == 5.0 and not joint2["stopped_by_guard"]
    assert (joint2["settings"]["w_eps"], joint2["settings"]["w_bec"], joint2["settings"]["lr"]) == (7.0, 12.0, 1e-3)
    assert base_field("joint", 60.0, 0.05, 3.0, 0.0).lr == 0.0  # an explicit rate of 0 is kept, not defaulted
    assert (work / "field" / "joint2" / "best.pt").is_file() and (work / "field" / "joint" / "state.pt").is_file()
    # snapshot: field phases keep best.pt + history.json (no optimiser state); the card reads the history
    from macefield_flows.training.v4_card_results import field_curve_lines

    camp = tmp_path / "campaign2"
    v4.snapshot(work, camp)
    assert not (camp / "field" / "joint2" / "state.pt").exists() and (camp / "distill" / "state.pt").is_file()
    history = json.loads((camp / "field" / "joint2" / "history.json").read_text())
    assert len(history) == 2
    lines = field_curve_lines(camp)
    assert sum(line.startswith("| joint2 |") for line in lines) == 2
    assert sum(line.startswith("| frozen |") for line in lines) == 2


def test_v4_card_section_renders_and_survives_card_regeneration(tmp_path):
    import json

    from macefield_flows.training.card import write_card
    from macefield_flows.training.v4 import record
    from macefield_flows.training.v4_card import BEGIN, END, update_card

    camp = tmp_path / "camp"
    camp.mkdir()
    record(camp, "labels", {"chunk": "train-000.npz", "wall_s": 12.0})
    record(camp, "labels", {"chunk": "train-001.npz", "wall_s": 8.0})
    record(camp, "field-frozen", {"wall_s": 5.0, "settings": {"lr": 0.03, "backbone_lr_factor": 1.0,
                                                              "freeze_backbone": True, "w_bec": 10.0}})
    record(camp, "field-joint9", {"wall_s": 6.0, "tolerance": 0.5, "note": "stopped by hand",
                                  "settings": {"lr": 0.01, "backbone_lr_factor": 0.25, "w_eps": 3.0}})
    record(camp, "distill-c4", {"wall_s": 7.0, "train_chunks": 4, "n_train_efs": 1750, "n_train_hvp": 400,
                                "steps": 4573})
    check = {"MgO": {"TO_THz": 10.6, "eps_ionic": 8.4, "C11": 269.0, "C12": 94.0, "C44": 107.0},
             "BaTiO3_cubic_gamma_THz": [-5.9, -5.9, -5.9, 0.0, 0.001, -0.002, 4.9, 4.9, 4.9]}
    (camp / "check-teacher.json").write_text(json.dumps(check))
    card = tmp_path / "card.md"
    card.write_text("# card\n")
    update_card(card, camp)
    text = card.read_text()
    assert BEGIN in text and END in text
    assert "| labels | 2 | 20 |" in text and "| teacher | 10.60 | 8.40 | 269 / 94 / 107 |" in text
    assert "| -5.90 |" in text  # the soft optical mode, not an acoustic one
    assert "| field-frozen | 1 | 5 | lr 0.03, w_bec 10.0, backbone frozen |" in text
    assert ("| field-joint9 | 1 | 6 | lr 0.01, backbone_lr_factor 0.25, w_eps 3.0, guard tolerance 0.5; "
            "stopped by hand |") in text
    assert "| distill-c4 | 1 | 7 | learning curve over data: first 4 label chunks, 1750 EFS + 400 HVP" in text
    update_card(card, camp)  # replaced in place, not duplicated
    assert card.read_text().count(BEGIN) == 1


def test_v4_card_target_table_judges_each_target(tmp_path):
    import json

    from macefield_flows.training.v4_card_results import result_lines

    camp = tmp_path
    teacher = {"MgO": {"TO_THz": 10.0}}
    student = {"MgO": {"TO_THz": 10.4}, "field": {
        "MgO": {"Z_Mg_e": 1.9, "eps_inf": 3.1, "eps_ionic_model_Z": 9.0},
        "BaTiO3_P4mm_fixed_cell": {"ti_offset_relaxed_A": 0.2, "Ps_norm_C_m2": 0.40, "ratio_to_berry_phase": 0.87}}}
    (camp / "check-teacher-x.json").write_text(json.dumps(teacher))
    (camp / "check-v4.json").write_text(json.dumps(student))
    (camp / "compare-v4.json").write_text(json.dumps({
        "structures": 3, "failed": 0, "volume_abs_diff_pct_median": 1.0, "volume_within_3pct_fraction": 1.0,
        "optical_modes": 10, "optical_rel_diff_median": 0.04, "optical_within_5pct_fraction": 0.6,
        "elastic_pd_teacher": 3, "elastic_pd_student_where_teacher_pd": 2}))
    (camp / "eval-v4.json").write_text(json.dumps({
        "born_charges": {"mae_diagonal_e": 0.30}, "eps_inf_all": {"mae_diagonal": 1.2},
        "relaxed_ion_petousis": {"stability_rate": 0.9, "eps_ionic": {"median_abs_error": 1.6, "mae_diagonal": 3.0}},
        "teacher_fidelity": {"forces_mae_eV_A": 0.05}}))
    text = "\n".join(result_lines(camp))
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["force MAE vs teacher <= 0.06 eV/A (test + rattled)"].endswith("| 0.050 (met) |")
    assert rows["MgO TO within 5 % of the teacher (%)"].endswith("| 4.0 (met) |")
    assert rows["test volumes within 3 % of the teacher (fraction)"].endswith("| 1.00 (met) |")
    assert rows["elastic PD wherever the teacher's is"].endswith("| 2/3 (not met) |")
    assert rows["phonon stability at the DFT cell >= 0.85"].endswith("| 0.90 (met) |")
    assert rows["eps_ionic median abs error <= 1.5"].endswith("| 1.60 (not met) |")
    assert rows["MgO eps_ionic (model Z*) within 30 % of 6.8"].endswith("| 9.00 (not met) |")
    assert rows["BaTiO3 P4mm stays polar, Ps within 30 % of Berry phase (Ps / Berry)"].endswith("| 0.87 (met) |")
    assert rows["Z* diagonal MAE <= 0.35 e"].endswith("| 0.300 (met) |")
    assert rows["eps_inf diagonal MAE <= 1.0"].endswith("| 1.200 (not met) |")



def test_max_batches_per_epoch_gives_short_epochs(tmp_path):
    samples = _samples(3)
    model = _model(samples)
    items = make_items(samples, [11, 17], ARCH.r_max, "efs")
    cfg = TrainSettings(lr=1e-2, batch_size=1, max_epochs=3, max_wall_s=60, device="cpu", dtype="float64",
                        max_batches_per_epoch=2)
    summary = train(model, items, items, cfg, tmp_path / "d")
    assert summary["epochs"] == 3 and summary["steps"] == 6


def test_v4_distill_data_subset_runs_share_the_model_config(tmp_path, monkeypatch):
    """``train_chunks=k`` trains on the first k chunks only, with the main run's config and initial weights."""
    import json

    import torch

    from macefield_flows.model.io import load_model
    from macefield_flows.training import v4

    _toy_label_chunks(tmp_path / "w" / "labels", {"train-000": (3, 10), "train-001": (2, 11), "valid-000": (2, 12)})
    _toy_distill(monkeypatch, v4, batch_size=2, lr=0.0)  # lr 0: the weights stay at their initial values
    work = tmp_path / "w"
    with pytest.raises(ValueError, match="own name"):
        v4.run_distill(work, wall=60, train_chunks=1)
    with pytest.raises(FileNotFoundError, match="main distillation"):
        v4.run_distill(work, wall=60, train_chunks=1, name="distill-c1")
    v4.run_distill(work, wall=60, max_epochs=1)
    v4.run_distill(work, wall=60, train_chunks=1, max_epochs=1, name="distill-c1")
    stages = json.loads((work / "stages.json").read_text())
    full, sub = stages["distill"]["calls"][0], stages["distill-c1"]["calls"][0]
    assert (full["n_train_efs"], full["n_train_hvp"]) == (5, 5)
    assert (sub["n_train_efs"], sub["n_train_hvp"], sub["train_chunks"]) == (3, 3, 1)
    assert sub["n_valid_efs"] == full["n_valid_efs"] == 2 and sub["epochs"] == 1
    main, subset = (load_model(work / d / "best.pt", dtype="float64") for d in ("distill", "distill-c1"))
    assert main.json_config == subset.json_config
    for (k, a), (_, b) in zip(main.state_dict().items(), subset.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    camp = tmp_path / "campaign"
    v4.snapshot(work, camp)
    assert (camp / "distill-c1" / "history.json").is_file() and not list((camp / "distill-c1").glob("*.pt"))


def test_data_curve_compares_runs_at_one_step_and_recovers_a_power_law(tmp_path):
    """Synthetic runs on an exact power law y = 2 N^-0.5: the fit gives back a and b, and N for the target."""
    import json

    from macefield_flows.training.v4_card_results import data_curve_lines, power_law

    a, b = power_law([100.0, 400.0, 1600.0], [2 * 100**-0.5, 2 * 400**-0.5, 2 * 1600**-0.5])
    assert a == pytest.approx(2.0, rel=1e-9) and b == pytest.approx(0.5, rel=1e-9)
    stages = {}
    for name, n, steps in (("distill-c1", 100, 450), ("distill-c4", 400, 500), ("distill", 1600, 900)):
        history = [{"epoch": e, "step": 100 * (e + 1), "wall_s": 1.0, "lr": 1e-3, "train_f_mae": 0.01,
                    # the value at step 400-450 follows the law; later epochs are better (must not be used)
                    "valid_f_mae": 2 * n**-0.5 * (1.0 if 100 * (e + 1) <= 450 else 0.5), "valid_hvp_mae": 0.3}
                   for e in range(steps // 100)]
        (tmp_path / name).mkdir()
        (tmp_path / name / "history.json").write_text(json.dumps(history))
        stages[name] = {"calls": [{"steps": steps, "n_train_efs": n, "n_train_hvp": n // 4,
                                   "train_chunks": None if name == "distill" else int(name[-1])}]}
    (tmp_path / "stages.json").write_text(json.dumps(stages))
    text = "\n".join(data_curve_lines(tmp_path, target_force_mae=0.02))
    assert "compared at step 450" in text
    assert "| distill-c4 | 4 | 400 | 100 | 400 |" in text and "| distill | all | 1600 | 400 | 400 |" in text
    # 2 N^-0.5 = 0.02 -> N = 1e4 = 6.25 x 1600
    assert "= 2 N_EFS^-0.500, so 0.02 eV/A needs about 1e+04 EFS labels (6.25x the present set)" in text
    assert "went on to step 900: valid force MAE 0.025" in text
    # the optimistic fit uses the main run's last record (0.025 instead of 0.05): a steeper law
    a, b = power_law([100.0, 400.0, 1600.0], [0.2, 0.1, 0.025])
    assert f"N_EFS^-{b:.3f}" in text and b > 0.5


def test_export_model_file_registers_and_round_trips(tmp_path):
    """The exported float64 file reproduces the trained model; the default moves only when asked."""
    import json

    from macefield_flows.model.io import load_model, save_model
    from macefield_flows.training.pipeline import export_model_file

    samples = _samples(2, seed=3)
    model = to_field_model(_model(samples), seed=0)
    src = tmp_path / "best.pt"
    save_model(model, src)
    models = tmp_path / "models"
    models.mkdir()
    (models / "registry.json").write_text(json.dumps({"default": "old", "models": {"old": {"file": "old.pt"}}}))
    entry = export_model_file(src, "candidate", "toy", ["toy:train"], {"distill": {"wall_s_total": 5.0}},
                              models_dir=models, register=False)
    reg = json.loads((models / "registry.json").read_text())
    assert reg["default"] == "old" and reg["models"]["candidate"]["sha256"] == entry["sha256"]
    export_model_file(src, "candidate", "toy", ["toy:train"], {}, models_dir=models, register=True)
    assert json.loads((models / "registry.json").read_text())["default"] == "candidate"
    exported = load_model(models / "candidate.pt", dtype="float64")
    original = load_model(src, dtype="float64")
    atoms = samples[0].atoms
    np.testing.assert_allclose(_forces(exported, atoms), _forces(original, atoms), rtol=0, atol=1e-12)
    assert exported.model_info.metadata["teacher"] == "toy"


def test_card_lists_registered_v4_models_with_their_role(tmp_path):
    import json

    from macefield_flows.training.v4_card import shipped_lines

    reg = tmp_path / "registry.json"
    entry = {"file": "macefield-small-v4.pt", "sha256": "ab" * 32, "size_bytes": 10, "num_parameters": 5,
             "elements": ["O", "Mg"]}
    reg.write_text(json.dumps({"default": "macefield-small-v3", "models": {
        "macefield-small-v3": {"file": "v3.pt", "sha256": "cd" * 32}, "macefield-small-v4": entry}}))
    text = "\n".join(shipped_lines(reg))
    assert "`macefield-small-v4` (registered, not the default (`--model macefield-small-v4`" in text
    assert "ab" * 32 in text and "v3.pt" not in text and "2 elements" in text
    reg.write_text(json.dumps({"default": "macefield-small-v4", "models": {"macefield-small-v4": entry}}))
    assert "(the registry default)" in "\n".join(shipped_lines(reg))
