"""`screenalytics eval der` on reference and hypothesis files whose file ids differ: it says so instead of silently
scoring a file with no hypothesis as 100% missed."""
from __future__ import annotations

from typer.testing import CliRunner

from screenalytics.cli import app

runner = CliRunner()


def rttm(rows: list[tuple[str, float, float, str]]) -> str:
    return "".join(f"SPEAKER {f} 1 {s:.2f} {d:.2f} <NA> <NA> {spk} <NA> <NA>\n" for f, s, d, spk in rows)


def test_der_warns_about_files_missing_on_either_side(tmp_path):
    (tmp_path / "ref.rttm").write_text(rttm([("a", 0, 2, "x"), ("a", 2, 2, "y"), ("b", 0, 3, "x")]))
    (tmp_path / "hyp.rttm").write_text(rttm([("a", 0, 2, "1"), ("a", 2, 2, "2"), ("c", 0, 3, "1")]))
    out = runner.invoke(app, ["eval", "der", "--ref", str(tmp_path / "ref.rttm"), "--hyp", str(tmp_path / "hyp.rttm")])
    assert out.exit_code == 0, out.output
    assert "no turns for b" in out.output and "100% missed" in out.output
    assert "c in" in out.output and "not scored" in out.output
    same = runner.invoke(app, ["eval", "der", "--ref", str(tmp_path / "ref.rttm"), "--hyp", str(tmp_path / "ref.rttm")])
    assert same.exit_code == 0 and "warning" not in same.output
