"""The "v4 campaign" section of ``docs/model_card.md``, rendered from the committed campaign state.

Sources (``campaign/v4``): ``stages.json`` (wall time of every stage call), ``distill/state.pt``
(per-epoch history: the learning curve), ``check-*.json`` (textbook checks), ``status.md`` (the
status sentence, optional) and the result files of :mod:`macefield_flows.training.v4_card_results`. The section sits
between :data:`BEGIN` and :data:`END` markers; :func:`update_card` replaces it in place and
``card.write_card`` keeps it when the rest of the card is regenerated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BEGIN = "<!-- v4-campaign:begin -->"
END = "<!-- v4-campaign:end -->"

TEACHER_CHOICE = """\
**Teacher: SevenNet-0** (`sevenn` 0.13.0 wheel, MIT; the `7net-0` checkpoint ships inside the package,
trained on MPtrj, PBE/PBE+U). Chosen over CHGNet 0.3.0 (the v1-v3 teacher, BSD-3) and
SevenNet-l3i5 because its Gamma phonons and eps_ionic on the textbook crystals are as good as
l3i5's within 2 % (MgO TO 10.64 vs 10.86 THz, eps_ionic 8.42 vs 8.08) and clearly closer to PBE than
CHGNet's (10.07 THz, 9.41 as measured for the issue), while it is several times cheaper per label
than l3i5, and labelling time is the campaign's bottleneck on a shared 2-core CPU. It runs in its own
venv (it needs e3nn >= 0.5; mace-torch pins 0.4.4): `macefield_flows.training.teacher` starts
`teacher_worker.py` with the venv's python and exchanges JSON lines; the project never imports
`sevenn`."""


def extract_section(text: str) -> str:
    """The marked v4 section of a card text ('' when absent)."""
    if BEGIN in text and END in text:
        return text[text.index(BEGIN): text.index(END) + len(END)]
    return ""


def _fmt(x: Any, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _check_rows(checks: dict[str, dict[str, Any]]) -> list[str]:
    rows = ["| potential | MgO TO (THz) | MgO eps_ionic (Z* 1.97) | MgO C11 / C12 / C44 (GPa) | "
            "volume change MgO / ZnO / BaTiO3 (%) | lowest optical mode of cubic BaTiO3 a = 4.00 A (THz) | P4mm BaTiO3 Ti offset, "
            "start -> relaxed (A) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, c in checks.items():
        m = c["MgO"]
        vol = c.get("volumes", {})
        v = " / ".join(_fmt(vol.get(k, {}).get("volume_change_pct"), 1) for k in ("MgO", "ZnO", "BaTiO3-P4mm"))
        pol = c.get("BaTiO3_P4mm_fixed_cell", {})
        gamma = sorted(c.get("BaTiO3_cubic_gamma_THz", []), key=abs)[3:]  # drop the 3 acoustic modes
        soft = min(gamma) if gamma else float("nan")
        rows.append(f"| {label} | {m['TO_THz']:.2f} | {m['eps_ionic']:.2f} | {m['C11']:.0f} / {m['C12']:.0f} / "
                    f"{m['C44']:.0f} | {v} | {soft:.2f} | {_fmt(pol.get('ti_offset_start_A'), 3)} -> "
                    f"{_fmt(pol.get('ti_offset_relaxed_A'), 3)} |")
    return rows


def shipped_lines(registry_file: Path | None = None, prefix: str = "macefield-small-v4") -> list[str]:
    """File, sha256 and use of each registered v4 model (registry names starting with ``prefix``)."""
    from macefield_flows.training.registry import REGISTRY_FILE, load_registry

    reg = load_registry(registry_file or REGISTRY_FILE)
    lines = []
    for name, entry in sorted(reg.get("models", {}).items()):
        if not name.startswith(prefix):
            continue
        role = "the registry default" if reg.get("default") == name else (
            f"registered, not the default (`--model {name}`, `load_model(\"{name}\")`)")
        lines += [f"### Shipped: `{name}` ({role})", "",
                  f"- `data/models/{entry['file']}` (project safe format, float64), sha256 `{entry['sha256']}`",
                  f"- size {entry.get('size_bytes')} bytes, {entry.get('num_parameters')} parameters, "
                  f"{len(entry.get('elements', []))} elements (the same as v3)", ""]
    return lines


def render_section(campaign: Path) -> str:
    """Markdown of the v4 section from the files under ``campaign``."""
    from macefield_flows.training.pipeline import read_stages

    stages = read_stages(campaign)
    status = ((campaign / "status.md").read_text().strip() if (campaign / "status.md").is_file() else
              "**Status: in progress; the shipped default stays `macefield-small-v3`** until v4 beats it on the "
              "potential targets without losing on Z* and eps_inf.")
    lines = [BEGIN, "## v4 campaign: status, stage wall times, learning curve so far", "",
             "Issue 14 (a multi-session campaign for a default model faithful enough for ionic, piezoelectric "
             f"and elastic screening). {status} State to resume from: `campaign/v4/` (see its README).", "",
             TEACHER_CHOICE, ""] + shipped_lines()
    labels = stages.get("labels", {})
    chunks = [c for c in labels.get("calls", []) if "chunk" in c]
    lines += ["### Data",
              "",
              "SevenNet-0 labels of train-split structures (Petretto + Petousis pools, <= 12 atoms; valid split "
              "for early stopping; the Smidt ferroelectric paths are evaluation-only and unused): per material "
              "the structure, a rattled (0.05 A) + strained (0.02) copy, a strongly rattled (0.1 A) copy and one "
              "Hessian-vector product (central differences of the teacher's forces, step 0.01 A, along a random "
              "unit direction at a 0.03 A-rattled copy); ABO3 perovskites also get BaTiO3-like polar paths "
              "(B +d, O -d/3 along x, z, [111], d = 0.05-0.3 A). The student learns H v by double backward. "
              f"Label chunks so far: {', '.join(c['chunk'] for c in chunks) or 'none'}.", ""]
    lines += ["### Stage wall times (shared 2-core CPU, one core, float32 training)", "",
              "| stage | calls | wall time (s) | notes |", "| --- | --- | --- | --- |"]
    for name, entry in stages.items():
        if name == "throughput":
            continue
        calls = entry.get("calls", [])
        note = ""
        last = calls[-1] if calls else {}
        if name == "distill" and last:
            note = (f"{last.get('n_train_efs')} EFS + {last.get('n_train_hvp')} HVP train labels, "
                    f"{last.get('n_valid_efs')} + {last.get('n_valid_hvp')} valid; {last.get('epochs')} epochs, "
                    f"{last.get('steps')} steps")
        elif name.startswith("distill-c") and last:
            note = (f"learning curve over data: first {last.get('train_chunks')} label chunks, "
                    f"{last.get('n_train_efs')} EFS + {last.get('n_train_hvp')} HVP, {last.get('steps')} steps")
        elif name.startswith("field") and last:
            settings = last.get("settings", {})
            keys = ("lr", "w_bec", "w_eps") if settings.get("freeze_backbone") else (
                "lr", "backbone_lr_factor", "w_bec", "w_eps")
            note = ", ".join(f"{k} {settings[k]}" for k in keys if k in settings)
            note += ", backbone frozen" if settings.get("freeze_backbone") else ""
            if last.get("tolerance") is not None:
                note += f", guard tolerance {last['tolerance']}"
            stop = last.get("stopped_by_guard") or last.get("note")
            note += f"; {'stopped by guard: ' if last.get('stopped_by_guard') else ''}{stop}" if stop else ""
        elif name == "labels":
            note = f"{len(chunks)} chunks of 100 materials (train + valid)"
        lines.append(f"| {name} | {len(calls)} | {entry.get('wall_s_total', 0.0):.0f} | {note} |")
    hist = _history(campaign / "distill" / "state.pt")
    if hist and "distill" not in stages:
        lines.append(f"| distill (call still running at the snapshot; from its checkpoint) | 1 | "
                     f"{hist[-1]['wall_s']:.0f} | {hist[-1]['step']} steps |")
    lines.append("")
    if hist:
        lines += ["### Learning curve (distillation, valid split vs the teacher)", "",
                  "| epoch | step | train wall (s) | lr | train force MAE (eV/A) | valid force MAE (eV/A) | "
                  "valid energy MAE (eV/atom) | valid stress MAE (eV/A^3) | valid HVP MAE (eV/A^2) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for h in hist:
            lines.append(f"| {h['epoch']} | {h['step']} | {h['wall_s']:.0f} | {h['lr']:.1e} | "
                         f"{_fmt(h.get('train_f_mae'), 3)} | {_fmt(h.get('valid_f_mae'), 3)} | "
                         f"{_fmt(h.get('valid_e_mae'), 3)} | {_fmt(h.get('valid_s_mae'), 4)} | "
                         f"{_fmt(h.get('valid_hvp_mae'), 3)} |")
        lines.append("")
    tp = stages.get("throughput", {}).get("calls", [])
    if tp:
        t = tp[-1]
        lines += ["### Engine throughput (`macefield train v4-throughput`, same run)", "",
                  f"`engine.evaluate` with all default properties (Z*, chi, force constants, strain "
                  f"derivatives), float64, {t.get('threads')} CPU thread(s) on the shared machine, "
                  f"{t.get('n_structures')} Petousis test structures ({t.get('v3', {}).get('atoms')} atoms); "
                  "the fastest of two interleaved rounds: "
                  + "; ".join(f"{k} {t[k]['structures_per_s']:.1f} structures/s ({t[k]['parameters']} parameters)"
                              for k in ("v3", "v4") if k in t) + ".", ""]
    checks = {}
    for path in sorted(campaign.glob("check-*.json")):
        data = json.loads(path.read_text())
        checks[path.stem.removeprefix("check-")] = data
    if checks:
        lines += ["### Textbook checks (`macefield train v4-check`)", "",
                  "MgO a = 4.21 A (central-difference Gamma force constants, eps_ionic with the DFPT Z* 1.97, "
                  "clamped-ion C_ij from +-0.5 % strains); volumes after full relaxation from the MP P4mm "
                  "BaTiO3 cell, the Petretto (PBEsol) ZnO cell and MgO at 4.21 A; the P4mm cell's ions "
                  "relaxed at fixed cell (polar if the Ti offset stays > 0.02 A). Experiment: MgO TO 12.0 THz, "
                  "eps_ionic about 6.8. `v4-distill` is the best-valid distilled backbone at the time of the "
                  "snapshot (no field blocks yet; the Z* used is the fixed DFPT value).", ""]
        lines += _check_rows(checks)
        lines.append("")
        lines += _target_lines(checks)
    from macefield_flows.training.v4_card_results import result_lines

    lines += result_lines(campaign)
    lines.append(END)
    return "\n".join(lines)


def _target_lines(checks: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's teacher targets on the textbook crystals, for every student with a check."""
    teacher = next((c for k, c in checks.items() if k.startswith("teacher")), None)
    if teacher is None:
        return []
    out = []
    for label, c in checks.items():
        if label.startswith("teacher"):
            continue
        to = 100 * (c["MgO"]["TO_THz"] / teacher["MgO"]["TO_THz"] - 1)
        dv = {k: c.get("volumes", {}).get(k, {}).get("volume_change_pct", float("nan"))
              - teacher.get("volumes", {}).get(k, {}).get("volume_change_pct", float("nan"))
              for k in ("MgO", "ZnO", "BaTiO3-P4mm")}
        pd = c["MgO"].get("min_eigenvalue", float("nan")) > 0
        polar = c.get("BaTiO3_P4mm_fixed_cell", {}).get("polar")
        out.append(f"- **{label}** against the teacher: MgO TO {to:+.1f} % (target within 5 %); relaxed "
                   "volume minus the teacher's " + ", ".join(f"{k} {v:+.1f} %" for k, v in dv.items())
                   + f" (target within 3 %); MgO elastic tensor positive definite: {pd}; "
                   f"P4mm BaTiO3 stays polar: {polar}.")
    return out + [""] if out else []


def _history(state_path: Path) -> list[dict[str, Any]]:
    if not state_path.is_file():
        return []
    import torch

    return list(torch.load(state_path, map_location="cpu", weights_only=True)["state"]["history"])


def update_card(card: Path, campaign: Path) -> Path:
    """Replace (or append) the v4 section of ``card``."""
    text = card.read_text()
    section = render_section(campaign)
    old = extract_section(text)
    text = text.replace(old, section) if old else text.rstrip("\n") + "\n\n" + section + "\n"
    card.write_text(text)
    return card
