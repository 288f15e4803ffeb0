"""Co-medication: CYP3A4 / CYP2B6 inhibitors and inducers acting on S-ketamine's hepatic clearance.

Each perpetrator multiplies the intrinsic hepatic clearance of the S-ketamine model (Perez-Ruixo 2021:
``kel`` and ``kmet``, which act in the hepato-portal compartment ``s_liver``), whatever the product
(esketamine, or the S half of racemic ketamine), by one number, the registry
parameter ``comed_<name>`` (pk.toml), fitted to the AUC ratio of ORAL S-ketamine in its interaction study
(calibration/comedication.py). Because the model's liver sits between the gut and the circulation and
receives a limited blood flow, one multiplier moves an oral dose's AUC by its inverse but an intravenous
or nasal dose's much less: the other routes are predictions. Gut-wall availability (``fgut``) is left
unchanged: the interaction studies attribute their effects to CYP3A / CYP2B6 metabolism without
separating the gut wall from the liver. Several perpetrators multiply (no saturation of the effect).
R-ketamine (Fanta 2015's disposition, no liver compartment) is not changed: no interaction study
measured it, and a systemic clearance without a liver would turn an oral study's ratio into an
intravenous one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ketasim.parameters import ParameterSet
from ketasim.patients import COMEDICATIONS, Patient

__all__ = ["PARAMETERS", "hepatic_clearance_multiplier"]

#: The registry parameter of each co-medication.
PARAMETERS = {name: f"comed_{name}" for name in COMEDICATIONS}


def hepatic_clearance_multiplier(patients: Sequence[Patient], params: ParameterSet) -> np.ndarray:
    """Per patient, the product of his co-medications' multipliers on S-ketamine's intrinsic hepatic
    clearance (exactly 1.0 for a patient without co-medication, so his results are unchanged bit for bit)."""
    out = np.ones(len(patients))
    for i, p in enumerate(patients):
        for name in p.comedication:
            out[i] *= params.value(PARAMETERS[name])
    return out
