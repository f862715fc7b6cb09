"""Mutation testing of the physics package and the document assembly (a periodic check, not CI).

Each mutant changes one thing inside one function body of the target modules
(an arithmetic or comparison operator, a constant, an einsum index string, a
transpose, a sign, a boolean) and the chosen tests are run against it; a
mutant is *killed* when a test fails. A surviving mutant is either a missing
test or an equivalent change (explained in docs/testing.md).

The mutant is applied by swapping the ``__code__`` of the live function, so
every reference to it (``from x import f`` included) sees the mutant, and the
tests run in this process with ``pytest.main`` (no re-import per mutant: a few
seconds each). Mutants are sampled (``--sample``, seeded) to bound the runtime;
use one core (``OMP_NUM_THREADS=1``).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/mutation_check.py physics \\
        --sample 40 --out mutation-physics.json --tests tests/physics tests/documents/test_task_document.py

Run it once with the older tests (a checkout of them, ``--rootdir``) and once
with the current ones to compare scores on the same sampled mutants.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import json
import os
import random
import signal
import sys
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path

TARGETS = {
    "physics": {
        "modules": ["macefield_flows.physics.born", "macefield_flows.physics.dielectric",
                    "macefield_flows.physics.phonons", "macefield_flows.physics.piezo",
                    "macefield_flows.physics.polarization", "macefield_flows.physics.symmetry"],
        "functions": None,  # every function
    },
    "assembly": {
        "modules": ["macefield_flows.screening"],
        "functions": {"build_task_doc", "_assemble", "_symmetrized", "_symmetrized_voigt"},
    },
}

SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
SWAP_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq}


@dataclass
class Mutant:
    module: str
    function: str
    line: int
    kind: str
    description: str
    site: int  # index of the site in the function's walk order
    status: str = "pending"  # killed / survived / error
    seconds: float = 0.0


def _walk_body(func: ast.FunctionDef):
    """Nodes of the function body, skipping error messages, f-strings, logging and docstrings.

    (Defaults and decorators are not part of ``__code__``, so mutating them would be a no-op.)
    """
    stack = list(reversed(func.body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Raise, ast.JoinedStr)):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in ("logger", "logging"):
            continue
        yield node
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _sites(func: ast.AST) -> list[tuple[ast.AST, str, str]]:
    """(node, kind, description) of every mutation site of a function body (walk order)."""
    out = []
    for node in _walk_body(func):
        if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant):
            continue  # docstrings
        if isinstance(node, ast.BinOp) and type(node.op) in SWAP_BINOP:
            new = SWAP_BINOP[type(node.op)].__name__
            out.append((node, "binop", f"{type(node.op).__name__} -> {new}"))
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAP_CMP:
            out.append((node, "compare", f"{type(node.ops[0]).__name__} -> {SWAP_CMP[type(node.ops[0])].__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            out.append((node, "unary", "drop unary minus"))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(node.value, bool):
            out.append((node, "constant", f"{node.value!r} -> {_new_constant(node.value)!r}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            out.append((node, "bool", f"{node.value} -> {not node.value}"))
        elif isinstance(node, ast.Attribute) and node.attr == "T":
            out.append((node, "transpose", "drop .T"))
        elif isinstance(node, ast.Call) and _is_einsum(node) and isinstance(node.args[0], ast.Constant):
            spec = node.args[0].value
            if isinstance(spec, str) and _einsum_mutation(spec) != spec:
                out.append((node, "einsum", f"{spec!r} -> {_einsum_mutation(spec)!r}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "transpose" \
                and len(node.args) >= 2:
            out.append((node, "axes", "swap the last two transpose axes"))
    return out


def _new_constant(v):
    if isinstance(v, int):
        return v + 1
    return 0.0 if v == 1.0 else (1.0 if v == 0.0 else v * 2.0)


def _is_einsum(node: ast.Call) -> bool:
    f = node.func
    return (isinstance(f, ast.Attribute) and f.attr == "einsum") or (isinstance(f, ast.Name) and f.id == "einsum")


def _einsum_mutation(spec: str) -> str:
    """Swap the two indices of the first operand that also appear in the output (a wrong-index contraction)."""
    if "->" not in spec:
        return spec
    inputs, output = spec.split("->")
    first = inputs.split(",")[0]
    letters = [c for c in first if c.isalpha()]
    for i in range(len(letters) - 1):
        a, b = letters[i], letters[i + 1]
        if a != b:
            swapped = first.replace(a, "#").replace(b, a).replace("#", b)
            return ",".join([swapped] + inputs.split(",")[1:]) + "->" + output
    return spec


def _apply(node: ast.AST, kind: str) -> ast.AST:
    if kind == "binop":
        node.op = SWAP_BINOP[type(node.op)]()
    elif kind == "compare":
        node.ops = [SWAP_CMP[type(node.ops[0])]()]
    elif kind == "unary":
        return node.operand
    elif kind == "constant":
        node.value = _new_constant(node.value)
    elif kind == "bool":
        node.value = not node.value
    elif kind == "transpose":
        return node.value
    elif kind == "einsum":
        node.args[0] = ast.Constant(_einsum_mutation(node.args[0].value))
    elif kind == "axes":
        node.args[-2], node.args[-1] = node.args[-1], node.args[-2]
    return node


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, kind: str):
        self.target, self.kind = target, kind

    def visit(self, node):
        if node is self.target:
            return _apply(node, self.kind)
        return self.generic_visit(node)


def _functions(tree: ast.Module, wanted) -> list[tuple[str, ast.FunctionDef, str | None]]:
    """(qualified name, node, class name) of module-level functions and methods."""
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and (wanted is None or node.name in wanted):
            out.append((node.name, node, None))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (wanted is None or item.name in wanted):
                    out.append((f"{node.name}.{item.name}", item, node.name))
    return out


def enumerate_mutants(target: str) -> list[Mutant]:
    spec = TARGETS[target]
    mutants = []
    for modname in spec["modules"]:
        mod = importlib.import_module(modname)
        tree = ast.parse(Path(mod.__file__).read_text())
        for qual, func, _ in _functions(tree, spec["functions"]):
            for k, (node, kind, desc) in enumerate(_sites(func)):
                mutants.append(Mutant(modname, qual, getattr(node, "lineno", func.lineno), kind, desc, k))
    return mutants


def _live_function(mod: types.ModuleType, qual: str):
    obj = mod
    for part in qual.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "__func__", obj)


def _compile_mutant(m: Mutant):
    """Code object of the mutated function."""
    mod = importlib.import_module(m.module)
    tree = ast.parse(Path(mod.__file__).read_text())
    func = next(f for q, f, _ in _functions(tree, None) if q == m.function)
    func = copy.deepcopy(func)
    node, kind, _ = _sites(func)[m.site]
    func = _Replace(node, kind).visit(func)
    func.decorator_list = []
    wrapper = ast.Module(body=[func], type_ignores=[])
    ast.fix_missing_locations(wrapper)
    namespace = dict(vars(mod))
    exec(compile(wrapper, mod.__file__, "exec"), namespace)  # noqa: S102 (our own source, mutated)
    return namespace[func.name].__code__


class _Timeout(Exception):
    pass


def run_tests(test_args: list[str], timeout: int) -> int:
    import pytest

    def alarm(*_):
        raise _Timeout()

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout)
    try:
        return int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore", *test_args]))
    except _Timeout:
        return 99
    finally:
        signal.alarm(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--sample", type=int, default=40, help="number of mutants (seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=300, help="seconds per mutant")
    parser.add_argument("--rootdir", default=".", help="folder the test paths are relative to")
    parser.add_argument("--out", default=None, help="JSON report")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--kinds", default=None,
                        help="comma-separated mutation kinds to keep (e.g. einsum,axes,transpose: index errors)")
    parser.add_argument("--survivors-of", default=None,
                        help="JSON report of an earlier run: rerun only its surviving mutants (a larger "
                             "test set kills every mutant a subset killed)")
    parser.add_argument("--tests", nargs="+", required=True, help="test paths (relative to --rootdir)")
    args = parser.parse_args(argv)
    all_mutants = enumerate_mutants(args.target)
    if args.kinds:
        all_mutants = [m for m in all_mutants if m.kind in args.kinds.split(",")]
    rng = random.Random(args.seed)
    sample = sorted(rng.sample(range(len(all_mutants)), min(args.sample, len(all_mutants))))
    mutants = [all_mutants[i] for i in sample]
    carried: list[Mutant] = []
    if args.survivors_of:
        earlier = json.loads(Path(args.survivors_of).read_text())["mutants"]
        alive = {(m["module"], m["function"], m["site"]) for m in earlier if m["status"] == "survived"}
        carried = [Mutant(**{**m, "seconds": 0.0}) for m in earlier if m["status"] == "killed"]
        mutants = [m for m in mutants if (m.module, m.function, m.site) in alive]
    if args.list:
        for m in mutants:
            print(f"{m.module}:{m.line} {m.function} [{m.kind}] {m.description}")
        return 0
    os.chdir(args.rootdir)
    sys.path.insert(0, os.getcwd())
    if run_tests(args.tests, args.timeout) != 0:
        print("the tests fail without any mutant: fix that first", file=sys.stderr)
        return 2
    for m in mutants:
        mod = importlib.import_module(m.module)
        live = _live_function(mod, m.function)
        original = live.__code__
        t0 = time.perf_counter()
        try:
            live.__code__ = _compile_mutant(m)
        except (SyntaxError, ValueError, TypeError) as exc:
            m.status, m.description = "error", f"{m.description} ({exc})"
            continue
        try:
            rc = run_tests(args.tests, args.timeout)
        finally:
            live.__code__ = original
        m.status = "survived" if rc == 0 else "killed"
        m.seconds = round(time.perf_counter() - t0, 1)
        print(f"[{m.status}] {m.module}:{m.line} {m.function} {m.description} ({m.seconds} s)", flush=True)
    mutants = carried + mutants
    valid = [m for m in mutants if m.status in ("killed", "survived")]
    killed = sum(m.status == "killed" for m in valid)
    score = killed / len(valid) if valid else float("nan")
    print(f"\n{args.target}: {killed}/{len(valid)} killed, score {score:.2f} "
          f"({len(all_mutants)} mutants in total, {len(mutants)} sampled, seed {args.seed})")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "target": args.target, "tests": args.tests, "rootdir": os.getcwd(), "seed": args.seed,
            "n_total": len(all_mutants), "n_sampled": len(mutants), "killed": killed, "valid": len(valid),
            "score": score, "mutants": [asdict(m) for m in mutants]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
