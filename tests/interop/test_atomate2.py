"""atomate2's real PhononMaker (force-field flavour) with our model ends with the LO-TO correction.

Without the NAC, LO = TO at Gamma (ratio 1); with it, Lyddane-Sachs-Teller fixes
LO^2 / TO^2 = eps_0 / eps_inf for a cubic diatomic crystal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import phonopy
import pytest
from jobflow import run_locally

from macefield_flows.interop.atomate2 import MACEFieldBornMaker, MACEFieldPhononMaker

from .conftest import mgo


@pytest.fixture(scope="module")
def mgo_flow(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("atomate2")
    maker = MACEFieldPhononMaker(min_length=8.0, store_force_constants=False,
                                 generate_frequencies_eigenvectors_kwargs={"kpoint_density_dos": 1000,
                                                                           "npoints_band": 21})
    flow = maker.make(mgo())
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        responses = run_locally(flow, create_folders=True, ensure_success=True, log=False)
    born_job = next(j for j in flow.jobs if isinstance(j.maker, MACEFieldBornMaker))
    return responses[flow.output.uuid][1].output, responses[born_job.uuid][1].output


def test_atomate2_phonons_have_lo_to_splitting(mgo_flow):
    doc, born = mgo_flow
    assert doc.code == "forcefields" and doc.born is not None and doc.epsilon_static is not None
    bands = np.asarray(doc.phonon_bandstructure.bands)  # (n_modes, n_q) THz
    gamma = [i for i, q in enumerate(doc.phonon_bandstructure.qpoints) if np.allclose(q.frac_coords, 0)]
    assert gamma, "the band path has Gamma"
    task = born.task
    lst = task.e_total / task.e_electronic
    for i in gamma:  # every approach to Gamma: cubic, so LO is the same along [100] and any path
        f = np.sort(bands[:, i])
        to, lo = f[3], f[5]
        assert f[4] == pytest.approx(to, rel=1e-6)
        assert (lo / to) ** 2 == pytest.approx(lst, rel=0.01), (to, lo, lst)
    # the same phonopy state on disk: NAC present in phonopy.yaml
    ph = phonopy.load(str(Path(doc.jobdirs.taskdoc_run_job_dir) / "phonopy.yaml"))
    assert ph.nac_params is not None
    np.testing.assert_allclose(ph.nac_params["born"], doc.born, atol=1e-8)
    from macefield_flows.interop.phonopy import reduced_q_direction

    ph.run_qpoints([[0, 0, 0]], nac_q_direction=reduced_q_direction(ph.primitive, [1, 0, 0]))
    f = np.sort(ph.qpoints.frequencies[0])
    assert (f[5] / f[3]) ** 2 == pytest.approx(lst, rel=0.01)


def test_born_maker_speaks_atomate2s_layout(mgo_flow):
    _, born = mgo_flow
    calc = born.calcs_reversed[0].output
    np.testing.assert_array_equal(calc.outcar["born"], born.task.born)
    np.testing.assert_array_equal(calc.epsilon_static, born.task.epsilon_static)  # eps_inf, not eps_0
    assert born.task.e_total > born.task.e_electronic
