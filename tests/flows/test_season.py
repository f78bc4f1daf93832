"""A season of three composed episodes under one root: the catalog from the storage layout and from run parameters,
the season views and named queries against the totals of the episodes' ground truth, `query` output files, and
`eval screentime` against a truth file."""
from __future__ import annotations

import html
import itertools
import json
import logging
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import cv2
import pandas as pd
import pytest
from typer.testing import CliRunner

from screenalytics.cli import app
from screenalytics.composer import build_sample
from screenalytics.composer.truth import EpisodeTruth
from screenalytics.flows.episode import episode
from screenalytics.query import query
from screenalytics.truth_eval import intersection_s
from tests.conftest import GRID

REPO = Path(__file__).resolve().parents[2]

runner = CliRunner()
SHOW = "grid-show"
KINDS = {"E01": "sample", "E02": "voices", "E03": "narrator"}


@pytest.fixture(scope="module")
def season(prefect_harness, tmp_path_factory):
    """E01 and E02 stored as raw/videos/grid-show/s01/e0N/episode.mp4 (labels from the layout); E03 in a flat
    folder with --show/--season/--episode given."""
    base = tmp_path_factory.mktemp("season")
    root = base / "root"
    for name in ("prefect.flow_runs", "prefect.task_runs"):  # the CLI, imported here, quiets Prefect's loggers
        logging.getLogger(name).setLevel(logging.INFO)
    truths = {}
    for code, kind in KINDS.items():
        laid_out = code != "E03"
        folder = base / "raw" / "videos" / SHOW / "s01" / code.lower() if laid_out else base / "flat" / kind
        built = build_sample(folder, clips_dir=GRID, kind=kind)
        labels = {} if laid_out else {"show": SHOW, "season": "1", "episode_no": "3"}
        manifest = episode(str(built["episode"]), facebank=str(built["facebank"]), root=str(root), **labels)
        truths[manifest["ep_id"]] = (EpisodeTruth.from_json(built["truth"]), built["truth"])
    return root, truths


def truth_totals(truths: dict) -> pd.DataFrame:
    """Per person seen on screen over the season: visual, speaking, overlap seconds and their tolerances
    (max(0.5 s, 3%) visual, max(0.5 s, 10%) speech, per episode)."""
    rows = []
    for truth, _ in truths.values():
        for person in set(truth.visual["person"]) | set(truth.speaking["person"]):
            seen = truth.visual[truth.visual["person"] == person]
            spoke = truth.speaking[truth.speaking["person"] == person]
            visual, speaking = (seen["end_s"] - seen["start_s"]).sum(), (spoke["end_s"] - spoke["start_s"]).sum()
            overlap = intersection_s(seen, spoke, truth.duration_s)
            rows.append({"person_id": person, "visual_s": visual, "speaking_s": speaking, "overlap_s": overlap,
                         "visual_tol": max(0.5, 0.03 * visual), "speaking_tol": max(0.5, 0.10 * speaking),
                         "overlap_tol": max(0.5, 0.10 * overlap)})
    totals = pd.DataFrame(rows).groupby("person_id").sum()
    return totals[totals["visual_s"] > 0]  # a voice never seen (the narrator) stays voice_N: not cast


def test_catalog_from_layout_and_parameters(season):
    root, truths = season
    table = query(str(root), "episodes").set_index("ep_id")
    assert sorted(table.index) == ["grid-show-s01e01", "grid-show-s01e02", "grid-show-s01e03"] == sorted(truths)
    assert (table["show_name"] == SHOW).all() and (table["season"] == "S01").all()
    assert table["episode"].tolist() == ["E01", "E02", "E03"]


def test_leaderboard_totals_match_the_ground_truth(season):
    """Every cast member's season totals are the sums of the episodes' screen-time rows, and within the summed
    per-episode tolerances of the truth; shares divide by the season's runtime and credited speech."""
    root, truths = season
    board = query(str(root), "leaderboard", season="S01").set_index("person_id")
    expected = truth_totals(truths)
    assert set(board.index) == set(expected.index)
    rows = query(str(root), f"select * from screentime where ep_id like '{SHOW}%'")
    cast = rows[~rows["person_id"].str.startswith(("unknown_", "voice_"))]
    for kind in ("visual_s", "speaking_s", "overlap_s"):
        sums = cast.groupby("person_id")[kind].sum()
        assert (board[kind] - sums.reindex(board.index)).abs().max() <= 0.011, kind
        error = (board[kind] - expected[kind]).abs()
        assert (error <= expected[kind.replace("_s", "_tol")] + 0.01).all(), (kind, error.to_dict())
    runtime = sum(t.duration_s for t, _ in truths.values())
    assert board["visual_share"].round(3).equals((board["visual_s"] / runtime).round(3))
    assert (board["season_episodes"] == 3).all()
    assert board.loc["bbaf2n", "episodes"] == sum("bbaf2n" in t.visual_s for t, _ in truths.values())
    assert query(str(root), "leaderboard", season="S02").empty


def test_coappearance_and_reaction_shots_against_the_truth(season):
    """Seconds two people share the screen, and seconds one is on screen while another speaks, summed over the
    season, against the same arithmetic on the truth intervals."""
    root, truths = season
    together = query(str(root), "coappearance", show=SHOW).set_index(["person_a", "person_b"])["seconds"]
    reactions = query(str(root), "reaction_shots", show=SHOW).set_index(["speaker", "on_screen"])["seconds"]
    want_together, want_reaction = {}, {}
    for truth, _ in truths.values():
        people = sorted(truth.visual_s)
        for a, b in itertools.combinations(people, 2):
            both = intersection_s(truth.visual[truth.visual["person"] == a], truth.visual[truth.visual["person"] == b],
                                  truth.duration_s)
            want_together[(a, b)] = want_together.get((a, b), 0.0) + both
        for speaker, viewer in itertools.permutations(people, 2):
            seconds = intersection_s(truth.speaking[truth.speaking["person"] == speaker],
                                     truth.visual[truth.visual["person"] == viewer], truth.duration_s)
            want_reaction[(speaker, viewer)] = want_reaction.get((speaker, viewer), 0.0) + seconds
    for pair, seconds in want_together.items():
        assert abs(together.get(pair, 0.0) - seconds) <= max(0.5, 0.05 * seconds), (pair, together.get(pair), seconds)
    for pair, seconds in want_reaction.items():
        assert abs(reactions.get(pair, 0.0) - seconds) <= max(0.75, 0.15 * seconds), (pair, reactions.get(pair),
                                                                                       seconds)


def test_conversation_and_episode_views(season):
    root, truths = season
    ep = "grid-show-s01e02"
    turns = query(str(root), "turns", ep_id=ep).set_index("person_id")
    spoken = query(str(root), f"select person_id, count(*) n from intervals where ep_id = '{ep}' "
                              "and kind = 'speaking' group by person_id").set_index("person_id")["n"]
    assert turns["turns"].to_dict() == spoken.to_dict()
    shots = query(str(root), "shot_presence", ep_id=ep)
    visual = query(str(root), f"select person_id, visual_s from screentime where ep_id = '{ep}'").set_index(
        "person_id")["visual_s"]
    per_person = shots.groupby("person_id")["seconds"].sum()
    assert (per_person - visual.reindex(per_person.index)).abs().max() <= 0.05 * len(shots)  # 2-decimal rounding
    share = query(str(root), "speaking_share", ep_id=ep)
    assert abs(share["share"].sum() - 1.0) <= 0.01
    first = query(str(root), "first_last", season="S01").set_index("person_id")
    assert first.loc["bbaf2n", "first_episode"] == "E01"
    for name in ("interruptions", "response_latency"):
        assert list(query(str(root), name, season="S01").columns[:2]) == ["show_name", "season"]


def test_query_command_writes_files_and_explains_mistakes(season, tmp_path):
    root, _ = season
    out = runner.invoke(app, ["query", "leaderboard", "--season", "1", "--root", str(root),
                              "--json", str(tmp_path / "b.json"), "--csv", str(tmp_path / "b.csv")])
    assert out.exit_code == 0, out.output
    records = json.loads((tmp_path / "b.json").read_text())
    assert {r["person_id"] for r in records} >= {"bbaf2n", "lbax4n"} and all(r["season"] == "S01" for r in records)
    assert pd.read_csv(tmp_path / "b.csv")["ep_ids"].str.startswith("[").all()
    listed = runner.invoke(app, ["query", "select ep_id, list(person_id) as people from screentime group by ep_id",
                                 "--root", str(root)])
    assert listed.exit_code == 0 and "grid-show-s01e01" in listed.output, listed.output
    wrong = runner.invoke(app, ["query", "select * from nowhere", "--root", str(root)])
    assert wrong.exit_code != 0 and "leaderboard" in wrong.output and "Traceback" not in wrong.output
    assert runner.invoke(app, ["query", "list"]).exit_code == 0


def test_eval_screentime_passes_the_truth_and_fails_a_wrong_one(season, tmp_path):
    root, truths = season
    ep = "grid-show-s01e01"
    truth, path = truths[ep]
    strict = runner.invoke(app, ["eval", "screentime", "--truth", str(path), "--ep-id", ep, "--root", str(root)])
    # the sample's bbaf2n speaks 3.00 s and is credited 3.65 s (diarization's turn ends), past the default 0.5 s
    assert strict.exit_code == 1 and "bbaf2n speaking" in strict.output, strict.output
    ok = runner.invoke(app, ["eval", "screentime", "--truth", str(path), "--ep-id", ep, "--root", str(root),
                             "--speaking-tol", "1.0"])
    assert ok.exit_code == 0 and "right" in ok.output, ok.output
    doc = json.loads(path.read_text())
    doc["visual"].append({"person": "bbaf2n", "start_s": 0.0, "end_s": truth.duration_s})  # on screen throughout
    (tmp_path / "wrong.json").write_text(json.dumps(doc))
    bad = runner.invoke(app, ["eval", "screentime", "--truth", str(tmp_path / "wrong.json"), "--ep-id", ep,
                              "--root", str(root)])
    assert bad.exit_code == 1 and "bbaf2n visual" in bad.output


def test_each_run_posts_its_table_summary_and_link_as_prefect_artifacts(season):
    """Read back through the Prefect client: the screen-time table with its rows (readable headers), the summary
    markdown (keyed, naming the cast found and where the outputs are) and the link to the episode folder."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, LogFilter, LogFilterFlowRunId

    root, _ = season
    ep = "grid-show-s01e01"
    with get_client(sync_client=True) as client:
        def latest(key: str):
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            assert found, key
            return max(found, key=lambda a: a.created)

        table = latest(f"screentime-{ep}")
        rows = json.loads(table.data) if isinstance(table.data, str) else table.data
        screentime = query(str(root), f"select * from screentime where ep_id = '{ep}'")
        assert table.type == "table" and len(rows) == len(screentime)
        assert {r["Person"] for r in rows} == set(screentime["name"]) and "On screen (s)" in rows[0]
        summary = latest(f"summary-{ep}")
        assert summary.type == "markdown" and "grid-show S01 E01" in summary.data
        assert all(name in summary.data for name in ("bbaf2n", "lbax4n")) and "## Outputs" in summary.data
        link, report = latest(f"outputs-{ep}"), latest(f"report-{ep}")  # Prefect stores links as markdown
        assert f"episodes/{ep}" in link.data and f"episodes/{ep}/report.html" in report.data
        logs = [entry.message for entry in client.read_logs(log_filter=LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[table.flow_run_id])), limit=200)]
    assert any(re.search(r"diarization: \d+% \(\d+/\d+\)", m) for m in logs), logs  # stage progress, every 10%
    assert any("outputs in" in m and f"episodes/{ep}" in m for m in logs)
    csv = (root / "episodes" / ep / "screentime.csv").read_text()
    assert not re.search(r"\d\.\d{4,}", csv), csv  # seconds rounded to milliseconds


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Debian's chromium, headless, with every request sent to `args`' proxy (no background traffic of its own)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "the report test needs Debian's chromium (apt-get install chromium; .ci/run installs it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-default-apps", "--disable-extensions", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--virtual-time-budget=3000"]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120)


class Trap:
    """A local socket that records the host of every request made to it: the browser's proxy, so any request that
    would leave the machine arrives here instead."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port, self.hosts, self.stop = self.server.getsockname()[1], set(), False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    target = conn.recv(4096).split(b"\r\n")[0].split(b" ")[1].decode()
                except (OSError, IndexError):
                    continue
                self.hosts.add(target.split("://")[-1].split("/")[0].split(":")[0])

    def requests_from(self, page: str) -> set[str]:
        """Hosts requested while Chromium loads `page` (a file URL)."""
        self.hosts = set()
        chromium(f"--proxy-server=http://127.0.0.1:{self.port}", "--dump-dom", page)
        return set(self.hosts)

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.server.close()


def test_the_episode_report_renders_offline_in_chromium(season, tmp_path):
    """The flow wrote each episode's report.html and the season report; headless Chromium renders the report with
    the timeline and every person's name in its DOM, takes a screenshot, and makes no request (a page with one
    remote image, through the same trap, does: the trap works)."""
    root, truths = season
    ep = "grid-show-s01e02"
    report = root / "episodes" / ep / "report.html"
    assert report.is_file() and (root / "report.html").is_file()
    season_page = (root / "report.html").read_text()
    assert all(f"episodes/{e}/report.html" in season_page for e in truths)
    names = query(str(root), f"select name from screentime where ep_id = '{ep}'")["name"]
    dom = chromium("--dump-dom", report.as_uri())
    shot = chromium(f"--screenshot={tmp_path / 'report.png'}", "--window-size=1200,1600", report.as_uri())
    assert dom.returncode == 0 and shot.returncode == 0, dom.stderr[-2000:]
    assert 'id="timeline"' in dom.stdout and dom.stdout.count("<rect") >= len(names)
    assert all(html.escape(n) in dom.stdout for n in names)
    assert dom.stdout.count("data:image/jpeg;base64,") >= 4  # the four cast members' faces
    image = cv2.imread(str(tmp_path / "report.png"))
    assert image is not None and image.shape[1] >= 1000 and image.std() > 20
    # Chromium itself calls a few Google services (time, updates) on any page: the report may add none of its own
    (tmp_path / "blank.html").write_text("<html><body>blank</body></html>")
    (tmp_path / "remote.html").write_text('<html><body><img src="http://example.com/x.png"></body></html>')
    trap = Trap()
    try:
        browser = trap.requests_from((tmp_path / "blank.html").as_uri())
        assert trap.requests_from(report.as_uri()) <= browser
        assert "example.com" in trap.requests_from((tmp_path / "remote.html").as_uri())  # the trap sees a page's
    finally:
        trap.close()
    cli = runner.invoke(app, ["report", ep, "--root", str(root)])
    assert cli.exit_code == 0 and report.is_file(), cli.output


def test_notebooks_execute_top_to_bottom(season, monkeypatch):
    """Every notebook runs against the season's root (found through SCREENALYTICS_ROOT), kernel started in
    notebooks/ as Jupyter starts it."""
    import nbformat
    from nbclient import NotebookClient

    root, _ = season
    monkeypatch.setenv("SCREENALYTICS_ROOT", str(root))
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        book = nbformat.read(path, as_version=4)
        NotebookClient(book, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        shown = "".join(o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
                        for cell in book.cells for o in cell.get("outputs", []))
        assert "grid-show-s01e01" in shown and "image/png" in json.dumps([c.get("outputs") for c in book.cells])


def test_find_root_walks_up_and_says_when_there_is_nothing(season, tmp_path, monkeypatch):
    from screenalytics.query import connect, find_root

    root, _ = season
    monkeypatch.delenv("SCREENALYTICS_ROOT", raising=False)
    project = tmp_path / "project"
    (project / "notebooks" / "deep").mkdir(parents=True)
    (project / "data").symlink_to(root, target_is_directory=True)
    assert find_root(project / "notebooks" / "deep") == str(project / "data")
    with pytest.raises(FileNotFoundError, match="make demo"):
        find_root(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="no episodes here"):
        connect(str(tmp_path))


def test_editor_timelines_reimport_with_the_appearance_intervals(season, tmp_path):
    """OTIO export re-imported: one clip per appearance, each source range the interval in frames of the video;
    with --speaking a second track of turns; the EDL and the FCP X XML parse back with their adapters."""
    import opentimelineio as otio

    root, _ = season
    ep = "grid-show-s01e01"
    out = runner.invoke(app, ["export", ep, "--person", "lbax4n", "--speaking", "--out", str(tmp_path / "a.otio"),
                              "--root", str(root)])
    assert out.exit_code == 0, out.output
    timeline = otio.adapters.read_from_file(str(tmp_path / "a.otio"))
    intervals = query(str(root), f"select * from intervals where ep_id = '{ep}' and person_id = 'lbax4n'")
    fps = float(query(str(root), f"select fps from episodes where ep_id = '{ep}'")["fps"].iloc[0])
    for track, kind in zip(timeline.tracks, ("visual", "speaking"), strict=True):
        spans = intervals[intervals["kind"] == kind].sort_values("start_s")
        clips = list(track.find_clips())
        assert len(clips) == len(spans) > 0
        for clip, (start, end) in zip(clips, spans[["start_s", "end_s"]].itertuples(index=False), strict=True):
            got = clip.source_range
            assert abs(got.start_time.to_seconds() - start) <= 0.5 / fps
            assert abs(got.end_time_exclusive().to_seconds() - end) <= 0.5 / fps
            assert clip.media_reference.target_url.endswith("episode.mp4")
    for fmt, adapter in (("edl", "cmx_3600"), ("fcpxml", "fcpx_xml")):
        path = tmp_path / f"a.{fmt}"
        done = runner.invoke(app, ["export", ep, "--person", "lbax4n", "--format", fmt, "--out", str(path),
                                   "--root", str(root)])
        assert done.exit_code == 0, done.output
        back = otio.adapters.read_from_file(str(path), adapter_name=adapter)
        assert len(list(back.find_clips())) == len(intervals[intervals["kind"] == "visual"])
    nobody = runner.invoke(app, ["export", ep, "--person", "nobody", "--root", str(root)])
    assert nobody.exit_code != 0 and "lbax4n" in nobody.output


def test_export_starts_at_the_container_timecode(season, tmp_path):
    """A copy of an episode tagged with timecode 01:00:00:00: its clips start one hour in."""
    import imageio_ffmpeg
    import opentimelineio as otio

    from screenalytics.export import person_timeline, start_timecode

    root, truths = season
    ep = "grid-show-s01e01"
    source = root.parent / "raw" / "videos" / SHOW / "s01" / "e01" / "episode.mp4"
    tagged = tmp_path / "tagged.mov"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(source), "-c", "copy",
                    "-timecode", "01:00:00:00", str(tagged)], check=True)
    assert start_timecode(str(tagged)) == "01:00:00:00"
    episode = query(str(root), f"select * from episodes where ep_id = '{ep}'").iloc[0]
    intervals = query(str(root), f"select * from intervals where ep_id = '{ep}'")
    timeline = person_timeline(intervals, episode, "lbax4n", "lbax4n", False, "01:00:00:00")
    first = next(iter(timeline.find_clips())).source_range.start_time
    start = intervals[(intervals["person_id"] == "lbax4n") & (intervals["kind"] == "visual")]["start_s"].min()
    assert otio.opentime.to_timecode(first, first.rate) == otio.opentime.to_timecode(
        otio.opentime.from_timecode("01:00:00:00", first.rate) + otio.opentime.RationalTime(round(start * first.rate),
                                                                                             first.rate), first.rate)
