"""Timelines: an editor's AAF, OpenTimelineIO, FCP XML or EDL read through OpenTimelineIO (edit), the
media its clips use found (media) and cut into source ranges with handles (ranges), each range
processed once, resumably, here or on Ray (conform), and the timeline written back pointing at the
new Broadcast WAVs (relink); plan runs the whole conform. The public names are re-exported here:
`from tuss_fx.timeline import ConformJob, conform_timeline, plan_conform`.

Floor 8: may import batch, mix and everything below them, never cli. OpenTimelineIO and its
adapters are the optional extra `tuss-fx[timeline]`, imported only when a timeline is read.
"""

from tuss_fx.timeline.conform import ConformJob, ConformSummary
from tuss_fx.timeline.edit import TimelineError
from tuss_fx.timeline.plan import ConformPlan, conform_timeline, plan_conform

__all__ = ["ConformJob", "ConformPlan", "ConformSummary", "TimelineError", "conform_timeline", "plan_conform"]
