# %% [markdown]
# # Your first simulation
#
# One patient, one infusion: racemic ketamine 0.5 mg/kg over 40 minutes (the Zarate 2006 protocol) in a
# 70 kg adult with typical treatment-resistant depression, followed for a week through every layer of
# the chain: plasma → NMDA block → glutamate pulse → BDNF/mTORC1 → synapses → MADRS.
#
# !!! warning "Research and teaching software"
#     Not a clinical dosing tool: never use these numbers to choose a dose for a person.

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image

import ketasim as ks

out = Path(tempfile.mkdtemp())
res = ks.simulate("zarate-2006-iv", patient=ks.Patient(weight="70 kg"), duration="7 d")
pd.Series(res.summary()).round(3).to_frame("value")

# %% [markdown]
# The summary's peaks and their times are taken on a grid refined around each dose, so they do not
# depend on `output_step`. The venous peak of about 145 ng/mL at the end of the infusion compares with
# about 185 ng/mL reported for this protocol (Zarate 2006, via Zanos 2018); the arterial peak
# (`cmax_arterial_ng_ml`) is about twice the venous one.
#
# Every variable is in `res.dataset`, an `xarray.Dataset` with dims `(patient, time)`, time in hours,
# each with its unit:

# %%
ds = res.dataset
{name: ds[name].attrs.get("units", "") for name in ["ketamine_plasma", "nmda_occupancy", "glutamate", "madrs"]}

# %%
ds["ketamine_plasma"].sel(time=[0.5, 0.67, 1, 2, 4], method="nearest").round(1).to_pandas()

# %% [markdown]
# One figure draws every layer on a shared time axis:

# %%
res.plot(out / "chain.png")
Image(filename=out / "chain.png")

# %% [markdown]
# ## Your own regimen and patients
#
# Every quantity takes a unit. Here: esketamine 84 mg intranasally twice a week for four weeks, in three
# women of different weights.

# %%
reg = ks.Regimen.repeat(ks.Dose("esketamine", "intranasal", "84 mg"), every="3.5 d", count=8)
pts = [ks.Patient(weight=w, sex="female") for w in ("55 kg", "80 kg", "120 kg")]
many = ks.simulate(reg, population=pts, duration="28 d", output_step="1 h")
pd.DataFrame(many.per_patient())[["cmax_ng_ml", "madrs_baseline", "madrs_7d"]].round(1)

# %% [markdown]
# Bad input is refused with an error naming the field and the allowed range, never a silent guess:

# %%
try:
    ks.Patient(weight="5 kg")
except ks.InputError as err:
    print(err)
