"""Why does ketamine act in hours when an SSRI takes weeks? Both on one time axis.

    python examples/ssri_vs_ketamine.py [out.png]
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import ketasim as ks

REGIMENS = {
    "no treatment": ks.Regimen([]),
    "ketamine 0.5 mg/kg IV once": ks.protocols.get("zarate-2006-iv"),
    "escitalopram 10 mg daily": ks.protocols.get("escitalopram-10mg-daily"),
    "psilocybin 25 mg once": ks.protocols.get("psilocybin-25mg-single"),
}


def main(out: str = "ssri_vs_ketamine.png") -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, biotype in zip(axes, ("synaptic", "monoaminergic"), strict=True):
        for label, reg in REGIMENS.items():
            res = ks.simulate(reg, ks.Patient(biotype=biotype), duration="56 d", output_step="2 h")
            ax.plot(res.dataset["time"].values / 24, res.dataset["madrs"].values[0], label=label)
        ax.set_title(f"{biotype} biotype")
        ax.set_xlabel("days")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("MADRS")
    axes[0].legend(fontsize=8)
    fig.suptitle("ketasim: onset and duration of antidepressant effects (typical TRD patient)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"written {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
