"""Timelines: an editor's AAF, OpenTimelineIO, FCP XML or EDL read through OpenTimelineIO (edit), the
media its clips use located and cut into source ranges with handles (ranges), each range processed
once, resumably, locally or on Ray (conform), and the timeline written back pointing at the new
Broadcast WAVs (relink).

Floor 8: may import batch, mix and everything below them, never cli. OpenTimelineIO and its
adapters are the optional extra `tuss-fx[timeline]`.
"""
