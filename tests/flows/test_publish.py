"""Publishing details: the CSV a producer opens in a spreadsheet."""
from __future__ import annotations

import pandas as pd

from screenalytics.flows.publish import spreadsheet_safe


def test_names_that_a_spreadsheet_would_run_are_quoted():
    table = pd.DataFrame({"name": ["=2+5", "+cmd", "-1", "@SUM(A1)", "Lisa", "Jean-Luc"], "visual_s": [1.0] * 6})
    safe = spreadsheet_safe(table)
    assert safe["name"].tolist() == ["'=2+5", "'+cmd", "'-1", "'@SUM(A1)", "Lisa", "Jean-Luc"]
    assert safe["visual_s"].tolist() == [1.0] * 6 and table["name"].iloc[0] == "=2+5"
