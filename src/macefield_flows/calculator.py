"""ASE calculator for FieldMACE models.

Results use ASE's standard names plus the response properties:

===========================  ===========  ==============================================
key                          shape        unit
===========================  ===========  ==============================================
energy, free_energy          scalar       eV (electric enthalpy F at the set field)
forces                       (N, 3)       eV/A
stress                       (6,)         eV/A^3, ASE Voigt order and sign
dipole                       (3,)         e*A
polarization                 (3,)         e/A^2 (periodic only)
born_effective_charges       (N, 3, 3)    e, [k, i, j], i = field, j = displacement
polarizability               (3, 3)       e*A^2/V
epsilon_electronic           (3, 3)       eps_inf = I + chi (periodic only)
===========================  ===========  ==============================================

Born charges, polarizability and eps_inf (three extra backward passes) are
computed only when one of them is requested; energy, forces, stress, dipole and
polarisation come from one pass.

The field is an explicit attribute (V/A). Changing it invalidates cached results,
unlike a field hidden in ``atoms.info`` (which ``MACECalculator.check_state``
would ignore).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

FIELD_PROPERTIES = ("dipole", "polarization", "born_effective_charges", "polarizability",
                    "epsilon_electronic")
SECOND_ORDER = ("born_effective_charges", "polarizability", "epsilon_electronic")


class MACEFieldCalculator(Calculator):
    """ASE calculator wrapping a :class:`~macefield_flows.model.FieldMACE`.

    Parameters
    ----------
    model : a FieldMACE instance, a path to a model file, ``"default"`` (the shipped
        model) or a registered model name (resolved by
        :func:`macefield_flows.model.registry.resolve_model_path`).
    device : torch device string.
    dtype : "float64" (default, best for derivatives) or "float32".
    electric_field : uniform field (3,) in V/A.
    head : readout head of a multi-head model. Default: as mace's calculator, the only
        head, else the head named "default" (case-insensitive) with an
        ``ImplicitHeadWarning``, else an error (:mod:`macefield_flows.model.heads`).
    trust_pickle : forwarded to :func:`load_model` for pickled files.
    backend : "e3nn" or "cueq" (:mod:`macefield_flows.model.backends`); None keeps the
        model's (a file: the backend it was saved with). A model instance is converted
        into a new model, never in place.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", *FIELD_PROPERTIES]

    def __init__(
        self,
        model: Any = "default",
        device: str = "cpu",
        dtype: str = "float64",
        electric_field: Sequence[float] = (0.0, 0.0, 0.0),
        head: Optional[str] = None,
        trust_pickle: bool = False,
        backend: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from macefield_flows.model.backends import convert_backend, normalize_backend
        from macefield_flows.model.heads import model_heads, resolve_head
        from macefield_flows.model.io import load_model

        torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
        if model is None or isinstance(model, (str, Path)):
            model = load_model(model, device=device, dtype=dtype, trust_pickle=trust_pickle,
                               backend=backend)
        elif backend is not None and normalize_backend(backend) != getattr(model, "backend", "e3nn"):
            model = convert_backend(model, backend, device=device)
        self.model = model.to(device=device, dtype=torch_dtype).eval()
        self.device = device
        self.dtype = torch_dtype
        self.head = resolve_head(self.model, head)
        self.head_index = model_heads(self.model).index(self.head)
        self._field = np.zeros(3)
        self.electric_field = electric_field

    @property
    def electric_field(self) -> np.ndarray:
        """Uniform electric field, V/A, shape (3,)."""
        return self._field.copy()

    @electric_field.setter
    def electric_field(self, value: Sequence[float]) -> None:
        field = np.asarray(value, dtype=float).reshape(3)
        if not np.array_equal(field, self._field):
            self.reset()
        self._field = field

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        from macefield_flows.model.graph import atoms_to_graph, collate

        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        periodic = bool(np.all(atoms.get_pbc()))
        want_field = self.model.has_field_blocks
        # second derivatives (3 more backward passes) only when asked for: an MD step
        # or a finite-difference point pays for energy, forces, stress and dipole only
        want_second = want_field and bool(set(properties) & set(SECOND_ORDER))
        graph = atoms_to_graph(atoms, self.model.atomic_numbers.tolist(), float(self.model.r_max))
        data = collate([graph], len(self.model.atomic_numbers), self.dtype, self.device,
                       electric_field=self._field, head_index=self.head_index)
        out = self.model(
            data,
            compute_stress=periodic,
            compute_dipole=want_field,
            compute_bec=want_second,
            compute_polarizability=want_second,
        )

        def np_(x: torch.Tensor) -> np.ndarray:
            return x.detach().cpu().numpy().astype(float)

        energy = float(np_(out["energy"])[0])
        self.results = {"energy": energy, "free_energy": energy, "forces": np_(out["forces"])}
        if periodic:
            s = np_(out["stress"])[0]
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        if want_field:
            self.results["dipole"] = np_(out["dipole"])[0]
            if periodic:
                self.results["polarization"] = np_(out["polarization"])[0]
        if want_second:
            self.results["born_effective_charges"] = np_(out["born_charges"])
            self.results["polarizability"] = np_(out["polarizability"])[0]
            if periodic:
                self.results["epsilon_electronic"] = np_(out["epsilon_electronic"])[0]
