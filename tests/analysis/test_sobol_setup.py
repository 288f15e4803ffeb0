"""Checked inputs of a Sobol analysis: the base sample size and comma-separated name lists."""

from __future__ import annotations

import pytest

from ketasim.analysis.sensitivity import DEFAULT_OUTPUTS
from ketasim.analysis.sobol_setup import check_base_size, name_list
from ketasim.errors import InputError


@pytest.mark.parametrize("n", [2, 4, 64, 1024])
def test_powers_of_two_pass(n):
    assert check_base_size(n) == n


@pytest.mark.parametrize("n", [-4, 0, 1, 3, 6, 100])
def test_other_sizes_are_refused(n):
    with pytest.raises(InputError) as exc:
        check_base_size(n)
    assert str(exc.value) == f"n: must be a power of two >= 2 (got {n})"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, DEFAULT_OUTPUTS),
        ("", DEFAULT_OUTPUTS),
        ("cadss_peak", ("cadss_peak",)),
        (" ke0, glutamate_gain ,tau_acute", ("ke0", "glutamate_gain", "tau_acute")),
        ("ke0,,tau_acute", ("ke0", "", "tau_acute")),  # kept, so that sobol_model names the bad item
    ],
)
def test_name_list(text, expected):
    assert name_list(text, DEFAULT_OUTPUTS) == expected
    assert isinstance(name_list(text, list(DEFAULT_OUTPUTS)), tuple)
