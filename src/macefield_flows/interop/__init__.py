"""Hand-offs to other tools that lose nothing: phonopy, atomate2 and emmet-core documents.

* :mod:`macefield_flows.interop.phonopy` - NAC parameters, BORN files, force
  constants in phonopy's layouts, ``Phonopy`` objects from our results (supercell
  force constants by the engine or by finite displacements).
* :mod:`macefield_flows.interop.phonons` - full phonons: dispersion, DOS, stability
  over the Brillouin zone, LO-TO splittings, IR spectrum (``FullPhononDoc``).
* :mod:`macefield_flows.interop.emmet` - emmet-core ``DielectricDoc`` /
  ``PiezoelectricDoc`` with the Voigt order converted and our quality flags kept.
* :mod:`macefield_flows.interop.atomate2` - atomate2's phonon flow with the LO-TO
  (non-analytical) correction actually applied.

Nothing heavy is imported here; each module imports its third-party tool lazily.
"""
