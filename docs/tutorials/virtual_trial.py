# %% [markdown]
# # A virtual trial
#
# A randomised trial in the style of Murrough et al. 2013 (Am J Psychiatry 170:1134): one infusion of
# ketamine 0.5 mg/kg over 40 min against the active placebo midazolam, 2:1, in treatment-resistant
# depression, rated at 24 h and 7 days. The virtual patients come from the calibrated virtual
# population; each is rated with rater noise, screened, and must meet the entry criteria, as in the
# real trial.

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image

import ketasim as ks
from ketasim.trials.report import comparison_tables, endpoint_table
from ketasim.trials.scenario import load_scenario

scenario, text = load_scenario(Path(ks.__file__).parents[2] / "examples" / "murrough2013_ketamine_vs_midazolam.toml")
print(text)

# %% [markdown]
# The scenario file fixes the arms, the randomisation, the visits and the entry criteria. We run it with
# 600 virtual patients (the published trial had 72; more patients narrow the Monte-Carlo intervals, not
# the spread of the patients).

# %%
result = scenario.trial(patients=600).run(seed=scenario.seed)
table = endpoint_table(result, scenario.name)
pd.DataFrame(list(table.rows), columns=list(table.columns)).set_index("endpoint")

# %% [markdown]
# Each estimate reads `estimate [95% Monte-Carlo CI] {95% range over the virtual population's
# ensemble}`: the first interval shrinks with more virtual patients, the second is what the
# calibration data leave open about the model. The comparison with the control arm:

# %%
comp = comparison_tables(result)[0]
pd.DataFrame(list(comp.rows), columns=list(comp.columns))

# %% [markdown]
# The figure shows the patients' MADRS over time per arm and the response rates, with the published
# values of the scenario's `[reference]` table over them.

# %%
out = Path(tempfile.mkdtemp())
result.plot(out / "trial.png", reference=scenario.reference)
Image(filename=out / "trial.png")

# %% [markdown]
# On the command line the same trial is `ketasim trial examples/murrough2013_ketamine_vs_midazolam.toml
# --patients 600 --plot trial.png`, which also stores every patient's endpoints in a DuckDB file for
# `ketasim report`.
