"""Trustworthy screening at scale with the shipped model (issue 10): flag counts, faults, kill/resume.

Usage (from the repository root; CPU is fine, a GPU is faster)::

    python workflows/trust_screening.py calibrate --n 200 --out runs/trust   # benchmark set + Petousis sample
    python workflows/trust_screening.py faults --n 180 --out runs/faults     # + bad-input corpus, kill -9, rerun

``calibrate`` screens the built-in benchmark set and ``--n`` structures drawn
(seed 0, at most ``--max-sites`` sites) from the Petousis 2017 MP dielectric set
(``$MACEFIELD_REFERENCE_DIR`` or /work/shared/data/reference) with the shipped
model, and prints how many results each quality flag marks. ``faults`` screens
the Petousis sample plus the fault corpus (macefield_flows.testing_faults), kills
the run with SIGKILL at about half way, reruns it, and prints what became of
every input and how many structures were recomputed. Figures go to
``<out>/figures_<mode>.json``. ``reassess`` recomputes the flags of an existing
``calibrate`` store under the current thresholds (no model evaluation).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REF_DIRS = [os.environ.get("MACEFIELD_REFERENCE_DIR", ""), "/work/shared/data/reference"]


def petousis_sample(n: int, max_sites: int, seed: int = 0) -> list[dict]:
    for d in REF_DIRS:
        path = Path(d) / "mp_dielectric_petousis2017.jsonl.gz"
        if d and path.is_file():
            rows = [json.loads(line) for line in gzip.open(path, "rt")]
            rows = [r for r in rows if r["nsites"] <= max_sites]
            random.Random(seed).shuffle(rows)
            return rows[:n]
    raise SystemExit("Petousis reference file not found: set MACEFIELD_REFERENCE_DIR")


def write_inputs(folder: Path, n: int, max_sites: int, benchmark: bool) -> int:
    from macefield_flows.references.benchmark import load_benchmark_set

    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    if benchmark:
        for e in load_benchmark_set():
            (folder / f"bench_{e.name}.json").write_text(json.dumps(e.structure.as_dict()))
            count += 1
    for r in petousis_sample(n, max_sites):
        (folder / f"{r['material_id']}.json").write_text(json.dumps(r["structure"]))
        count += 1
    return count


def screen_cmd(inputs: list[str], store: Path, model: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "macefield_flows", "screen", *inputs, "--model", model, "--store", str(store),
            *extra]


def docs_of(store: Path) -> list[dict]:
    from macefield_flows.stores import get_jobstore, iter_task_docs

    return list(iter_task_docs(get_jobstore(str(store))))


def flag_counts(docs: list[dict]) -> dict:
    ok = [d for d in docs if d.get("status") == "successful"]
    counts = collections.Counter(f["name"] for d in ok for f in (d.get("quality") or {}).get("flags", []))
    return {"n_successful": len(ok), "n_failed": len(docs) - len(ok),
            "n_reliable": sum(bool((d.get("quality") or {}).get("reliable")) for d in ok),
            "flags": dict(counts.most_common())}


def calibrate(args) -> dict:
    out = Path(args.out)
    n = write_inputs(out / "inputs", args.n, args.max_sites, benchmark=True)
    t0 = time.time()
    proc = subprocess.run(screen_cmd([str(out / "inputs")], out / "store", args.model, args.screen_args),
                          capture_output=True, text=True)
    print(proc.stdout[-3000:], proc.stderr[-2000:])
    docs = docs_of(out / "store")
    bench = [d for d in docs if str(d.get("structure_id", "")).startswith("bench_")]
    pet = [d for d in docs if not str(d.get("structure_id", "")).startswith("bench_")]
    figures = {"n_inputs": n, "wall_s": round(time.time() - t0, 1), "benchmark": flag_counts(bench),
               "petousis": flag_counts(pet), "screen_args": args.screen_args}
    return figures


def reassess(args) -> dict:
    """Flag counts of an existing calibration store under the current thresholds (no recomputation)."""
    from macefield_flows.physics.quality import assess, is_reliable

    docs = []
    for d in docs_of(Path(args.out) / "store"):
        if d.get("status") == "successful":
            flags = assess(d)
            d = {**d, "quality": {"reliable": is_reliable(flags), "flags": flags}}
        docs.append(d)
    bench = [d for d in docs if str(d.get("structure_id", "")).startswith("bench_")]
    pet = [d for d in docs if not str(d.get("structure_id", "")).startswith("bench_")]
    return {"benchmark": flag_counts(bench), "petousis": flag_counts(pet)}


def faults(args) -> dict:
    from macefield_flows.testing_faults import write_fault_corpus

    out = Path(args.out)
    write_inputs(out / "inputs", args.n, args.max_sites, benchmark=False)
    cases = write_fault_corpus(out / "corpus")
    argv = [str(out / "inputs")] + [c.arg for c in cases]
    store = out / "store"
    proc = subprocess.Popen(screen_cmd(argv, store, args.model, args.screen_args + ["--chunk-size", "5"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = args.n // 2

    def n_done() -> int:
        try:
            return len([d for d in docs_of(store) if d["status"] == "successful"]) if store.exists() else 0
        except Exception:  # noqa: BLE001 (the store is being created)
            return 0

    while proc.poll() is None and n_done() < target:
        time.sleep(2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {d["task_id"]: d["provenance"]["completed_at"] for d in docs_of(store)}
    rerun = subprocess.run(screen_cmd(argv, store, args.model, args.screen_args), capture_output=True, text=True)
    docs = docs_of(store)
    # failed-input documents are rewritten on every run (same task_id); count computed structures only
    recomputed = sum(1 for d in docs if d["status"] == "successful" and d["task_id"] in before
                     and before[d["task_id"]] != d["provenance"]["completed_at"])
    n_success_before = sum(1 for d in docs_of(store) if d["status"] == "successful" and d["task_id"] in before)
    by_case = {}
    for c in cases:
        mine = [d for d in docs if str(d.get("input_source", "")).startswith(c.arg)]
        by_case[c.kind] = [(d["status"], d.get("failure_reason") or ",".join(
            f["name"] for f in (d.get("quality") or {}).get("flags", []))) for d in mine]
    return {"n_inputs_args": len(argv), "killed_after_docs": len(before),
            "successful_before_kill": n_success_before, "rerun_exit": rerun.returncode,
            "rerun_stdout_head": rerun.stdout[:400], "documents": len(docs), "recomputed_after_kill": recomputed,
            "corpus": by_case, "flags": flag_counts(docs)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["calibrate", "reassess", "faults"])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--max-sites", type=int, default=10)
    p.add_argument("--out", default="runs/trust")
    p.add_argument("--model", default="default")
    args, extra = p.parse_known_args()
    args.screen_args = [a for a in extra if a != "--"]  # anything else goes to `macefield screen`
    figures = {"calibrate": calibrate, "reassess": reassess, "faults": faults}[args.mode](args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"figures_{args.mode}.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1)[:6000])


if __name__ == "__main__":
    main()
