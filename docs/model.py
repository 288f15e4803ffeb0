# %% [markdown]
# # The model, layer by layer
#
# The causal chain, one layer per section, each drawn from the headline simulation: racemic ketamine
# 0.5 mg/kg IV over 40 min in a 70 kg adult with treatment-resistant depression. Every constant lives
# in `src/ketasim/parameters/*.toml` with value, unit and source (or an explicit `assumption`);
# `ketasim params --layer NAME` lists a layer's. The README's "The model" section gives each layer's
# equations and sources in full.

# %%
import tempfile
from pathlib import Path

from IPython.display import Image

import ketasim as ks
from ketasim.plotting import finish_figure, pyplot

res = ks.simulate("zarate-2006-iv", patient=ks.Patient(weight="70 kg"), duration="7 d", output_step="5 min")
ds = res.dataset
out = Path(tempfile.mkdtemp())
plt = pyplot()


def layer_figure(name, variables, hours, ylabel):
    """One layer's variables over the first `hours` after the dose."""
    fig, ax = plt.subplots(figsize=(7, 3))
    part = ds.sel(time=slice(0, hours))
    x = part["time"].values / (24 if hours > 48 else 1)
    for var, label in variables:
        ax.plot(x, part[var].values[0], lw=1.8, label=label)
    ax.set_xlabel("days after the dose" if hours > 48 else "hours after the dose")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    finish_figure(fig, name, out / f"{name.split()[0]}.png", fontsize=10)
    return Image(filename=out / f"{name.split()[0]}.png")


# %% [markdown]
# ## 1. Pharmacokinetics (`pk`)
#
# Linear compartment models, one disposition per enantiomer whatever the product: S-ketamine (esketamine
# or half of the racemate) from Perez-Ruixo 2021 with its hepato-portal first pass and S-norketamine;
# R-ketamine from Fanta 2015 with Persson 2002's clearance ratio and Otto 2021's norketamine;
# hydroxynorketamine from Simons 2022. The central compartments are venous plasma (what the models were
# fitted to); the arterial twins add the drug that has only passed the heart and lungs (Henthorn 2018)
# and the forearm's exchange: above venous during the infusion, below it after.

# %%
layer_figure(
    "pk: venous plasma",
    [
        ("esketamine_plasma", "S-ketamine"),
        ("arketamine_plasma", "R-ketamine"),
        ("norketamine_plasma", "norketamine"),
        ("hydroxynorketamine_plasma", "hydroxynorketamine"),
    ],
    8,
    "ng/mL",
)

# %%
layer_figure(
    "pk-sites S-ketamine, venous and arterial",
    [("esketamine_plasma", "venous (forearm)"), ("esketamine_arterial", "arterial")],
    3,
    "ng/mL",
)

# %% [markdown]
# ## 2. NMDA receptor (`receptor`)
#
# The unbound drug reaches the brain with a 6-minute half-time (Olofsen 2012); ketamine and its
# metabolites compete for the channel site. Interneurons are blocked at lower concentrations than
# pyramidal cells (an assumption after Homayoun 2007 and Gerhard 2020).

# %%
layer_figure(
    "receptor: NMDA block",
    [("nmda_interneuron_block", "interneurons"), ("nmda_occupancy", "pyramidal cells")],
    8,
    "fraction blocked",
)

# %% [markdown]
# ## 3. Circuit (`circuit`)
#
# A pyramidal/interneuron rate network: blocking the interneurons disinhibits the pyramidal cells,
# whose firing releases a pulse of glutamate that adapts within an hour, even while drug remains.

# %%
layer_figure(
    "circuit: disinhibition and the glutamate pulse",
    [("pyramidal_rate", "pyramidal firing"), ("glutamate", "glutamate")],
    8,
    "fold of baseline",
)

# %% [markdown]
# ## 4. Signalling (`signaling`)
#
# AMPA activation releases BDNF; the block at rest switches eEF2 kinase off and BDNF is translated.
# TrkB and activity together switch mTORC1 on; synaptic proteins integrate mTORC1 over days.

# %%
layer_figure(
    "signaling: BDNF, mTORC1, synaptic proteins",
    [("bdnf", "BDNF"), ("mtorc1", "mTORC1"), ("synaptic_protein", "synaptic proteins")],
    96,
    "fold of baseline",
)

# %% [markdown]
# ## 5. Synapses (`synapse`)
#
# Chronic stress has thinned the synapses (density 0.78 of healthy); synaptic proteins raise the
# formation of new spines in proportion to the sites lost, and activity stabilises them.

# %%
layer_figure(
    "synapse: regrowth of lost synapses", [("synapse_density", "density (healthy = 1)")], 168, "fraction of healthy"
)

# %% [markdown]
# ## 6. Symptoms (`symptoms`)
#
# The ten MADRS items as a symptom network with feedback (Cramer 2016): a depressed and a recovered
# state with hysteresis; relief from the acute signal and the regrown synapses pushes the patient into
# the recovered state, from which he relapses when the support fades. Dissociation (CADSS) and the
# systolic blood-pressure rise follow the effect-site concentration.

# %%
layer_figure("symptoms: MADRS", [("madrs", "MADRS total")], 168, "MADRS points (0-60)")

# %%
layer_figure("side effects: dissociation", [("cadss", "CADSS")], 4, "CADSS points")
