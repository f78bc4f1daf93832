"""DER scoring (pyannote.metrics) on the AMI reference turns, against hypotheses with a known error; word error
rate (the transcript's measure) on texts with known edits."""
from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from screenalytics.cli import app
from screenalytics.tasks.evaluate import der_table, word_error_rate
from screenalytics.tasks.rttm import read_rttm, read_uem
from tests.conftest import SHARED

AMI = SHARED / "ami_pyannote_debug"


@pytest.fixture(scope="module")
def reference():
    return read_rttm(AMI / "debug.development.rttm")


def speaker_seconds(turns: pd.DataFrame) -> pd.Series:
    """Speech seconds per (file, speaker), a speaker's own overlapping turns counted once."""
    out = {}
    for (file, speaker), group in turns.groupby(["file", "speaker"]):
        total, end = 0.0, -1.0
        for start, stop in sorted(zip(group["start_s"], group["end_s"])):
            total += max(0.0, stop - max(start, end))
            end = max(end, stop)
        out[(file, speaker)] = total
    return pd.Series(out)


def test_identical_and_relabelled_hypotheses_score_zero(reference):
    assert der_table(reference, reference, uem=read_uem(AMI / "debug.development.uem"))["der"].max() == 0
    relabelled = reference.assign(speaker="spk_" + reference["speaker"].str[::-1])
    assert der_table(reference, relabelled, collar=0.0)["der"].max() == pytest.approx(0.0, abs=1e-9)


def test_dropping_a_speaker_is_missed_speech_of_exactly_their_time(reference):
    seconds = speaker_seconds(reference)
    file = seconds.index[0][0]
    speaker = seconds.loc[file].idxmax()
    hypothesis = reference[~((reference["file"] == file) & (reference["speaker"] == speaker))]
    row = der_table(reference, hypothesis, collar=0.0).set_index("file").loc[file]
    expected = seconds.loc[(file, speaker)] / seconds.loc[file].sum()
    assert row["missed detection"] == pytest.approx(expected, abs=1e-6)
    assert row["false alarm"] == pytest.approx(0.0) and row["confusion"] == pytest.approx(0.0)
    assert row["der"] == pytest.approx(expected, abs=1e-6)


def test_cli_prints_der_and_refuses_missing_files(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["eval", "der", "--ref", str(AMI / "debug.development.rttm"), "--hyp",
                             str(AMI / "debug.development.rttm"), "--uem", str(AMI / "debug.development.uem")])
    assert ok.exit_code == 0 and "TOTAL" in ok.output and "DER %" in ok.output
    missing = runner.invoke(app, ["eval", "der", "--ref", str(tmp_path / "nope.rttm"), "--hyp",
                                  str(AMI / "debug.development.rttm")])
    assert missing.exit_code == 2 and "nope.rttm" in missing.output
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER x 1 0.0\n")
    broken = runner.invoke(app, ["eval", "der", "--ref", str(bad), "--hyp", str(bad)])
    assert broken.exit_code == 2 and "bad.rttm:1" in broken.output


@pytest.mark.parametrize(("ref", "hyp", "expected"), [
    ("Ask not what your country can do", "ask NOT, what your country can do!", 0.0),  # case, punctuation
    ("ask not what your country", "ask not what our country", 1 / 5),  # 1 substitution
    ("ask not what your country", "ask not what country", 1 / 5),  # 1 deletion
    ("ask not what your country", "ask not what your own country", 1 / 5),  # 1 insertion
    ("my fellow americans", "fellow americans all", 2 / 3),  # 1 deletion + 1 insertion
])
def test_word_error_rate(ref, hyp, expected):
    assert word_error_rate(ref, hyp) == pytest.approx(expected)


def test_word_error_rate_needs_reference_words():
    with pytest.raises(ValueError):
        word_error_rate(" ,. ", "hello")
