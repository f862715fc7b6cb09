"""FieldMACE: a MACE ``ScaleShiftMACE`` whose enthalpy depends on a uniform field E.

Field coupling (method.md section 1). After the product (symmetric
contraction) block of every interaction layer t except the last, the node
features ``h`` (irreps ``hidden_irreps``, e.g. ``32x0e+32x1o``) are updated

    h <- h - field_linear[t]( field_feats[t](h, E[batch]) )

where ``field_feats[t]`` is a fully connected tensor product
``hidden x 1x1o -> hidden`` and ``field_linear[t]`` an equivariant linear map
``hidden -> hidden`` (both from ``mace.modules.wrapper_ops``, so
cuEquivariance kernels apply on GPU when enabled). The field is the odd
vector irrep ``1o`` in V/A, neither embedded nor normalised. The tensor
product is bilinear and the linear map has no bias, so at E = 0 the update
vanishes and the model is exactly its backbone.

Why a restated forward loop rather than forward hooks on ``products[t]``:
the loop keeps the field an explicit argument (no state hidden in hooks),
lets one pass return energies *and* the strain/field leaves the derivative
kernels need, and stays compatible with ``torch.compile``.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from mace.modules.models import ScaleShiftMACE
from mace.modules.utils import prepare_graph
from mace.modules.wrapper_ops import FullyConnectedTensorProduct, Linear
from mace.tools.scatter import scatter_sum

from macefield_flows.exceptions import MissingFieldBlocksError
from macefield_flows.model import derivatives as dv
from macefield_flows.model._compat import o3
from macefield_flows.model.pair import zbl_node_energy

FIELD_IRREPS = "1x1o"


class FieldMACE(ScaleShiftMACE):
    """Field-aware MACE: ``F(R, cell, E)`` and all its derivatives.

    Takes every keyword of ``mace.modules.ScaleShiftMACE`` plus
    ``field_coupling`` (default True; False builds the plain backbone with no
    field blocks, useful to load MACE files that have none).

    Batch keys read by :meth:`forward`: the usual MACE keys (``positions``,
    ``cell``, ``node_attrs``, ``edge_index``, ``shifts``, ``unit_shifts``,
    ``batch``, ``ptr``, optional ``head``) and optional ``electric_field``
    of shape (n_graphs, 3) in V/A.
    """

    def __init__(self, field_coupling: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.field_coupling = bool(field_coupling)
        cueq_config = kwargs.get("cueq_config")
        self.field_feats = torch.nn.ModuleList()
        self.field_linear = torch.nn.ModuleList()
        if self.field_coupling:
            field_irreps = o3.Irreps(FIELD_IRREPS)
            for t in range(int(self.num_interactions) - 1):
                irreps_t = o3.Irreps(str(self.products[t].linear.irreps_out))
                self.field_feats.append(
                    FullyConnectedTensorProduct(
                        irreps_t, field_irreps, irreps_t, cueq_config=cueq_config
                    )
                )
                self.field_linear.append(Linear(irreps_t, irreps_t, cueq_config=cueq_config))

    # ------------------------------------------------------------------ conversion
    @classmethod
    def from_foundation(cls, mace_model: torch.nn.Module, seed: int = 0) -> "FieldMACE":
        """Field-aware copy of any ``ScaleShiftMACE`` with identical zero-field outputs.

        The backbone weights are copied; the new field blocks are initialised
        randomly (seeded) and must be fine-tuned before field properties mean
        anything. The only keys absent from the foundation state dict must be
        ``field_feats.*`` and ``field_linear.*``.
        """
        from macefield_flows.model.config import build_field_mace, config_from_mace_model

        config = dict(config_from_mace_model(mace_model), field_coupling=True)
        dtype = next(mace_model.parameters()).dtype
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_field_mace(config, dtype=dtype)
        missing, unexpected = model.load_state_dict(mace_model.state_dict(), strict=False)
        bad_missing = [k for k in missing if not k.startswith(("field_feats.", "field_linear."))]
        if bad_missing or unexpected:
            raise ValueError(
                f"foundation state dict does not map onto FieldMACE: missing={bad_missing}, "
                f"unexpected={list(unexpected)}"
            )
        return model.to(next(mace_model.parameters()).device)

    def __deepcopy__(self, memo: dict) -> "FieldMACE":
        """Rebuild from ``json_config`` and copy the state (e3nn's own copy path would
        script the fx modules, which the split-backward patch does not allow)."""
        import copy

        from macefield_flows.model.config import build_field_mace

        param = next(self.parameters())
        clone = build_field_mace(self.json_config, dtype=param.dtype)
        clone.load_state_dict(self.state_dict())
        clone.train(self.training)
        for key, value in self.__dict__.items():
            if not key.startswith("_") and key not in clone.__dict__:
                setattr(clone, key, copy.deepcopy(value, memo))
        return clone.to(param.device)

    @property
    def has_field_blocks(self) -> bool:
        """True when the model carries field-coupling blocks."""
        return len(self.field_feats) > 0

    # ------------------------------------------------------------------ enthalpy
    def enthalpy(
        self, data: dict[str, torch.Tensor], field: torch.Tensor, compute_strain: bool
    ) -> dict[str, Any]:
        """Energy of each graph at field ``field`` (G, 3) V/A; returns tensors and leaves.

        Returns a dict with ``energy`` (G,) incl. E0s, ``interaction_energy``
        (G,), ``node_energy`` (N,), ``positions`` (leaf), ``strain`` (leaf or
        None), ``cell`` (G, 3, 3), ``node_feats`` (N, features).
        """
        ctx = prepare_graph(data, compute_displacement=compute_strain)
        num_atoms_arange = ctx.num_atoms_arange.to(torch.int64)
        num_graphs = ctx.num_graphs
        node_heads = ctx.node_heads.to(torch.int64)
        vectors, lengths = ctx.vectors, ctx.lengths

        node_e0 = self.atomic_energies_fn(data["node_attrs"])[num_atoms_arange, node_heads]
        e0 = scatter_sum(src=node_e0, index=data["batch"], dim=0, dim_size=num_graphs).to(
            vectors.dtype
        )
        node_feats = self.node_embedding(data["node_attrs"])
        edge_attrs = self.spherical_harmonics(vectors)
        edge_feats, cutoff = self.radial_embedding(
            lengths, data["node_attrs"], data["edge_index"], self.atomic_numbers
        )
        if hasattr(self, "pair_repulsion"):
            # in the dtype of the positions, not the global default (model/pair.py)
            pair_node_energy = zbl_node_energy(
                self.pair_repulsion_fn, lengths, data["node_attrs"], data["edge_index"],
                self.atomic_numbers,
            )
        else:
            pair_node_energy = torch.zeros_like(node_e0)
        if hasattr(self, "joint_embedding"):
            embedding_features = {name: data[name] for name in self.embedding_specs}
            node_feats = node_feats + self.joint_embedding(data["batch"], embedding_features)
            if hasattr(self, "embedding_readout"):
                emb_e = self.embedding_readout(node_feats, node_heads)[
                    num_atoms_arange, node_heads
                ].squeeze(-1)
                e0 = e0 + scatter_sum(
                    torch.atleast_1d(emb_e), data["batch"], dim=0, dim_size=num_graphs
                )

        field_atom = field[data["batch"]]
        node_es_list = [pair_node_energy]
        node_feats_list: list[torch.Tensor] = []
        n_layers = len(self.interactions)
        for t, (interaction, product) in enumerate(zip(self.interactions, self.products)):
            node_feats, sc = interaction(
                node_attrs=data["node_attrs"],
                node_feats=node_feats,
                edge_attrs=edge_attrs,
                edge_feats=edge_feats,
                edge_index=data["edge_index"],
                cutoff=cutoff,
                first_layer=(t == 0),
                lammps_class=None,
                lammps_natoms=(0, 0),
            )
            node_feats = product(node_feats=node_feats, sc=sc, node_attrs=data["node_attrs"])
            if self.has_field_blocks and t < n_layers - 1:
                coupling = self.field_feats[t](node_feats, field_atom)
                node_feats = node_feats - self.field_linear[t](coupling)
            node_feats_list.append(node_feats)

        for t, readout in enumerate(self.readouts):
            feat_idx = -1 if len(self.readouts) == 1 else t
            node_es_list.append(
                readout(node_feats_list[feat_idx], node_heads)[num_atoms_arange, node_heads]
            )
        node_inter_es = torch.sum(torch.stack(node_es_list, dim=0), dim=0)
        node_inter_es = self.scale_shift(node_inter_es, node_heads)
        inter_e = scatter_sum(node_inter_es, data["batch"], dim=-1, dim_size=num_graphs)
        return {
            "energy": e0 + inter_e,
            "interaction_energy": inter_e,
            "node_energy": node_e0 + node_inter_es,
            "positions": ctx.positions,
            "strain": ctx.displacement if compute_strain else None,
            "cell": ctx.cell.view(-1, 3, 3),
            "node_feats": torch.cat(node_feats_list, dim=-1),
        }

    # ------------------------------------------------------------------ forward
    def forward(  # noqa: PLR0913 (mirrors ScaleShiftMACE.forward)
        self,
        data: dict[str, torch.Tensor],
        training: bool = False,
        compute_force: bool = True,
        compute_virials: bool = False,
        compute_stress: bool = False,
        compute_displacement: bool = False,
        compute_hessian: bool = False,
        compute_edge_forces: bool = False,
        compute_atomic_stresses: bool = False,
        lammps_mliap: bool = False,
        compute_dipole: bool = False,
        compute_bec: bool = False,
        compute_polarizability: bool = False,
        compute_dipole_strain: bool = False,
        electric_field: Optional[torch.Tensor] = None,
    ) -> dict[str, Optional[torch.Tensor]]:
        """Enthalpy and the requested derivatives at fixed field, in one call.

        Returns the MACE keys (``energy`` (G,), ``interaction_energy``,
        ``node_energy``, ``forces`` (N, 3) eV/A, ``virials``, ``stress``
        (G, 3, 3) eV/A^3, ``node_feats``) plus ``electric_field`` (G, 3) V/A,
        ``volume`` (G,) A^3, ``dipole`` (G, 3) e*A, ``polarization`` (G, 3)
        e/A^2 (NaN for non-periodic graphs), ``born_charges`` (N, 3, 3) e,
        ``polarizability`` (G, 3, 3) e*A^2/V, ``susceptibility`` (G, 3, 3),
        ``epsilon_electronic`` (G, 3, 3) (NaN for non-periodic graphs) and
        ``dipole_strain`` (G, 3, 3, 3) e*A, each None unless asked for.
        """
        if lammps_mliap or compute_edge_forces or compute_atomic_stresses:
            raise NotImplementedError("FieldMACE does not support LAMMPS/edge/atomic-stress outputs")
        properties = {name for flag, names in (
            (compute_force, ("forces",)),
            (compute_stress or compute_virials, ("stress",)),
            (compute_dipole, ("dipole", "polarization")),
            (compute_bec, ("born_charges",)),
            (compute_polarizability, ("susceptibility",)),
            (compute_dipole_strain, ("dipole_strain",)),
            (compute_hessian, ("force_constants",)),
        ) if flag for name in names}
        want_dipole = bool(properties & dv.FIELD_RESPONSE)
        if want_dipole and not self.has_field_blocks:
            raise MissingFieldBlocksError(
                "this model has no field-coupling blocks (field_feats/field_linear): it cannot "
                "give dipoles, Born charges or susceptibilities; convert it with "
                "FieldMACE.from_foundation and fine-tune it on response data"
            )
        n_graphs = int(data["ptr"].numel() - 1)
        field = electric_field if electric_field is not None else data.get("electric_field")
        if field is None:
            field = data["positions"].new_zeros((n_graphs, 3))
        field = field.to(data["positions"].dtype).reshape(n_graphs, 3)
        if want_dipole:
            field = field.detach().clone().requires_grad_(True)
        want_strain = bool(properties & dv.STRAIN_RESPONSE) or compute_displacement
        out = self.enthalpy(data, field, compute_strain=want_strain)
        resp = dv.response(out, field, data["ptr"], frozenset(properties), create_graph=training)
        g = resp.get("denthalpy_dstrain")
        hessians = resp.get("force_constants")
        result: dict[str, Optional[torch.Tensor]] = {
            "energy": out["energy"],
            "interaction_energy": out["interaction_energy"],
            "node_energy": out["node_energy"],
            "node_feats": out["node_feats"],
            "electric_field": field.detach() if not training else field,
            "volume": resp["volume"],
            "forces": resp["forces"] if compute_force else None,
            "virials": -g if g is not None else None,
            "displacement": out["strain"],
            "hessian": (hessians[0] if len(hessians) == 1 else torch.block_diag(*hessians))
            if hessians is not None else None,
        }
        for key in ("stress", "dipole", "polarization", "born_charges", "polarizability",
                    "susceptibility", "epsilon_electronic", "dipole_strain"):
            result[key] = resp.get(key)
        return result
