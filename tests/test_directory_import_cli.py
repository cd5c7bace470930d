"""``spgw directory import|list|export``, driven as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from tests.conftest import PROJECT_ROOT

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "hsds"


@pytest.fixture
def spgw(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    home = tmp_path / "gw"

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(home), *args])
        return result.exit_code, result.output

    code, output = run("init", "--json")
    assert code == 0, output
    return run


def test_import_list_and_export_round_trip(spgw, tmp_path: Path) -> None:
    code, output = spgw("directory", "import", str(FIXTURES / "providence-2x"), "--source", "pvd", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert (report["version"], report["added"], report["rejected"]) == ("2.x", 4, 0)
    code, output = spgw("directory", "list", "--near", "41.8170,-71.4330", "--km", "1", "--json")
    listed = json.loads(output)
    assert [(r["id"], r["distanceKm"]) for r in listed] == [("pvd:sal-1", 0.0), ("pvd:sal-4", 0.0)]
    out = tmp_path / "pvd.json"
    code, _ = spgw("directory", "export", "--source", "pvd", str(out))
    assert code == 0
    code, output = spgw("directory", "import", str(out), "--source", "pvd", "--json")
    assert (json.loads(output)["unchanged"], json.loads(output)["changed"]) == (4, 0)


def test_rejected_rows_are_listed_with_their_file_and_row_and_exit_3(spgw) -> None:
    code, output = spgw("directory", "import", str(FIXTURES / "providence-1x"), "--source", "pvd")
    assert code == 3
    assert "added 4, changed 0, unchanged 0, removed 0, rejected 2" in output
    assert "services.csv row 5: rejected: the service lacks name" in output
    assert "services_at_location.csv row 6: rejected:" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("directory", "list", "--near", "north,west"), "give LAT,LON"),
        (("directory", "import", "missing-folder", "--source", "x"), "missing-folder does not exist"),
        (("directory", "import", str(FIXTURES / "providence-3x.json"), "--source", "a:b"), "source name"),
    ],
)
def test_bad_arguments_say_what_to_do(spgw, args: tuple[str, ...], message: str) -> None:
    code, output = spgw(*args)
    assert code == 2
    assert message in output
