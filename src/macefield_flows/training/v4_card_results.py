"""Result tables of the card's v4 section: field stages, field checks, student vs teacher, test split, targets.

Read from the committed campaign state (``campaign/v4``): ``field/{frozen,joint}/state.pt``
(per-epoch histories), ``check-*.json`` (``field`` part: the model's own MgO Z*, eps_inf, eps_ionic
and BaTiO3 Ps), ``compare-*.json`` (:mod:`macefield_flows.training.teacher_compare`) and
``eval-*.json`` (``macefield train evaluate --teacher 7net-0 --out eval-TAG.json``). Each renderer
returns Markdown lines (empty when its files are absent).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

MGO_EPS_IONIC_EXPERIMENT = 6.8  # eps_0 9.8 - eps_inf 3.0 (the issue's value)


def _f(x: Any, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _load(campaign: Path, prefix: str) -> dict[str, dict[str, Any]]:
    return {p.stem.removeprefix(prefix): json.loads(p.read_text()) for p in sorted(campaign.glob(f"{prefix}*.json"))}


def _history(path: Path) -> list[dict[str, Any]]:
    """Per-epoch history from a checkpoint, or from the ``history.json`` a snapshot keeps beside it."""
    if not path.is_file():
        js = path.with_name("history.json")
        return list(json.loads(js.read_text())) if js.is_file() else []
    import torch

    return list(torch.load(path, map_location="cpu", weights_only=True)["state"]["history"])


def field_curve_lines(campaign: Path) -> list[str]:
    """Per-epoch valid metrics of the field stages (frozen backbone, then joint with replay)."""
    rows = []
    stages = sorted((d.name for d in (campaign / "field").glob("*") if d.is_dir()),
                    key=lambda n: (n != "frozen", n))
    for stage in stages:
        for h in _history(campaign / "field" / stage / "state.pt"):
            rows.append(f"| {stage} | {h['epoch']} | {h['step']} | {h['wall_s']:.0f} | {h['lr']:.1e} | "
                        f"{_f(h.get('valid_z_mae'), 3)} | {_f(h.get('valid_eps_mae'), 3)} | "
                        f"{_f(h.get('valid_f_mae'), 3)} | {_f(h.get('valid_hvp_mae'), 3)} |")
    if not rows:
        return []
    return ["### Learning curve (field stages, valid split)", "",
            "Z* and eps_inf MAE over diagonal components against DFPT (Petretto/Petousis valid rows); force and "
            "HVP MAE against the teacher on the valid labels (joint stage only: the frozen stage cannot change "
            "them).", "",
            "| stage | epoch | step | train wall (s) | lr | valid Z* MAE (e) | valid eps_inf MAE | "
            "valid force MAE (eV/A) | valid HVP MAE (eV/A^2) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |", *rows, ""]


def _at_step(history: list[dict[str, Any]], step: int) -> Optional[dict[str, Any]]:
    """The last epoch record at or before ``step`` (None when the run had not got there)."""
    done = [h for h in history if h["step"] <= step]
    return done[-1] if done else None


def power_law(n: list[float], y: list[float]) -> tuple[float, float]:
    """Least-squares fit y = a n^-b in log-log; returns (a, b)."""
    import numpy as np

    slope, intercept = np.polyfit(np.log(n), np.log(y), 1)
    return float(math.exp(intercept)), float(-slope)


def data_curve_lines(campaign: Path, target_force_mae: float = 0.06) -> list[str]:
    """Learning curve over data: valid force/HVP MAE of the data-subset distillations (``distill-c*``,
    the first k label chunks) and of the main run at the same step, with a power-law extrapolation."""
    from macefield_flows.training.pipeline import read_stages

    stages = read_stages(campaign)
    runs = {name: entry["calls"][-1] for name, entry in stages.items()
            if name.startswith("distill-c") and entry.get("calls")}
    if not runs or "distill" not in stages:
        return []
    step = min(int(c["steps"]) for c in runs.values())
    points = []
    for name, call in sorted(runs.items(), key=lambda kv: kv[1]["n_train_efs"]):
        rec = _at_step(_history(campaign / name / "state.pt"), step)
        if rec is not None:
            points.append((name, call["train_chunks"], call["n_train_efs"], call["n_train_hvp"], rec))
    full_call = stages["distill"]["calls"][-1]
    full_hist = _history(campaign / "distill" / "state.pt")
    rec = _at_step(full_hist, step)
    if rec is not None:
        points.append(("distill", None, full_call["n_train_efs"], full_call["n_train_hvp"], rec))
    rows = [f"| {name} | {chunks if chunks is not None else 'all'} | {n_efs} | {n_hvp} | {r['step']} | "
            f"{_f(r.get('train_f_mae'), 3)} | {_f(r.get('valid_f_mae'), 3)} | {_f(r.get('valid_hvp_mae'), 3)} |"
            for name, chunks, n_efs, n_hvp, r in points]
    lines = ["### Learning curve over data (distillation, valid split vs the teacher)", "",
             "The same model config, initial weights, settings and valid set; only the training labels differ "
             f"(the first k chunks of 100 train materials). Each compared at step {step} (the main run's record "
             "at the same step).", "",
             "| run | train chunks | EFS labels | HVP labels | step | train force MAE (eV/A) | "
             "valid force MAE (eV/A) | valid HVP MAE (eV/A^2) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |", *rows, ""]
    final = full_hist[-1] if full_hist else None
    if final is not None:
        lines += [f"The main run went on to step {final['step']}: valid force MAE {final['valid_f_mae']:.3f} eV/A "
                  f"(train {final['train_f_mae']:.3f}).", ""]

    def extrapolate(pts: list[tuple[float, float]], what: str) -> str:
        a, b = power_law([n for n, _ in pts], [y for _, y in pts])
        need = (a / target_force_mae) ** (1.0 / b) if b > 0 else float("inf")
        return (f"{what}: valid force MAE = {a:.3g} N_EFS^-{b:.3f}, so {target_force_mae} eV/A needs about "
                f"{need:.3g} EFS labels ({need / pts[-1][0]:.3g}x the present set).")

    if len(points) >= 3:
        at_step = [(float(p[2]), float(p[4]["valid_f_mae"])) for p in points]
        lines += ["Power-law extrapolation to the force target (valid MAE against the teacher):", "",
                  "- " + extrapolate(at_step, f"all runs at step {step} (pessimistic: the larger sets have had "
                                              "fewer epochs)")]
        if final is not None and final["step"] > step:
            best_full = at_step[:-1] + [(at_step[-1][0], float(final["valid_f_mae"]))]
            lines.append("- " + extrapolate(best_full, "subsets at that step, the main run at its last step "
                                                      "(optimistic: only the largest set trained longer)"))
        lines.append("")
    return lines


def field_check_lines(campaign: Path) -> list[str]:
    checks = {k: c["field"] for k, c in _load(campaign, "check-").items() if "field" in c}
    if not checks:
        return []
    rows = ["### Field checks (`macefield train v4-check` on field models)", "",
            "MgO at a = 4.21 A with the model's own Z* and force constants (DFPT Z* 1.97, eps_inf about 3.0, "
            "experiment eps_ionic about 6.8); P4mm BaTiO3 (MP cell mp-5986) ions relaxed at fixed cell, "
            "|Ps| from the model's polarisation along the path from the centrosymmetric image (9 frames, branch "
            "folding) against the MP Berry-phase value 0.459 C/m^2 (Smidt et al. 2020, same cell).", "",
            "| model | MgO Z*(Mg) (e) | MgO eps_inf | MgO eps_ionic (model Z*) | BaTiO3 Ti offset (A) | "
            "BaTiO3 \\|Ps\\| (C/m^2) | Ps / Berry phase |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, c in checks.items():
        m, b = c["MgO"], c["BaTiO3_P4mm_fixed_cell"]
        rows.append(f"| {label} | {m['Z_Mg_e']:.2f} | {m['eps_inf']:.2f} | {m['eps_ionic_model_Z']:.2f} | "
                    f"{b['ti_offset_relaxed_A']:.3f} | {b['Ps_norm_C_m2']:.3f} | {b['ratio_to_berry_phase']:.2f} |")
    return rows + [""]


def compare_lines(campaign: Path) -> list[str]:
    comps = _load(campaign, "compare-")
    if not comps:
        return []
    rows = ["### Student against the teacher on test structures (`macefield train v4-compare`)", "",
            "Petousis test structures with <= 8 atoms (the first 20 the model covers), both potentials through the "
            "same finite-difference code: volume after full relaxation from the MP cell; Gamma optical modes "
            "above 1 THz and the relaxed-ion elastic tensor at the teacher-relaxed structure.", "",
            "| model | structures | \\|volume diff\\| median (%) | volumes within 3 % | optical modes | "
            "median rel. diff | modes within 5 % | elastic PD where the teacher's is |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, c in comps.items():
        rows.append(f"| {label} | {c['structures'] - c['failed']} | {_f(c['volume_abs_diff_pct_median'])} | "
                    f"{_f(c['volume_within_3pct_fraction'])} | {c['optical_modes']} | "
                    f"{_f(c['optical_rel_diff_median'], 3)} | {_f(c['optical_within_5pct_fraction'])} | "
                    f"{c['elastic_pd_student_where_teacher_pd']}/{c['elastic_pd_teacher']} |")
    return rows + [""]


def _eval_row(e: dict[str, Any]) -> dict[str, Optional[float]]:
    ion = e.get("relaxed_ion_petousis", {})
    tf = e.get("teacher_fidelity", {})
    return {"z": e.get("born_charges", {}).get("mae_diagonal_e"),
            "eps_inf": e.get("eps_inf_all", {}).get("mae_diagonal"),
            "stability": ion.get("stability_rate"),
            "eps_ionic_median": ion.get("eps_ionic", {}).get("median_abs_error"),
            "eps_ionic_mae": ion.get("eps_ionic", {}).get("mae_diagonal"),
            "forces": tf.get("forces_mae_eV_A"), "forces_given": tf.get("forces_mae_eV_A_as_given"),
            "forces_rattled": tf.get("forces_mae_eV_A_rattled")}


def eval_lines(campaign: Path) -> list[str]:
    evals = _load(campaign, "eval-")
    if not evals:
        return []
    rows = ["### Test split (`macefield train evaluate --teacher 7net-0`)", "",
            "Same code and structures for every model (<= 12 atoms): Z* and eps_inf at the DFT structures; "
            "phonon stability (no optical Gamma mode below -0.1 THz) and eps_ionic after relaxing the atoms at the "
            "DFT cell, eps_ionic over stable structures; forces against SevenNet-0 on 60 Petretto test structures "
            "and one rattled/strained copy each.", "",
            "| model | Z* diag MAE (e) | eps_inf diag MAE | stability at the DFT cell | eps_ionic median abs err | "
            "eps_ionic MAE | force MAE vs teacher (eV/A): all / as given / rattled |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, e in evals.items():
        r = _eval_row(e)
        rows.append(f"| {label} | {_f(r['z'], 3)} | {_f(r['eps_inf'], 3)} | {_f(r['stability'])} | "
                    f"{_f(r['eps_ionic_median'])} | {_f(r['eps_ionic_mae'])} | {_f(r['forces'], 3)} / "
                    f"{_f(r['forces_given'], 3)} / {_f(r['forces_rattled'], 3)} |")
    for label, t in _load(campaign, "teacher-stability-").items():
        rows.append(f"| teacher {label} (its own relaxation, first {t['structures']} test structures) | - | - | "
                    f"{_f(t['stability_rate'])} | - | - | - |")
        names = set(t.get("names", [])) or None
        for m, e in evals.items():
            ion = e.get("relaxed_ion_petousis", {})
            seen = [n for n in ion.get("min_optical_freq_thz", {}) if names is None or n in names]
            if names is not None and seen:
                stable = sum(n not in set(ion.get("unstable", [])) for n in seen)
                rows.append(f"| {m} on the teacher's {len(seen)} structures | - | - | {stable / len(seen):.2f} | "
                            "- | - | - |")
    return rows + [""]


def _mark(ok: Optional[bool]) -> str:
    return "-" if ok is None else ("met" if ok else "not met")


def target_table_lines(campaign: Path) -> list[str]:
    """The issue's targets, one row each, one column per model with a result."""
    evals, comps, checks = _load(campaign, "eval-"), _load(campaign, "compare-"), _load(campaign, "check-")
    models = sorted(set(evals) | set(comps) | {k for k in checks if not k.startswith("teacher")})
    if not models:
        return []
    teacher = next((c for k, c in checks.items() if k.startswith("teacher")), None)

    def cell(value: Optional[float], ok: Optional[bool], nd: int = 2) -> str:
        return "-" if value is None else f"{_f(value, nd)} ({_mark(ok)})"

    def row(name: str, fn) -> str:
        return f"| {name} | " + " | ".join(fn(m) for m in models) + " |"

    def ev(m: str) -> dict[str, Optional[float]]:
        return _eval_row(evals.get(m, {}))

    def to_rel(m: str) -> Optional[float]:
        c = checks.get(m)
        if not c or not teacher:
            return None
        return 100 * (c["MgO"]["TO_THz"] / teacher["MgO"]["TO_THz"] - 1)

    def field(m: str) -> dict[str, Any]:
        return checks.get(m, {}).get("field", {})

    lines = ["### Targets (issue 14)", "",
             "| target | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models),
             row("force MAE vs teacher <= 0.06 eV/A (test + rattled)",
                 lambda m: cell(ev(m)["forces"], None if ev(m)["forces"] is None else ev(m)["forces"] <= 0.06, 3)),
             row("MgO TO within 5 % of the teacher (%)",
                 lambda m: cell(to_rel(m), None if to_rel(m) is None else abs(to_rel(m)) <= 5, 1)),
             row("test optical modes within 5 % of the teacher (fraction)",
                 lambda m: cell(comps.get(m, {}).get("optical_within_5pct_fraction"), None)),
             row("test volumes within 3 % of the teacher (fraction)",
                 lambda m: cell(comps.get(m, {}).get("volume_within_3pct_fraction"),
                                None if m not in comps else comps[m]["volume_within_3pct_fraction"] == 1.0)),
             row("elastic PD wherever the teacher's is",
                 lambda m: "-" if m not in comps else
                 f"{comps[m]['elastic_pd_student_where_teacher_pd']}/{comps[m]['elastic_pd_teacher']} "
                 f"({_mark(comps[m]['elastic_pd_student_where_teacher_pd'] == comps[m]['elastic_pd_teacher'])})"),
             row("phonon stability at the DFT cell >= 0.85",
                 lambda m: cell(ev(m)["stability"], None if ev(m)["stability"] is None else ev(m)["stability"] >= 0.85)),
             row("eps_ionic median abs error <= 1.5",
                 lambda m: cell(ev(m)["eps_ionic_median"], None if ev(m)["eps_ionic_median"] is None
                                else ev(m)["eps_ionic_median"] <= 1.5)),
             row("MgO eps_ionic (model Z*) within 30 % of 6.8",
                 lambda m: cell(field(m).get("MgO", {}).get("eps_ionic_model_Z"),
                                None if not field(m) else abs(field(m)["MgO"]["eps_ionic_model_Z"]
                                                              / MGO_EPS_IONIC_EXPERIMENT - 1) <= 0.3)),
             row("BaTiO3 P4mm stays polar, Ps within 30 % of Berry phase (Ps / Berry)",
                 lambda m: cell(field(m).get("BaTiO3_P4mm_fixed_cell", {}).get("ratio_to_berry_phase"),
                                None if not field(m) else abs(field(m)["BaTiO3_P4mm_fixed_cell"]
                                                              ["ratio_to_berry_phase"] - 1) <= 0.3)),
             row("Z* diagonal MAE <= 0.35 e",
                 lambda m: cell(ev(m)["z"], None if ev(m)["z"] is None else ev(m)["z"] <= 0.35, 3)),
             row("eps_inf diagonal MAE <= 1.0",
                 lambda m: cell(ev(m)["eps_inf"], None if ev(m)["eps_inf"] is None else ev(m)["eps_inf"] <= 1.0, 3)),
             ""]
    return lines


def result_lines(campaign: Path) -> list[str]:
    """Every results block, in reading order."""
    return (data_curve_lines(campaign) + field_curve_lines(campaign) + field_check_lines(campaign) + compare_lines(campaign)
            + eval_lines(campaign) + target_table_lines(campaign))
