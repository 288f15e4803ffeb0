"""Series streamed to Parquet chunk by chunk (``simulate(..., stream_to=...)``): the file holds exactly the
series an in-memory run returns, the summary is the same, memory is one chunk's, and an interrupted run
leaves no file."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import ketasim as ks
from ketasim.errors import InputError, OutputError
from ketasim.patients import Population
from ketasim.simulation import simulator

OUTS = ["ketamine_plasma", "madrs", "madrs_items"]


@pytest.fixture(scope="module")
def pop() -> Population:
    return Population.sample(40, seed=7)


def _same_summary(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), k


def test_the_file_holds_the_in_memory_series(pop, tmp_path, monkeypatch):
    # 8 days: the summary reads 24 h and 7 d, both from the few times the streamed Result keeps
    ref = ks.simulate("zarate-2006-iv", population=pop, duration="8 d", output_step="30 min", outputs=OUTS)
    monkeypatch.setattr(simulator, "CHUNK_BYTES", 2**19)  # several chunks of patients
    path = tmp_path / "series.parquet"
    res = ks.simulate("zarate-2006-iv", population=pop, duration="8 d", output_step="30 min", outputs=OUTS,
                      stream_to=path)  # fmt: skip
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups > 2  # written chunk by chunk
    df = pd.read_parquet(path)
    t = ref.dataset["time"].values
    assert len(df) == len(pop) * t.size
    assert (df["patient"].to_numpy() == np.repeat(np.arange(len(pop)), t.size)).all()
    np.testing.assert_array_equal(df["time_h"].to_numpy(), np.tile(t, len(pop)))
    for name in ("ketamine_plasma", "madrs"):
        np.testing.assert_array_equal(df[name].to_numpy().reshape(len(pop), t.size), ref.dataset[name].values)
    items = ref.dataset["madrs_items"]
    for k, item in enumerate(items["item"].values):
        np.testing.assert_array_equal(df[f"madrs_item_{item}"].to_numpy().reshape(len(pop), t.size),
                                      items.values[:, k, :])  # fmt: skip
    _same_summary(res.summary(), ref.summary())
    for key in ("madrs_24h", "madrs_7d", "cmax_ng_ml", "auc_ng_h_ml"):
        assert np.isfinite(ref.per_patient()[key]).all(), key
        np.testing.assert_array_equal(res.per_patient()[key], ref.per_patient()[key])
    assert res.dataset.attrs["streamed_to"] == str(path)
    assert res.dataset.sizes["time"] < t.size  # the series live in the file, not in memory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series.parquet"]  # no temporary left


def test_streaming_bounds_memory_to_a_chunk(pop, tmp_path, monkeypatch):
    """A run refused in memory (over half of a small machine) runs streamed: only one chunk is held."""
    from ketasim._internal import checks

    monkeypatch.setattr(checks, "memory_bytes", lambda: 64 * 2**20)
    monkeypatch.setattr(simulator, "CHUNK_BYTES", 2**20)  # a few patients a chunk
    big = Population.sample(200, seed=3)
    with pytest.raises(InputError, match=r"population: .*stream the series to a file \(stream_to=\.\.\.\)"):
        ks.simulate("zarate-2006-iv", population=big, duration="2 d", output_step="1 min", outputs=["madrs_items"])
    monkeypatch.setattr(checks, "memory_bytes", lambda: 64 * 2**30)  # measure what each run really holds

    def peak_mib(**extra: object) -> float:
        tracemalloc.start()
        ks.simulate("zarate-2006-iv", population=big, duration="2 d", output_step="1 min", outputs=["madrs_items"],
                    **extra)  # fmt: skip
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak / 2**20

    big = big.patients[:60]  # tracemalloc slows Python down: fewer patients, same point
    held, streamed = peak_mib(), peak_mib(stream_to=tmp_path / "big.parquet")
    assert held > 13.2  # 60 patients x 2,881 times x 10 items x 8 bytes = 13.2 MiB of series, all held
    assert streamed < held / 2, (streamed, held)  # a chunk's series and states at a time
    assert pq.ParquetFile(tmp_path / "big.parquet").metadata.num_rows == 60 * (2 * 24 * 60 + 1)


def test_an_interrupted_stream_leaves_no_file(pop, tmp_path, monkeypatch):
    monkeypatch.setattr(simulator, "CHUNK_BYTES", 2**19)  # several chunks: the second is interrupted
    real, calls = simulator.run_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(simulator, "run_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ks.simulate("zarate-2006-iv", population=pop, duration="2 d", output_step="15 min", outputs=OUTS,
                    stream_to=tmp_path / "s.parquet")  # fmt: skip
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["series.csv", 3, "noext"])
def test_a_bad_target_is_refused_by_name(bad, tmp_path):
    target = bad if not isinstance(bad, str) else tmp_path / bad
    with pytest.raises(InputError, match=r"^stream_to: must be a file name ending in \.parquet"):
        ks.simulate("zarate-2006-iv", duration="1 d", stream_to=target)
    (tmp_path / "d.parquet").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        ks.simulate("zarate-2006-iv", duration="1 d", stream_to=tmp_path / "d.parquet")
