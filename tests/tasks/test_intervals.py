"""Interval math shared by the stages, on small tables with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from screenalytics.tasks.intervals import inside, intersect, merge_intervals, same_frame_pairs, segment_of


def spans(*pairs: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["start_s", "end_s"], dtype=float)


def test_inside_and_intersect_treat_spans_as_a_union():
    a = spans((0, 2), (1, 3), (5, 6))
    assert inside(np.array([-1, 0, 2.5, 3, 4, 5.5]), a).tolist() == [False, True, True, False, False, True]
    both = intersect(a, spans((2, 5.5), (10, 11)))
    assert both.to_numpy().tolist() == [[2.0, 3.0], [5.0, 5.5]]
    assert intersect(a, spans()).empty


def test_segment_of_gives_each_face_the_segment_that_owns_its_time():
    segments = pd.DataFrame({"segment_id": [0, 1, 2], "track_id": [7, 7, 9], "start_s": [0.0, 2.0, 0.0]})
    faces = pd.DataFrame({"track_id": [7, 7, 7, 9, 7], "t_s": [-0.5, 1.9, 2.0, 4.0, 8.0]})
    assert segment_of(faces, segments).tolist() == [0, 0, 1, 2, 1]


def test_same_frame_pairs_are_the_distinct_ids_seen_together():
    faces = pd.DataFrame({"t_s": [0.0, 0.0, 0.0, 1.0, 1.0, 2.0], "segment_id": [3, 1, 3, 1, 2, 5]})
    assert same_frame_pairs(faces, "segment_id") == {(1, 3), (1, 2)}


def test_merge_bridges_small_gaps_only():  # moved from test_screentime (merge_intervals lives here now)
    out = merge_intervals(np.array([0.0, 0.2, 1.0, 5.0, 0.1]), np.array([0.2, 0.4, 1.2, 6.0, 0.3]),
                          np.array(["a", "a", "a", "a", "b"]), 0.5)
    assert out.values.tolist() == [["a", 0.0, 0.4], ["a", 1.0, 1.2], ["a", 5.0, 6.0], ["b", 0.1, 0.3]]


def test_intersect_of_span_unions():  # moved from test_fusion (intersect lives here now)
    a = pd.DataFrame({"start_s": [0.0, 5.0], "end_s": [3.0, 9.0]})
    b = pd.DataFrame({"start_s": [2.0, 4.0], "end_s": [4.5, 6.0]})
    assert intersect(a, b).to_numpy().tolist() == [[2.0, 3.0], [5.0, 6.0]]
