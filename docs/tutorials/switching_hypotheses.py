# %% [markdown]
# # Switching hypotheses
#
# Two mechanisms are thought to start ketamine's antidepressant cascade, and the model carries both,
# each switchable:
#
# - **disinhibition**: ketamine blocks NMDA receptors on fast-spiking interneurons first, pyramidal
#   cells fire more, a pulse of glutamate drives AMPA receptors and activity-dependent BDNF release;
# - **block at rest**: NMDA receptors on pyramidal cells blocked at rest switch eEF2 kinase off and
#   BDNF is translated without any glutamate surge (Autry 2011).
#
# `ks.compare` runs the same regimen and patient once per variant and overlays them in one figure.

# %%
import tempfile
from pathlib import Path

from IPython.display import Image

import ketasim as ks

variants = {
    "both (default)": ks.Hypotheses(),
    "disinhibition only": ks.Hypotheses(rest_block=False),
    "block at rest only": ks.Hypotheses(disinhibition=False),
}
cmp = ks.compare(
    "zarate-2006-iv", hypotheses=variants, patient=ks.Patient(weight="70 kg"), duration="7 d", output_step="10 min"
)
cmp.summary()[["peak_nmda_occupancy", "peak_glutamate_fold", "synapse_density_24h", "madrs_24h", "madrs_7d"]].round(3)

# %% [markdown]
# The drug and its receptor block are the same in every variant (the first panel's lines lie on top
# of each other); only what follows the block differs. Without disinhibition there is no glutamate
# pulse at all.

# %%
out = Path(tempfile.mkdtemp())
cmp.plot(out / "hypotheses.png")
Image(filename=out / "hypotheses.png")

# %% [markdown]
# Any variable of the dataset can be drawn, e.g. the two synapse pools:

# %%
cmp.plot(out / "synapses.png", variables=("labile_synapses", "stable_synapses"))
Image(filename=out / "synapses.png")

# %% [markdown]
# Parameter sets compare the same way: `ks.compare(regimen, params={"shipped": ks.default_parameters(),
# "slower clearance": ks.default_parameters().replace(r_cl=60.0)})`.
