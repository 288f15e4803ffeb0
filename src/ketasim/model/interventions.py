"""Non-drug interventions and the slow serotonergic adaptation: inputs that enter the chain downstream.

Exercise (bouts with an intensity, and the training they build), ketone bodies (a ketogenic diet or a
supplement raising blood beta-hydroxybutyrate) and the weeks-long adaptation to SERT blockade by an SSRI.
Exercise and BHB raise BDNF production (signaling layer); the serotonergic adaptation relieves the
non-synaptic, monoaminergic part of the depressive drive (symptoms layer). Depression is not modelled as
a serotonin deficit: the SSRI helps only through this slow adaptation (and, if switched on, TrkB).
Evidence for the exercise and ketone effect sizes is thin and marked so in ``signaling.toml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ketasim.model.values import PatientValues
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient

__all__ = ["STATES", "InterventionModel", "build"]

STATES = ("exercise_bout", "training", "bhb_diet", "bhb_supplement", "serotonergic_adaptation", "adaptation_onset")


@dataclass(frozen=True)
class InterventionModel:
    tau_bout: np.ndarray
    tau_training: np.ndarray
    bout_gain: np.ndarray
    training_gain: np.ndarray
    bhb_gain: np.ndarray
    bhb_k: np.ndarray
    ketogenic_bhb: np.ndarray
    tau_ketosis: np.ndarray
    supplement_bhb: np.ndarray
    tau_supplement: np.ndarray
    tau_adaptation: np.ndarray
    serotonergic_bdnf: np.ndarray

    def initial(self, n: int) -> np.ndarray:
        return np.zeros((len(STATES), n))

    def rhs(self, y: np.ndarray, sert_occupancy: np.ndarray) -> np.ndarray:
        """Session inputs (bouts, diet, supplements) arrive as engine infusions and boluses."""
        bout, training, diet, supp, adapt, onset = y
        return np.stack(
            [
                -bout / self.tau_bout,
                # full training (1) = one vigorous bout-hour a day on average, sustained
                (bout * 24.0 / self.tau_bout - training) / self.tau_training,
                -diet / self.tau_ketosis,
                -supp / self.tau_supplement,
                # two stages in series (each half the time constant): a delayed, sigmoid onset
                2 * (onset - adapt) / self.tau_adaptation,
                2 * (sert_occupancy - onset) / self.tau_adaptation,
            ]
        )

    def bhb(self, y: np.ndarray) -> np.ndarray:
        """Blood beta-hydroxybutyrate above the fed baseline (mM)."""
        return y[2] + y[3]

    def bdnf_factor(self, y: np.ndarray) -> np.ndarray:
        """Multiplier on BDNF production from exercise and ketone bodies (1 without them)."""
        bout, training = y[0], y[1]
        b = np.maximum(self.bhb(y), 0.0)
        adapt = np.maximum(y[4], 0.0)  # chronic serotonergic signalling -> CREB -> BDNF transcription
        return (
            (1 + self.bout_gain * bout + self.training_gain * training)
            * (1 + self.bhb_gain * b / (self.bhb_k + b))
            * (1 + self.serotonergic_bdnf * adapt)
        )


def build(params: ParameterSet, patients: Sequence[Patient]) -> InterventionModel:
    v = PatientValues(params, patients)
    return InterventionModel(
        tau_bout=v("tau_exercise_bout", "h"),
        tau_training=v("tau_training", "h"),
        bout_gain=v("exercise_bout_bdnf"),
        training_gain=v("exercise_training_bdnf"),
        bhb_gain=v("bhb_bdnf_gain"),
        bhb_k=v("bhb_k", "mM"),
        ketogenic_bhb=v("ketogenic_bhb", "mM"),
        tau_ketosis=v("tau_ketosis", "h"),
        supplement_bhb=v("bhb_supplement_peak", "mM"),
        tau_supplement=v("tau_bhb_supplement", "h"),
        tau_adaptation=v("tau_serotonergic_adaptation", "h"),
        serotonergic_bdnf=v("serotonergic_bdnf_gain"),
    )
