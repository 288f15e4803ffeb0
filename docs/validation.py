# %% [markdown]
# # Validation gallery
#
# Every published study in `src/ketasim/analysis/validation/reference.toml`, predicted and drawn over
# its observed values with their 95% intervals. Rows marked *calibration* set a parameter; all others
# are held out and only checked. This page runs the quick validation (100 virtual patients per arm)
# at every build of the documentation; the README's table comes from the full run (`ketasim validate`,
# each study at its published size).

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from ketasim.analysis.validation import plot_validation, rows_frame, validate

trial_results = {}
rows = validate(quick=True, results=trial_results)
frame = rows_frame(rows)
summary = (
    frame.groupby("calibrated")["passed"]
    .agg(["sum", "count"])
    .rename(index={True: "calibration", False: "held out"}, columns={"sum": "passed", "count": "rows"})
)
summary

# %%
out = Path(tempfile.mkdtemp())
for path in plot_validation(rows, out, trial_results):
    display(Markdown(f"### {path.stem}"))
    display(Image(filename=path))
