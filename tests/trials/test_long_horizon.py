"""A two-year trial of 1,000 patients fits in memory (issue 17: under 2 GiB), run in a fresh process so the
peak resident size is this run's alone (read as its own VmHWM: its ru_maxrss would include the peak of
the pytest process that started it, which Linux carries across exec)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ketasim as ks
from ketasim.errors import InputError
from ketasim.simulation.simulator import MAX_DURATION_H
from ketasim.trials import Endpoints, Trial

SCRIPT = """
import json, resource
import ketasim as ks
from ketasim.trials import Endpoints, Trial
reg = ks.Regimen([ks.Dose("racemic", "iv", "0.5 mg/kg", duration="40 min", at=f"{d} d") for d in (0, 2, 4, 7, 9, 11)])
trial = Trial(arms={"ketamine": reg}, population=ks.Population.sample(1000, seed=1), duration="730 d",
              endpoints=Endpoints.make(["12 d", "365 d", "730 d"]), series_step="1 d")
res = trial.run(0, workers=1)
# this process's own high-water mark: VmHWM of its own memory map (on Linux ru_maxrss of a process keeps
# the peak of the process that started it, here pytest, across the exec)
own = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
peak = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
ep = res.endpoints
print(json.dumps({"n": int(len(ep)), "days": float(res.series["time_h"].max()) / 24,
                  "response": [float(ep[c].mean()) for c in ep.columns if c.startswith("response_")],
                  "peak_kib": peak}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_two_years_of_1000_patients_stay_under_2_gib():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["n"] == 1000 and r["days"] == pytest.approx(730, abs=1)
    assert r["peak_kib"] < 2 * 1024**2, f"peak resident memory {r['peak_kib'] / 1024**2:.2f} GiB"
    # a course of six infusions helps at 12 days and much less a year later (relapse after the course)
    assert r["response"][0] > r["response"][1] + 0.2


def test_a_run_longer_than_two_years_is_refused():
    assert MAX_DURATION_H == 24 * 731
    with pytest.raises(InputError) as exc:
        Trial(arms={"none": ks.Regimen([])}, population=ks.Population.sample(2, seed=0), duration="800 d",
              endpoints=Endpoints.make(["1 d"]))  # fmt: skip
    assert exc.value.field == "duration"
