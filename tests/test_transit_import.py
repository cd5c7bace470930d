"""GTFS import: the shared samples land; every quirk of real feeds, derived from the clean feed,
lands as the same rows; broken rows are reported with file and line and the rest lands."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gateway.cli import main
from gateway.errors import InputInvalid
from gateway.service.directory.transit_import import import_feed
from gateway.storage import transit_store as store
from tests.conftest import SHARED_SAMPLES

CLEAN = Path(__file__).parent / "fixtures" / "gtfs-clean"
GTFS = SHARED_SAMPLES / "gtfs"
needs_samples = pytest.mark.skipif(not GTFS.is_dir(), reason="the public GTFS samples are not here")
TABLES = (
    store.STOPS,
    store.ROUTES,
    store.TRIPS,
    store.STOP_TIMES,
    store.CALENDARS,
    store.CALENDAR_DATES,
    store.FREQUENCIES,
)


def _rows(rt) -> dict[str, list[tuple]]:
    with rt.sessions() as session:
        return {
            t.__tablename__: sorted(
                tuple(str(v) for k, v in row._mapping.items() if k != "feed_key")
                for row in session.execute(select(t.__table__))
            )
            for t in TABLES
        }


def _loaded(report) -> dict[str, int]:
    return {name: c.loaded for name, c in report.files.items()}


@needs_samples
def test_the_google_sample_feed_folder_lands(bare_rt):
    report = import_feed(bare_rt, GTFS / "google-sample-feed")
    assert report.timezone == "America/Los_Angeles"
    assert report.to_dict()["problemCount"] == 0
    assert _loaded(report) | {} == {
        "agency.txt": 1,
        "stops.txt": 10,
        "routes.txt": 5,
        "calendar.txt": 2,
        "calendar_dates.txt": 1,
        "frequencies.txt": 11,
        "trips.txt": 11,
        "stop_times.txt": 28,
    }


@needs_samples
def test_the_miami_trolley_zip_lands(bare_rt):
    # a nested folder, __MACOSX/ entries, CRLF and a header with a stray space (" agency_name")
    report = import_feed(bare_rt, GTFS / "city-of-miami-trolley-2020" / "CityofMiamiGTFS.zip")
    assert (report.feed, report.timezone) == ("CityofMiamiGTFS", "America/New_York")
    assert report.to_dict()["problemCount"] == 0
    loaded = _loaded(report)
    assert (loaded["stops.txt"], loaded["trips.txt"], loaded["stop_times.txt"]) == (407, 51, 48817)


def _write(folder: Path, transform: Callable[[str, str], str], drop: tuple[str, ...] = ()) -> Path:
    folder.mkdir()
    for f in CLEAN.glob("*.txt"):
        if f.name not in drop:
            (folder / f.name).write_bytes(transform(f.name, f.read_text()).encode("utf-8"))
    return folder


def _cells(text: str, change: Callable[[int, str], str]) -> str:
    return "\n".join(
        ",".join(change(i, c) for i, c in enumerate(line.split(","))) for line in text.splitlines()
    )


def _one_digit_hours(name: str, text: str) -> str:
    return (
        text.replace(",07:", ",7:").replace(",08:", ",8:")
        if name in ("stop_times.txt", "frequencies.txt")
        else text
    )


def _extra_and_shuffled_columns(name: str, text: str) -> str:
    lines = [line.split(",") for line in text.splitlines()]
    lines = [[*list(reversed(cells)), "x"] for cells in lines]
    lines[0][-1] = "x_vendor_extra"
    return "\n".join(",".join(cells) for cells in lines) + "\n"


def _blank_optional(name: str, text: str) -> str:
    # pickup_type/drop_off_type 0 is the default: a blank says the same
    return text.replace(",0,0\n", ",,\n") if name == "stop_times.txt" else text


QUIRKS: dict[str, Callable[[str, str], str]] = {
    "byte order mark": lambda _n, t: "\ufeff" + t,
    "CRLF line ends": lambda _n, t: t.replace("\n", "\r\n"),
    "ids and values padded with spaces": lambda _n, t: _cells(t, lambda _i, c: f"  {c} "),
    "header names with stray spaces": lambda _n, t: t.replace(",", ", ", t.index("\n")),
    "one-digit hours": _one_digit_hours,
    "extra and reordered columns": _extra_and_shuffled_columns,
    "blank optional fields": _blank_optional,
    "blank lines": lambda _n, t: t.replace("\n", "\n\n"),
}


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_a_quirk_of_real_feeds_lands_as_the_same_rows(bare_rt, tmp_path, quirk):
    import_feed(bare_rt, CLEAN, name="clean")
    expected = _rows(bare_rt)
    report = import_feed(bare_rt, _write(tmp_path / "quirky", QUIRKS[quirk]), name="clean")
    assert report.to_dict()["problems"] == []
    assert _rows(bare_rt) == expected


def test_optional_files_absent_and_a_zipped_nested_folder_land_as_the_same_rows(bare_rt, tmp_path):
    import_feed(bare_rt, CLEAN, name="clean")
    expected = _rows(bare_rt)
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in CLEAN.glob("*.txt"):
            if f.name != "feed_info.txt":
                z.write(f, f"google_transit/{f.name}")
                z.writestr(f"__MACOSX/google_transit/._{f.name}", b"\x00\x05\x16\x07")
    report = import_feed(bare_rt, archive, name="clean")
    assert report.to_dict()["problemCount"] == 0
    assert _rows(bare_rt) == expected


def test_untimed_stops_get_interpolated_times(bare_rt, tmp_path):
    def untimed(name: str, text: str) -> str:
        return text.replace("T1,15:50:00,15:50:00,MID", "T1,,,MID") if name == "stop_times.txt" else text

    import_feed(bare_rt, _write(tmp_path / "untimed", untimed), name="clean")
    stop_times = _rows(bare_rt)["transit_stop_times"]
    assert ("1", "2", "3", str(15 * 3600 + 49 * 60), str(15 * 3600 + 49 * 60), "0", "0") in stop_times


def test_broken_rows_are_reported_by_file_and_line_and_the_rest_lands(bare_rt, tmp_path):
    breaks = {
        "stops.txt": (
            "HOME_B,102,Elmwood Ave,41.803000,-71.400000",
            "HOME_B,102,Elmwood Ave,north,-71.400000",
        ),
        "trips.txt": ("R2,WK,T5", "R9,WK,T5"),
        "stop_times.txt": ("T1,15:50:00,15:50:00", "T1,15:50,15:50:00"),
        "calendar_dates.txt": ("EXTRA,20261205,1", "EXTRA,20261205,3"),
    }

    def broken(name: str, text: str) -> str:
        old, new = breaks.get(name, ("", ""))
        return text.replace(old, new) if old else text

    report = import_feed(bare_rt, _write(tmp_path / "broken", broken), name="clean").to_dict()
    where = {(p["file"], p["line"]) for p in report["problems"]}
    assert {("stops.txt", 3), ("trips.txt", 6), ("stop_times.txt", 3), ("calendar_dates.txt", 4)} <= where
    # rows that name what was dropped are reported too: HOME_B's and T5's stop times, T8 (no EXTRA)
    assert ("stop_times.txt", 9) in where
    assert ("stop_times.txt", 11) in where
    assert ("trips.txt", 9) in where
    assert all(p["message"] for p in report["problems"])
    assert report["files"]["stops.txt"] == {"read": 6, "loaded": 5, "problems": 1}
    assert report["files"]["routes.txt"]["loaded"] == 4


def test_a_feed_without_required_files_is_refused_naming_them(bare_rt, tmp_path):
    folder = _write(
        tmp_path / "partial", lambda _n, t: t, drop=("calendar.txt", "calendar_dates.txt", "trips.txt")
    )
    with pytest.raises(InputInvalid) as caught:
        import_feed(bare_rt, folder)
    named = " ".join(i.path for i in caught.value.issues)
    assert "trips.txt" in named
    assert "calendar.txt or calendar_dates.txt" in named


def test_reimport_replaces_the_feed(bare_rt, tmp_path):
    import_feed(bare_rt, CLEAN, name="clean")
    fewer = _write(
        tmp_path / "fewer", lambda n, t: "\n".join(t.splitlines()[:-1]) + "\n" if n == "stop_times.txt" else t
    )
    import_feed(bare_rt, fewer, name="clean")
    assert len(_rows(bare_rt)["transit_stop_times"]) == 16
    with bare_rt.sessions() as session:
        assert [f["name"] for f in store.feeds(session)] == ["clean"]


def test_cli_import_and_trips(bare_rt):
    runner = CliRunner()
    home = ["--home", str(bare_rt.settings.home)]
    env = {"GATEWAY_DATABASE_URL": bare_rt.settings.database_url}
    result = runner.invoke(
        main, [*home, "transit", "import", str(CLEAN), "--feed", "clean", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["files"]["stop_times.txt"]["loaded"] == 17
    args = ["transit", "trips", "--from", "41.8,-71.4", "--to", "41.83,-71.4", "--at", "2026-12-07T15:30"]
    result = runner.invoke(main, [*home, *args], env=env)
    assert result.exit_code == 0, result.output
    assert "bus 1 from Broad St at 15:40, arrives Clinic 15:58" in result.output
