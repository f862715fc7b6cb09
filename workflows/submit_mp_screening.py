"""Submit a Materials Project screening to jobflow-remote.

Usage (after configuring the project, see docs/workflows.md)::

    export MP_API_KEY=...            # Materials Project API key
    python workflows/submit_mp_screening.py --ids mp-149 mp-2534 ... --model /path/model.pt
    python workflows/submit_mp_screening.py --ids-file ids.txt --model /path/model.pt --worker gpu
    jf runner start                  # the runner uploads, submits (sbatch) and collects

Structures already in the project's output store (same model sha256 and
settings) are skipped, so the script can be rerun after an interruption.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", nargs="*", default=[], help="Materials Project ids (mp-149 ...)")
    parser.add_argument("--ids-file", type=Path, help="file with one id per line")
    parser.add_argument("--model", required=True, help="model file visible from the worker (same path)")
    parser.add_argument("--head", default=None)
    parser.add_argument("--chunk-size", type=int, default=100, help="structures per GPU job")
    parser.add_argument("--no-relax", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--worker", default="gpu")
    parser.add_argument("--project", default=None, help="jobflow-remote project (default: current)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)

    from jobflow_remote import submit_flow
    from jobflow_remote.config.manager import ConfigManager

    from macefield_flows.flows import ScreeningMaker, build_screening_flow

    ids = list(args.ids)
    if args.ids_file:
        ids += [line.strip() for line in args.ids_file.read_text().splitlines() if line.strip()]
    if not ids:
        parser.error("no Materials Project ids given")
    project = ConfigManager().get_project(args.project)
    store = project.get_jobstore()
    store.connect()
    maker = ScreeningMaker(model=args.model, head=args.head, device=args.device, chunk_size=args.chunk_size,
                           relax=not args.no_relax)
    flow, n, skipped = build_screening_flow(maker, ids, store)
    print(f"{n} structures, {skipped} already stored, {len(flow.jobs)} jobs to submit")
    if not flow.jobs:
        return []
    return submit_flow(flow, worker=args.worker, project=project.name)


if __name__ == "__main__":
    main()
