"""Importing our model package (and with it mace) leaves torch.load's safe default to user code."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

SCRIPT = textwrap.dedent("""
    import os, pickle, sys, torch
    import macefield_flows.model  # imports mace, which sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
    from macefield_flows.model import load_model, save_model
    from macefield_flows.testing import tiny_field_model

    class Payload:
        def __reduce__(self):
            return (print, ("unpickled code ran",))

    folder = sys.argv[1]
    torch.save({"x": Payload()}, folder + "/user.pt")
    try:
        torch.load(folder + "/user.pt")  # user code, no weights_only: torch's default decides
        print("USER_LOAD=unsafe")
    except pickle.UnpicklingError:
        print("USER_LOAD=safe")
    save_model(tiny_field_model(["Mg", "O"]), folder + "/model.pt")
    print("OUR_LOAD=" + str(len(load_model(folder + "/model.pt").model_info.elements)))
    print("ENV=" + str(os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")))
""")


def _run(tmp_path, **env):
    environ = {k: v for k, v in os.environ.items()
               if k not in ("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "MACEFIELD_KEEP_TORCH_LOAD_OVERRIDE")}
    environ.update(env, PYTHONPATH=str(SRC) + os.pathsep + environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          env=environ, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_safe_default_restored_and_our_loading_works(tmp_path):
    out = _run(tmp_path)
    assert out == {"USER_LOAD": "safe", "OUR_LOAD": "2", "ENV": "None"}


def test_keep_override_on_request(tmp_path):
    out = _run(tmp_path, MACEFIELD_KEEP_TORCH_LOAD_OVERRIDE="1")
    assert out["ENV"] == "1" and out["USER_LOAD"] == "unsafe" and out["OUR_LOAD"] == "2"
