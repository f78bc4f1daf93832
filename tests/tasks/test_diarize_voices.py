"""Voices from local speakers: co-active local speakers kept apart, and turn ends trimmed to heard speech."""
from __future__ import annotations

import numpy as np
import pandas as pd

from screenalytics.tasks.diarize_voices import separate_co_active, trim_ends


def test_turn_ends_trimmed_to_heard_speech():
    """A turn that runs on into silence ends where voice activity last heard speech, by at most `max_s`; a turn
    ending inside speech, or holding no detected speech, keeps its end."""
    turns = pd.DataFrame({"start_s": [0.0, 3.0, 6.0, 9.0], "end_s": [2.3, 5.0, 8.0, 9.5], "speaker": [0, 1, 0, 1]})
    speech = np.array([[0.1, 2.1], [2.9, 4.0], [6.0, 8.5]])
    trimmed = trim_ends(turns, speech, 0.3)
    assert np.allclose(trimmed["end_s"], [2.1, 4.7, 8.0, 9.5])
    assert trimmed["start_s"].equals(turns["start_s"])
    assert trim_ends(turns, speech, 0.0)["end_s"].equals(turns["end_s"])


def test_co_active_local_speakers_are_kept_apart():
    speaker = {0: np.array([0, 0, 0, 1, -1]), 1: np.array([0, 0, 1, 1, 0]), 2: np.array([1, 1, 1, 1, 1])}
    separate_co_active(speaker, {0: 0, 1: 1, 2: 1})
    assert speaker[0].tolist() == [0, 0, 0, 0, -1]  # mostly voice 0: takes it where slot 1 also holds voice 1
    assert speaker[1].tolist() == [1, 1, 1, 1, 0]  # mostly voice 1: takes it where slot 0 also holds voice 0
    assert speaker[2].tolist() == [1, 1, 1, 1, 1]  # slots 1 and 2 both mostly voice 1 (one voice split): kept

