"""fabnb.trace against the synthetic fab's known clocks, data-loss gaps and pandas."""

import numpy as np
import pandas as pd
import pytest

import fabnb
from fabnb import FabDataError
from fabnb.errors import FabParameterError
from fabnb.trace import (
    align_asof,
    estimate_clock_offsets,
    explain_gaps,
    fab_join,
    fab_join_stream,
    feature_matrix,
    trace_features,
)

SAMPLE_PERIOD_S = 1.0  # the synthetic traces are 1 Hz


@pytest.fixture(scope="module")
def fab():
    ds = fabnb.synth.fab("small", seed=0)
    return ds, fabnb.synth.tables(ds), fabnb.synth.truth(ds)


def _true_offsets(truth):
    off = pd.DataFrame({"offset_s": truth["clock_offset"], "drift_ppm": truth["clock_drift_ppm"]})
    off.attrs["epoch"] = pd.Timestamp(truth["clock_epoch"]).tz_localize("UTC")
    return off


def _clock_error(est, truth, mes):
    """Largest |estimated − true| tool clock over every MES event of each estimated tool."""
    epoch = pd.Timestamp(truth["clock_epoch"])
    rows = mes[mes["tool_id"].isin(est.index)]
    s = np.r_[(rows["start_time"] - epoch).dt.total_seconds(),
              (rows["end_time"] - epoch).dt.total_seconds()]
    tool = np.r_[rows["tool_id"], rows["tool_id"]]

    def clock(off, ppm):
        return off.reindex(tool).to_numpy() + ppm.reindex(tool).to_numpy() * 1e-6 * s

    return np.abs(clock(est["offset_s"], est["drift_ppm"])
                  - clock(truth["clock_offset"], truth["clock_drift_ppm"])).max()


@pytest.mark.parametrize("source", ["trace", "tool_state"])
def test_clock_offsets_recovered_within_one_sample_period(fab, source):
    _, t, truth = fab
    est = estimate_clock_offsets(t["mes"], t[source], epoch=truth["clock_epoch"])
    assert set(est.index) == set(t["trace"]["tool_id"])
    assert _clock_error(est, truth, t["mes"]) < SAMPLE_PERIOD_S
    # where the matches span months, offset at the epoch and drift are identified too
    long = est[est["span_days"] > 30]
    assert len(long) >= 5
    assert (long["offset_s"] - truth["clock_offset"].reindex(long.index)).abs().max() < SAMPLE_PERIOD_S
    assert (long["drift_ppm"] - truth["clock_drift_ppm"].reindex(long.index)).abs().max() < 0.05


def test_clock_offsets_robust_to_missing_and_spurious_events(fab):
    _, t, truth = fab
    rng = np.random.default_rng(5)
    events = fabnb.trace.tool_events(t["tool_state"])
    kept = events[rng.random(len(events)) > 0.3]  # 30 % of Step_Start/Step_End never logged
    spurious = kept.sample(20, random_state=1).assign(
        timestamp=lambda d: d["timestamp"] + pd.to_timedelta(rng.uniform(20, 60, len(d)), unit="s"))
    noisy = pd.concat([kept, spurious, kept.head(5)]).sort_values("timestamp")  # + duplicates
    est = estimate_clock_offsets(t["mes"], noisy, epoch=truth["clock_epoch"])
    assert est.attrs["n_duplicates"] == 5
    assert _clock_error(est, truth, t["mes"]) < SAMPLE_PERIOD_S


def test_naive_join_misassigns_wafers_that_the_corrected_join_assigns_right(fab):
    _, t, truth = fab
    key = ["tool_id", "parameter_id", "tool_timestamp"]
    right = fab_join(t["mes"], t["trace"], offsets=_true_offsets(truth))  # simulator's clock
    ours = fab_join(t["mes"], t["trace"])  # estimated clocks
    both = right[key + ["wafer"]].merge(ours[key + ["wafer"]], on=key, how="outer",
                                        suffixes=("_true", "_ours"), indicator=True)
    assert (both["_merge"] == "both").all()
    assert (both["wafer_true"] == both["wafer_ours"]).all()
    # naive: each raw sample takes the latest MES step start at or before its timestamp
    trace = t["trace"][t["trace"]["quality"] == "good"].sort_values("timestamp")
    trace = trace.assign(timestamp=trace["timestamp"].dt.tz_localize("UTC"))
    starts = t["mes"][["tool_id", "wafer", "start_time"]].rename(columns={"start_time": "timestamp"})
    starts = starts.assign(timestamp=starts["timestamp"].dt.tz_localize("UTC")).sort_values("timestamp")
    naive = align_asof(trace, starts, by="tool_id", tolerance=None)
    naive = naive.assign(tool_timestamp=naive["timestamp"])[key + ["wafer"]]
    cmp = right[key + ["wafer", "timestamp"]].merge(naive, on=key, suffixes=("_true", "_naive"))
    wrong = cmp[cmp["wafer_true"] != cmp["wafer_naive"]]
    assert len(wrong) > 0
    # every misassigned sample was stamped by a clock running behind MES at that moment
    assert (wrong["tool_timestamp"] < wrong["timestamp"]).all()
    # and the uncorrected window join loses samples outside the windows
    assert fab_join(t["mes"], t["trace"], correct_clocks=False).attrs["fab_join"]["outside_windows"] > 0


def test_align_asof_equals_pandas_and_rejects_bad_keys():
    t = pd.date_range("2026-01-01", periods=50, freq="100ms", tz="UTC")
    hf = pd.DataFrame({"timestamp": t, "value": np.arange(50.0)})
    lf = pd.DataFrame({"timestamp": t[::7] + pd.Timedelta("30ms"), "event": np.arange(8)})
    got = align_asof(hf, lf, tolerance="500ms")
    want = pd.merge_asof(hf, lf, on="timestamp", tolerance=pd.Timedelta("500ms"),
                         suffixes=("", "_low"))
    pd.testing.assert_frame_equal(got, want)
    with pytest.raises(FabDataError, match="not sorted"):
        align_asof(hf.iloc[::-1], lf)
    with pytest.raises(FabDataError, match="naive"):
        align_asof(hf.assign(timestamp=t.tz_localize(None)), lf)
    with pytest.raises(FabDataError, match="timezones differ"):
        align_asof(hf.assign(timestamp=t.tz_convert("Europe/Berlin")), lf)
    with pytest.raises(FabDataError, match="units differ"):
        align_asof(hf.assign(timestamp=t.as_unit("ms")), lf)


def test_fab_join_bad_input_is_raised_or_counted(fab):
    _, t, _ = fab
    mes, trace = t["mes"], t["trace"]
    with pytest.raises(FabDataError, match="duplicate rows for wafer"):
        fab_join(mes.iloc[np.r_[np.arange(len(mes)), 0]], trace)
    no_end = mes.copy()
    lost = no_end.index[(no_end["step"] == "S22")][0]
    no_end.loc[lost, "end_time"] = pd.NaT
    j = fab_join(no_end, trace, step="S22")
    assert j.attrs["fab_join"]["missing_step_end"] == 1
    assert j.attrs["fab_join"]["missing_step_end_wafers"] == [mes.loc[lost, "wafer"]]
    assert mes.loc[lost, "wafer"] not in set(j["wafer"])
    ghost = trace.head(10).assign(tool_id="S99-C1")
    j = fab_join(mes, pd.concat([trace, ghost], ignore_index=True), step="S05")
    assert j.attrs["fab_join"]["tool_not_in_mes"] == 10
    report = j.attrs["fab_join"]
    assert report["n_trace"] == sum(report[k] for k in (
        "n_joined", "tool_not_in_mes", "other_steps", "no_clock_estimate", "bad_quality",
        "outside_windows"))
    with pytest.raises(FabDataError, match="naive"):
        fab_join(mes, trace, tz=None)
    # unsorted trace chunks join exactly like sorted ones (windows are looked up per sample)
    est = estimate_clock_offsets(mes, t["tool_state"])
    ordered = fab_join(mes, trace, step="S14", offsets=est)
    shuffled = fab_join(mes, trace.sample(frac=1.0, random_state=0), step="S14", offsets=est)
    key = ["tool_id", "parameter_id", "tool_timestamp"]
    pd.testing.assert_frame_equal(
        shuffled.sort_values(key).reset_index(drop=True).astype({"wafer": str, "tool_id": str}),
        ordered.sort_values(key).reset_index(drop=True).astype({"wafer": str, "tool_id": str}),
        check_categorical=False)


def test_trace_features_match_pandas_and_streaming(fab):
    _, t, _ = fab
    joined = fab_join(t["mes"], t["trace"], step=["S05", "S22"])
    thresholds = {"rf_power_W": 852.0, "pressure_mTorr": 35.2}
    f = trace_features(joined, thresholds=thresholds)
    # streaming: 2,000-row chunks reduce to the same features
    est = estimate_clock_offsets(t["mes"], t["trace"])
    chunks = (t["trace"].iloc[i:i + 2000] for i in range(0, len(t["trace"]), 2000))
    g = trace_features(fab_join_stream(t["mes"], chunks, step=["S05", "S22"], offsets=est),
                       thresholds=thresholds, sample_period=f.attrs["sample_period_s"])
    for v in ("mean", "std", "slope", "min", "max", "duration_s", "time_above_s"):
        np.testing.assert_allclose(g[v].values, f[v].values, rtol=1e-9, atol=1e-9, err_msg=v)
    # against direct pandas / numpy computation per group
    for (wafer, step, param), grp in list(joined.groupby(["wafer", "step", "parameter_id"]))[:12]:
        cell = f.sel(wafer=wafer, step=step, parameter=param)
        x, s = grp["value"].to_numpy(), grp["t_rel_s"].to_numpy()
        assert float(cell["mean"]) == pytest.approx(x.mean(), rel=1e-12)
        assert float(cell["std"]) == pytest.approx(x.std(ddof=1), rel=1e-8)
        assert float(cell["slope"]) == pytest.approx(np.polyfit(s, x, 1)[0], rel=1e-6, abs=1e-12)
        assert float(cell["max"]) == x.max() and float(cell["min"]) == x.min()
        assert float(cell["duration_s"]) == pytest.approx(s.max() - s.min())
        thr = thresholds.get(param)
        if thr is None:
            assert np.isnan(float(cell["time_above_s"]))
        else:
            assert float(cell["time_above_s"]) == pytest.approx((x > thr).sum() * f.attrs["sample_period_s"])
    assert str(f["tool"].sel(wafer=wafer, step=step).item()) == grp["tool_id"].iloc[0]
    wide = feature_matrix(f)
    assert wide.shape[0] == f.sizes["wafer"] and wide.notna().all().all()


def test_gaps_explained_by_state_except_the_simulated_data_loss(fab):
    _, t, truth = fab
    gaps = explain_gaps(t["trace"], t["tool_state"])
    loss = truth["trace_data_loss"]
    lost = gaps[~gaps["explained"]].sort_values("gap_start")
    assert len(lost) == len(loss) and (lost["state"] == "DATA_LOSS").all()
    want = loss.sort_values("start")
    assert list(lost["tool_id"]) == list(want["tool_id"])
    got_start = lost["gap_start"].dt.tz_localize(None).to_numpy()
    assert np.abs((got_start - want["start"].to_numpy()) / np.timedelta64(1, "s")).max() < 1e-3
    expected_len = (want["end"] - want["start"]).dt.total_seconds().to_numpy() + SAMPLE_PERIOD_S
    np.testing.assert_allclose(lost["lost_s"].to_numpy(), expected_len, atol=1e-3)
    explained = gaps[gaps["explained"]]
    assert set(explained["state"]) <= {"IDLE", "MAINTENANCE", "IDLE+MAINTENANCE"}
    assert (explained["state"].str.contains("MAINTENANCE")).sum() == (
        t["tool_state"]["state"] == "MAINTENANCE").sum()


def test_bad_parameters_name_the_parameter(fab):
    """#6: each option checked up front; one exception type naming it (formerly pandas'
    MergeError, range()'s ValueError, or silently 3 ns for a bare number)."""
    _, t, _ = fab
    mes, trace = t["mes"], t["trace"]
    stamps = pd.date_range("2026-01-01", periods=5, freq="1s", tz="UTC")
    hf = pd.DataFrame({"timestamp": stamps, "value": np.arange(5.0)})
    joined = fab_join(mes, trace, step="S22")
    cases = [
        (lambda: align_asof(hf, hf, direction="sideways"), "direction", "align_asof"),
        (lambda: align_asof(hf, hf, tolerance="-1s"), "tolerance", "align_asof"),
        (lambda: align_asof(hf, hf, tolerance=3), "tolerance", "align_asof"),  # 3 ns, not 3 s
        (lambda: fab_join(mes, trace, step="S22", chunksize=0), "chunksize", "fab_join"),
        (lambda: fab_join(mes, trace, step="S22", tolerance="soon"), "tolerance", "fab_join"),
        (lambda: fab_join(mes, trace, step="S22", quality=1), "quality", "fab_join"),
        (lambda: fab_join(mes, trace, step="S22", correct_clocks="yes"), "correct_clocks", "fab_join"),
        (lambda: fab_join_stream(mes, [trace], offsets=None, tolerance="-5ms"), "tolerance",
         "fab_join_stream"),  # raised on the call, not on the first chunk
        (lambda: estimate_clock_offsets(mes, t["tool_state"], tolerance="0s"), "tolerance",
         "estimate_clock_offsets"),
        (lambda: estimate_clock_offsets(mes, t["tool_state"], block=7), "block", "estimate_clock_offsets"),
        (lambda: fabnb.trace.tool_events(trace, max_gap="-5s"), "max_gap", "tool_events"),
        (lambda: explain_gaps(trace, t["tool_state"], gap_factor=0.5), "gap_factor", "explain_gaps"),
        (lambda: explain_gaps(trace, t["tool_state"], sample_period="0s"), "sample_period", "explain_gaps"),
        (lambda: trace_features(joined, sample_period=-1.0), "sample_period", "trace_features"),
        (lambda: trace_features(joined, sample_period="often"), "sample_period", "trace_features"),
        (lambda: trace_features(joined, thresholds=[850.0]), "thresholds", "trace_features"),
        (lambda: feature_matrix(trace_features(joined), stats=("mean", "meen")), "stats", "feature_matrix"),
    ]
    for call, name, owner in cases:
        with pytest.raises(FabParameterError, match=f"'{name}' parameter of {owner}"):
            call()
    # a duration given as seconds still works where it is documented (trace_features)
    f = trace_features(joined, sample_period=1.0)
    assert f.attrs["sample_period_s"] == 1.0
    assert trace_features(joined, sample_period="1s").attrs["sample_period_s"] == pytest.approx(1.0, rel=1e-12)
