"""Trial endpoints: which visits are scored, and the published definitions of response, remission and relapse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ketasim._internal.checks import is_number
from ketasim.errors import InputError
from ketasim.trials.scales import get_scale
from ketasim.units import QuantityLike, parse_quantity

__all__ = ["Endpoints", "label_hours", "label_time"]

MAX_TIME_H = 24.0 * 366 * 2  # as every other time a user gives (2 years)


def label_time(hours: float) -> str:
    """Endpoint suffix for a visit time: '4h', '24h', '7d', '28d'.

    >>> [label_time(h) for h in (4, 24, 168, 672)]
    ['4h', '24h', '7d', '28d']
    """
    return f"{hours:g}h" if hours < 48 else f"{hours / 24:g}d"


def label_hours(label: str) -> float:
    """The visit time of an endpoint suffix, the inverse of ``label_time``.

    >>> [label_hours(s) for s in ("4h", "24h", "7d")]
    [4.0, 24.0, 168.0]
    """
    return float(label[:-1]) * (24 if label.endswith("d") else 1)


@dataclass(frozen=True)
class Endpoints:
    """Endpoint definitions. Each implements a published convention (see README, Trials).

    - ``madrs_change_<t>``: MADRS at visit t minus the pre-treatment MADRS (negative = better).
    - ``response_<t>``: a fall of at least ``response_fraction`` (50%) from baseline.
    - ``remission_<t>``: MADRS <= ``remission_threshold`` (10 or 12 in the literature; selectable).
    - ``cadss_peak``; ``sbp_rise_ge_<x>``: any systolic rise >= ``sbp_threshold`` mmHg (label: 40).
    - ``time_to_relapse_d``: among responders at ``relapse_from``, days until the response is lost
      (fall < 50% of baseline), censored at the end of the run (``relapsed`` says which).
    - ``dropout`` (off by default; ``trials.dropout``): each patient may leave during a visit interval, for
      an adverse event (rising with the interval's peak dissociation) or for lack of efficacy (rising with
      the last rating's distance from response). ``dropout`` (bool), ``dropout_adverse_event``,
      ``dropout_lack_of_efficacy``, ``dropout_at_h`` (the first visit missed, NaN if none) and
      ``cadss_peak_<t>`` (the peak CADSS of the interval that ends at visit t). The rating
      columns keep every simulated rating (the hypothetical estimand: had everyone stayed);
      ``trials.estimands`` gives the completer, LOCF and MMRM analyses of what a trial would observe.
    - ``scales`` (besides the MADRS: ``hamd17``, ``qids_sr16``, ``cgi_s``; see ``trials.scales``): per scale
      S, ``S_baseline``, ``S_change_<t>``, ``S_response_<t>`` (where the scale has a percent-fall
      definition) and ``S_remission_<t>`` (its published cut-off), each rating with the scale's own noise.

    Measurement, as in a trial: every rating (screening, baseline, visits) is the patient's MADRS plus
    rating noise (``rating_noise_sd`` from the parameter set, the standard error of one rating), rounded
    to whole points, unless ``rating_noise`` is off. ``screening`` (hours before the first dose, 0 = none)
    adds a screening rating; ``entry_minimum`` (MADRS) must be met at screening and at baseline for a
    patient to enter the analysis (``included``), so that regression to the mean appears by itself. The
    baseline rating is taken just before the first dose.
    """

    visits: tuple[float, ...] = (24.0, 168.0)
    response_fraction: float = 0.5
    remission_threshold: float = 10.0
    sbp_threshold: float = 40.0
    relapse_from: float | None = None
    rating_noise: bool = True
    screening: float = 0.0
    entry_minimum: float | None = None
    scales: tuple[str, ...] = ()
    dropout: bool = False

    @classmethod
    def make(
        cls,
        visits: Sequence[QuantityLike] = ("24 h", "7 d"),
        remission_threshold: float = 10.0,
        relapse_from: QuantityLike | None = None,
        rating_noise: bool = True,
        sbp_threshold: float = 40.0,
        screening: QuantityLike = 0.0,
        entry_minimum: float | None = None,
        scales: Sequence[str] = (),
        dropout: bool = False,
    ) -> Endpoints:
        if isinstance(visits, str | bytes) or not isinstance(visits, Sequence):
            raise InputError("visits", "must be a list of visit times such as ['24 h', '7 d']", got=repr(visits)[:60])
        hours = tuple(sorted({parse_quantity(v, f"visits[{i}]", "h", strictly_positive=True, maximum=MAX_TIME_H)
                              for i, v in enumerate(visits)}))  # fmt: skip
        if not is_number(remission_threshold) or remission_threshold not in (10, 12):
            raise InputError("remission_threshold", "must be 10 or 12 (MADRS)", got=repr(remission_threshold))
        if not is_number(sbp_threshold) or not 0 < sbp_threshold <= 200:
            raise InputError("sbp_threshold", "must be a number of mmHg within 0-200 (0 excluded)",
                             got=repr(sbp_threshold)[:60])  # fmt: skip
        for name, flag in (("rating_noise", rating_noise), ("dropout", dropout)):
            if not isinstance(flag, bool):
                raise InputError(name, "must be true or false", got=repr(flag)[:60])
        rf = (None if relapse_from is None
              else parse_quantity(relapse_from, "relapse_from", "h", minimum=0, maximum=MAX_TIME_H))  # fmt: skip
        lead = parse_quantity(screening, "screening", "h", minimum=0, maximum=24 * 90)
        if entry_minimum is not None and not (is_number(entry_minimum) and 0 <= entry_minimum <= 60):
            raise InputError("entry_minimum", "must be a MADRS score within 0-60", got=repr(entry_minimum))
        entry = None if entry_minimum is None else float(entry_minimum)
        if isinstance(scales, str | bytes) or not isinstance(scales, Sequence):
            raise InputError("scales", "must be a list of scale names such as ['hamd17']", got=repr(scales)[:60])
        extra = []
        for i, name in enumerate(scales):
            try:
                scale = get_scale(name)
            except InputError as exc:
                raise InputError(f"scales[{i}]", exc.message, exc.got) from None
            if scale.name != "madrs" and scale.name not in extra:
                extra.append(scale.name)
        return cls(hours, 0.5, float(remission_threshold), float(sbp_threshold), rf, bool(rating_noise), lead, entry,
                   tuple(extra), dropout)  # fmt: skip
