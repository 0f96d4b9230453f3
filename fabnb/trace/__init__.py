"""Sensor traces joined to MES context: validated as-of joins, per-tool clock offset and
drift, the windowed "great fab join", per-wafer trace features, and gap explanation.

>>> import fabnb
>>> ds = fabnb.synth.fab("small")
>>> t = fabnb.synth.tables(ds)
>>> joined = fabnb.trace.fab_join(t["mes"], t["trace"], step="S22")
>>> feats = fabnb.trace.trace_features(joined)
>>> feats.sizes["wafer"] == ds.sizes["wafer"]
True
"""

from .align import align_asof, check_timestamps
from .clocks import correct_timestamps, estimate_clock_offsets, tool_events
from .features import feature_matrix, trace_features
from .gaps import explain_gaps
from .join import fab_join, fab_join_stream

__all__ = ["align_asof", "check_timestamps", "correct_timestamps", "estimate_clock_offsets",
           "explain_gaps", "fab_join", "fab_join_stream", "feature_matrix", "tool_events",
           "trace_features"]
