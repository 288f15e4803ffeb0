"""Run the model with an extra layer (``mu_opioid_layer.py``): python examples/extend_the_model.py

Prints the peak NMDA block and the peak mu-opioid occupancy after the antidepressant dose and after an
anaesthetic one, and writes the extended model as SBML if libSBML is installed.
"""

import sys
from pathlib import Path

import ketasim as ks
from ketasim.model import LAYERS

sys.path.insert(0, str(Path(__file__).parent))
import mu_opioid_layer

params = ks.default_parameters().with_parameters([{
    "name": "mu_opioid_ki", "value": 41.7, "unit": "uM", "layer": "receptor",
    "description": "Racemic ketamine Ki at the mu-opioid receptor (pKi 4.38, CHO cells)", "source": "hirota1999",
}])  # fmt: skip
layers = (*LAYERS, mu_opioid_layer)

for label, dose in (("0.5 mg/kg over 40 min", "0.5 mg/kg"), ("2 mg/kg over 40 min", "2 mg/kg")):
    regimen = ks.Regimen([ks.Dose("ketamine", "iv", dose, duration="40 min")])
    res = ks.simulate(regimen, ks.Patient(), duration="6 h", params=params, layers=layers,
                      outputs=["nmda_occupancy", "mu_opioid_bound"])  # fmt: skip
    ds = res.dataset
    print(f"{label}: peak NMDA block {float(ds['nmda_occupancy'].max()):.2f}, "
          f"peak mu-opioid occupancy {float(ds['mu_opioid_bound'].max()):.3f}")  # fmt: skip

try:
    from ketasim.interop.sbml import export_sbml

    text = export_sbml("zarate-2006-iv", params=params, layers=layers)
    print(f"SBML with the new layer: {text.count('mu_opioid_bound')} mentions of mu_opioid_bound")
except ImportError:
    print("(install ketasim[sbml] to export the extended model)")
