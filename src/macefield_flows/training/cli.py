"""``macefield train ...``: the training pipeline from the command line (typer sub-app).

Register in the main app with ``app.add_typer(train_app, name="train")``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

train_app = typer.Typer(help="Train the project's field-aware model (distillation + field fine-tuning).",
                        no_args_is_help=True)

WORK = typer.Option(Path("runs/small-v1"), "--work", help="work folder (labels, checkpoints; git-ignored)")


def _setup(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


@train_app.command("labels")
def labels_cmd(work: Path = WORK, threads: int = typer.Option(1, help="torch CPU threads"),
               extra: bool = typer.Option(True, help="also label the rest of the train pool "
                                          "(<= 10 atoms, +1 copy) and one more copy of every train "
                                          "material with <= 12 atoms (as for macefield-small-v1)")) -> None:
    """Label train/valid structures (+ rattled/strained copies) with CHGNet (cached)."""
    import time

    from macefield_flows.training.pipeline import (DataSettings, extra_distillation_labels, main_labels,
                                                   more_distillation_labels, record_stage)

    _setup(threads)
    main_labels(str(work))
    if extra:
        for tag, fn in (("labels_extra", extra_distillation_labels), ("labels_extra2", more_distillation_labels)):
            t0 = time.time()
            info = fn(Path(work), DataSettings())
            if info.get("seconds"):
                record_stage(Path(work), tag, {"info": info, "wall_s": time.time() - t0})


@train_app.command("distill")
def distill_cmd(work: Path = WORK, wall: float = typer.Option(1440.0, help="seconds for this call"),
                device: str = typer.Option("auto"), threads: int = typer.Option(1)) -> None:
    """Stage 1: base MACE on CHGNet energies/forces/stresses (resumes from state.pt)."""
    from macefield_flows.training.pipeline import ArchSettings, DataSettings, run_distill
    from macefield_flows.training.trainer import TrainSettings

    _setup(threads)
    run_distill(work, ArchSettings(), TrainSettings(lr=5e-3, w_energy=10.0, max_wall_s=wall, device=device),
                DataSettings())


@train_app.command("finetune")
def finetune_cmd(work: Path = WORK, wall: float = typer.Option(1800.0, help="seconds for this call"),
                 device: str = typer.Option("auto"), threads: int = typer.Option(1)) -> None:
    """Stage 2: field fine-tuning on Z* and eps_inf with replay (resumes from state.pt)."""
    from macefield_flows.training.pipeline import DataSettings, run_finetune
    from macefield_flows.training.trainer import TrainSettings

    _setup(threads)
    run_finetune(work, TrainSettings(lr=3e-2, backbone_lr_factor=0.5, w_energy=10.0, w_eps=1.0, delta_eps=1.0, max_wall_s=wall,
                                     replay_fraction=0.75, device=device), DataSettings())


@train_app.command("refine")
def refine_cmd(work: Path = typer.Option(Path("runs/small-v2"), "--work", help="new work folder"),
               source: Path = typer.Option(Path("runs/small-v1"), help="stage-2 work folder (model, labels)"),
               wall: float = typer.Option(4800.0, help="seconds for this call"),
               max_atoms: int = typer.Option(12, help="largest train response structure"),
               device: str = typer.Option("auto"), threads: int = typer.Option(1)) -> None:
    """Stage 3: continue field fine-tuning from a stage-2 model (resumes from state.pt)."""
    from macefield_flows.training.pipeline import REFINE_SETTINGS, DataSettings, run_refine
    from macefield_flows.training.trainer import TrainSettings

    _setup(threads)
    run_refine(work, source, TrainSettings(**REFINE_SETTINGS, max_wall_s=wall, device=device),
               DataSettings(max_atoms=max_atoms))


@train_app.command("export")
def export_cmd(work: Path = WORK,
               name: Optional[str] = typer.Option(None, help="model name (default: macefield-<work folder name>)"),
               register: bool = typer.Option(True, help="make it the registry default (it is registered "
                                             "either way)")) -> None:
    """Best-valid fine-tuned model -> data/models/<name>.pt + data/models/registry.json."""
    from macefield_flows.training.pipeline import export_model

    _setup(1)
    entry = export_model(work, name or f"macefield-{work.name}", register=register)
    typer.echo(f"{entry['file']} sha256 {entry['sha256']} ({entry['size_bytes']} bytes)")


@train_app.command("evaluate")
def evaluate_cmd(work: Path = WORK, model: Optional[Path] = typer.Option(None, help="model file"),
                 max_atoms: int = typer.Option(12), max_relax: Optional[int] = typer.Option(None),
                 teacher_stability: int = typer.Option(0, help="also relax N test structures with the teacher"),
                 teacher: str = typer.Option("chgnet", help="teacher of the fidelity metrics: chgnet (v1-v3) "
                                             "or a teacher-venv checkpoint such as 7net-0 (v4)"),
                 out: str = typer.Option("eval.json", help="report file name inside WORK"),
                 card: bool = typer.Option(True, help="rewrite docs/model_card.md"),
                 threads: int = typer.Option(1)) -> None:
    """Test-split metrics vs DFPT (Z*, eps_inf, eps_ionic, eps_total, phonon stability)."""
    from macefield_flows.training.pipeline import evaluate_work, write_model_card

    _setup(threads)
    report = evaluate_work(work, model, max_atoms=max_atoms, max_relax=max_relax,
                           teacher_stability=teacher_stability, teacher=teacher, out_name=out)
    typer.echo(f"Z* diag MAE {report['born_charges']['mae_diagonal_e']:.3f} e, eps_inf diag MAE "
               f"{report['eps_inf_all']['mae_diagonal']:.3f}, stability "
               f"{report['relaxed_ion_petousis']['stability_rate']:.2f}")
    if card:
        typer.echo(str(write_model_card(work)))


# ---------------------------------------------------------------------------- v4 campaign
V4_WORK = typer.Option(Path("runs/v4"), "--work", help="v4 work folder (git-ignored; campaign/v4 holds "
                       "the committed state, restored by campaign/v4/assemble.sh)")


@train_app.command("v4-labels")
def v4_labels_cmd(work: Path = V4_WORK,
                  wall: Optional[float] = typer.Option(None, help="stop starting new chunks after SECONDS")) -> None:
    """v4: SevenNet-0 labels (EFS, Hessian-vector products, polar paths) in resumable chunks."""
    from macefield_flows.training.v4 import run_labels

    _setup(1)
    summary = run_labels(work, wall)
    typer.echo(f"{summary['new_chunks']} new chunks in {summary['wall_s_call']:.0f} s "
               f"({'complete' if summary['complete'] else 'incomplete: run again to continue'})")


@train_app.command("v4-distill")
def v4_distill_cmd(work: Path = V4_WORK, wall: float = typer.Option(1800.0, help="seconds for this call"),
                   threads: int = typer.Option(1, help="torch CPU threads"),
                   train_chunks: Optional[int] = typer.Option(None, help="learning curve over data: train on "
                                                              "the first N label chunks (needs --name)"),
                   max_epochs: Optional[int] = typer.Option(None, help="stop after this many epochs"),
                   name: str = typer.Option("distill", help="folder under WORK and stage record name")) -> None:
    """v4: distil SevenNet-0 (EFS + Hessian-vector products) into 64 channels (resumes from state.pt)."""
    from macefield_flows.training.v4 import run_distill

    _setup(threads)
    try:
        summary = run_distill(work, wall, train_chunks=train_chunks, max_epochs=max_epochs, name=name)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(f"epochs {summary['epochs']}, steps {summary['steps']}, valid force MAE "
               f"{last.get('valid_f_mae', float('nan')):.4f} eV/A, valid HVP MAE "
               f"{last.get('valid_hvp_mae', float('nan')):.3f} eV/A^2")


@train_app.command("v4-check")
def v4_check_cmd(work: Path = V4_WORK,
                 model: Optional[Path] = typer.Option(None, help="model file (default: WORK/distill/best.pt)"),
                 teacher: bool = typer.Option(False, help="check the teacher instead of a model"),
                 tag: Optional[str] = typer.Option(None, help="name of the result (check-TAG.json); default "
                                                   "teacher-SevenNet-0, v4-distill or the model file's stem")) -> None:
    """v4: textbook checks (MgO TO, eps_ionic, C_ij; relaxed volumes; BaTiO3 double well)."""
    import json

    from macefield_flows.training.textbook_checks import check_model, check_teacher

    _setup(1)
    if teacher:
        report, tag = check_teacher(), tag or "teacher-SevenNet-0"
    else:
        path = model or work / "distill" / "best.pt"
        if not path.is_file():
            typer.echo(f"error: no model file {path}", err=True)
            raise typer.Exit(1)
        report = check_model(path)
        tag = tag or ("v4-distill" if model is None else path.stem)
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"check-{tag}.json"
    out.write_text(json.dumps(report, indent=1))
    m = report["MgO"]
    typer.echo(f"MgO TO {m['TO_THz']:.2f} THz, eps_ionic {m['eps_ionic']:.2f}, C11/C12/C44 "
               f"{m['C11']:.0f}/{m['C12']:.0f}/{m['C44']:.0f} GPa -> {out}")


@train_app.command("v4-compare")
def v4_compare_cmd(work: Path = V4_WORK,
                   model: Optional[Path] = typer.Option(None, help="model file (default: WORK/distill/best.pt)"),
                   tag: Optional[str] = typer.Option(None, help="result name (compare-TAG.json); default: file stem"),
                   n: int = typer.Option(20, help="Petousis test structures (<= 8 atoms, elements of the model)"),
                   teacher: str = typer.Option("7net-0", help="teacher checkpoint (teacher venv) or chgnet")) -> None:
    """v4: student vs teacher on test structures (relaxed volumes, Gamma optical modes, relaxed-ion C)."""
    import json

    from macefield_flows.calculator import MACEFieldCalculator
    from macefield_flows.model.io import load_model
    from macefield_flows.training.data import load_split
    from macefield_flows.training.pipeline import PETOUSIS
    from macefield_flows.training.teacher_compare import compare_with_teacher

    _setup(1)
    path = model or work / "distill" / "best.pt"
    if not path.is_file():
        typer.echo(f"error: no model file {path}", err=True)
        raise typer.Exit(1)
    net = load_model(path, dtype="float64")
    z = set(int(v) for v in net.atomic_numbers.tolist())
    samples = [s for s in load_split(PETOUSIS, "test", max_atoms=8)
               if set(int(v) for v in s.atoms.get_atomic_numbers()) <= z][:n]
    report = compare_with_teacher(samples, lambda: MACEFieldCalculator(net, dtype="float64"), teacher)
    report["model"] = str(path)
    out = work / f"compare-{tag or path.stem}.json"
    work.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    typer.echo(f"volumes within 3 %: {report['volume_within_3pct_fraction']}, optical modes within 5 %: "
               f"{report['optical_within_5pct_fraction']}, elastic PD where the teacher's is: "
               f"{report['elastic_pd_student_where_teacher_pd']}/{report['elastic_pd_teacher']} -> {out}")


@train_app.command("v4-teacher-stability")
def v4_teacher_stability_cmd(work: Path = V4_WORK, n: int = typer.Option(30, help="Petousis test structures"),
                             teacher: str = typer.Option("7net-0")) -> None:
    """v4: the teacher's own phonon stability at the DFT cell (the same test structures as `evaluate`)."""
    import json

    from macefield_flows.training.data import load_split
    from macefield_flows.training.evaluate import teacher_phonon_stability
    from macefield_flows.training.pipeline import PETOUSIS

    _setup(1)
    samples = load_split(PETOUSIS, "test", max_atoms=12)[:n]
    report = teacher_phonon_stability(samples, teacher=teacher)
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"teacher-stability-{teacher}.json"
    out.write_text(json.dumps(report, indent=1))
    typer.echo(f"{report['stable']}/{report['structures']} stable -> {out}")


@train_app.command("v4-snapshot")
def v4_snapshot_cmd(work: Path = V4_WORK,
                    dest: Optional[Path] = typer.Option(None, help="default: <repo>/campaign/v4")) -> None:
    """v4: copy labels, last checkpoints and stages.json into campaign/v4 (to commit)."""
    from macefield_flows.training.v4 import CAMPAIGN, snapshot

    copied = snapshot(work, dest or CAMPAIGN)
    typer.echo(f"{len(copied)} files copied to {dest or CAMPAIGN}")


@train_app.command("v4-field")
def v4_field_cmd(work: Path = V4_WORK,
                 stage: str = typer.Option("frozen", help="frozen (field blocks only) | joint (guarded)"),
                 wall: float = typer.Option(900.0, help="seconds for this call"),
                 threads: int = typer.Option(1, help="torch CPU threads"),
                 backbone_lr_factor: float = typer.Option(0.05, help="joint stage: backbone lr / field lr"),
                 start: Optional[Path] = typer.Option(None, help="joint stage: start from this model file "
                                                      "(default: WORK/field/frozen/best.pt)"),
                 name: Optional[str] = typer.Option(None, help="folder under WORK/field and stage record "
                                                    "name (default: the stage)"),
                 tolerance: float = typer.Option(0.10, help="joint stage: allowed fractional rise of the valid "
                                                 "force/HVP MAE over the distilled backbone's"),
                 w_eps: float = typer.Option(3.0, help="weight of the eps_inf loss"),
                 w_bec: float = typer.Option(10.0, help="weight of the Born-charge (Z*) loss"),
                 lr: Optional[float] = typer.Option(None, help="field blocks' learning rate (default 3e-2 "
                                                    "frozen, 4e-3 joint; backbone: lr x factor)")) -> None:
    """v4: field training on Z* + eps_inf: backbone frozen first, then joint with replay and a guard."""
    from macefield_flows.training.v4 import run_field

    _setup(threads)
    try:
        summary = run_field(work, stage, wall, tolerance=tolerance, backbone_lr_factor=backbone_lr_factor,
                            start=start, name=name, w_eps=w_eps, lr=lr, w_bec=w_bec)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(f"epochs {summary['epochs']}, valid Z* MAE {last.get('valid_z_mae', float('nan')):.3f} e, "
               f"eps_inf MAE {last.get('valid_eps_mae', float('nan')):.3f}"
               + (f"; stopped: {summary['stopped_by_guard']}" if summary.get("stopped_by_guard") else ""))


@train_app.command("v4-export")
def v4_export_cmd(work: Path = V4_WORK,
                  model: Path = typer.Option(..., help="trained field model file (e.g. WORK/field/joint7/best.pt)"),
                  name: str = typer.Option("macefield-small-v4", help="registry name"),
                  default: bool = typer.Option(False, help="also make it the registry default")) -> None:
    """v4: a trained model -> data/models/NAME.pt (float64) + its registry entry."""
    from macefield_flows.training.pipeline import DFPT_TRAIN_SETS, export_model_file, read_stages
    from macefield_flows.training.teacher import TEACHER_NAME

    _setup(1)
    entry = export_model_file(model, name, TEACHER_NAME,
                              [*DFPT_TRAIN_SETS,
                               f"{TEACHER_NAME} labels of train-split structures (project-generated, campaign/v4)"],
                              read_stages(work), register=default)
    typer.echo(f"{entry['file']} sha256 {entry['sha256']} ({entry['size_bytes']} bytes)"
               + (", registry default" if default else ""))


@train_app.command("v4-card")
def v4_card_cmd(campaign: Optional[Path] = typer.Option(None, help="default: <repo>/campaign/v4"),
                card: Optional[Path] = typer.Option(None, help="default: <repo>/docs/model_card.md")) -> None:
    """v4: rewrite the card's "v4 campaign" section from the committed campaign state."""
    from macefield_flows.training.v4 import CAMPAIGN, REPO_ROOT
    from macefield_flows.training.v4_card import update_card

    path = update_card(card or REPO_ROOT / "docs" / "model_card.md", campaign or CAMPAIGN)
    typer.echo(str(path))


@train_app.command("v4-throughput")
def v4_throughput_cmd(work: Path = V4_WORK, n: int = typer.Option(16, help="test structures"),
                      v4_model: Optional[Path] = typer.Option(None, "--v4-model",
                                                              help="default: WORK/distill/best.pt")) -> None:
    """v4: engine throughput (structures/s, all default properties) of v3 and the v4 model, same run."""
    import json

    from macefield_flows.training.registry import MODELS_DIR
    from macefield_flows.training.v4 import engine_throughput, record

    _setup(1)
    path = v4_model or work / "distill" / "best.pt"
    if not path.is_file():
        typer.echo(f"error: no model file {path}", err=True)
        raise typer.Exit(1)
    res = engine_throughput({"v3": MODELS_DIR / "macefield-small-v3.pt", "v4": path}, n=n)
    record(work, "throughput", {"wall_s": 0.0, "v4_model": str(path), **res})
    typer.echo(json.dumps(res, indent=1))
