"""Settings come from the command line, SPGW_<NAME> variables, one TOML file and the defaults,
in that order; the example file documents every key with its true default."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.errors import InputInvalid
from gateway.service.administration.settings_file import load_settings, setting_names
from gateway.service.runtime import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "spgw.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spgw.toml"
    path.write_text(text, encoding="utf-8")
    return path


# (in the file, in the environment, on the command line, expected)
PRECEDENCE = [
    # nothing given: the default
    (None, None, None, 0),
    # each place alone
    (3, None, None, 3),
    (None, "5", None, 5),
    (None, None, 7, 7),
    # the environment over the file, the command line over both
    (3, "5", None, 5),
    (3, "5", 7, 7),
    (3, None, 7, 7),
]


@pytest.mark.parametrize(("in_file", "in_env", "on_cli", "expected"), PRECEDENCE)
def test_command_line_over_environment_over_file_over_default(
    tmp_path: Path, in_file: int | None, in_env: str | None, on_cli: int | None, expected: int
) -> None:
    config = write(tmp_path, f"workers = {in_file}\n" if in_file is not None else "")
    env = {"SPGW_WORKERS": in_env} if in_env is not None else {}
    settings = load_settings(cli={"workers": on_cli}, config=config, env=env)
    assert settings.workers == expected


def test_the_file_is_named_by_spgw_config_when_not_given(tmp_path: Path) -> None:
    config = write(tmp_path, 'issuer = "from-file"\n')
    assert load_settings(env={"SPGW_CONFIG": str(config)}).issuer == "from-file"
    other = tmp_path / "other.toml"
    other.write_text('issuer = "given"\n', encoding="utf-8")
    assert load_settings(config=other, env={"SPGW_CONFIG": str(config)}).issuer == "given"


# (variables, the setting, expected)
ENVIRONMENT = [
    # the older GATEWAY_ names still count...
    ({"GATEWAY_PUBLIC_URL": "https://old.example.org"}, "public_base_url", "https://old.example.org"),
    ({"GATEWAY_DENIAL_FLOOR_MS": "40"}, "denial_floor_ms", 40),
    # ... below their SPGW_ twins
    (
        {"GATEWAY_PUBLIC_URL": "https://old.example.org", "SPGW_PUBLIC_BASE_URL": "https://new.example.org"},
        "public_base_url",
        "https://new.example.org",
    ),
    # numbers are read as their field's type
    ({"SPGW_CHECKPOINT_EVERY_MINUTES": "0.5"}, "checkpoint_every_minutes", 0.5),
    ({"SPGW_METRICS_TOKEN": "s3cret"}, "metrics_token", "s3cret"),
    # an empty variable is not set
    ({"SPGW_THREADS": ""}, "threads", 8),
    (
        {"SPGW_AUDIT_WITNESSES": "w=https://w.example.org/h"},
        "audit_witnesses",
        (("w", "https://w.example.org/h"),),
    ),
]


@pytest.mark.parametrize(("env", "name", "expected"), ENVIRONMENT)
def test_environment_variables(env: dict[str, str], name: str, expected: Any) -> None:
    assert getattr(load_settings(env=env), name) == expected


def test_home_and_database_url(tmp_path: Path) -> None:
    settings = load_settings(env={"SPGW_HOME": str(tmp_path / "h")})
    assert settings.home == tmp_path / "h"
    assert settings.database_url == f"sqlite:///{tmp_path / 'h' / 'gateway.db'}"
    given = load_settings(env={"SPGW_HOME": str(tmp_path), "GATEWAY_DATABASE_URL": "postgresql://x@db/y"})
    assert given.database_url == "postgresql://x@db/y"


def test_relative_paths_in_the_file_are_the_files(tmp_path: Path) -> None:
    config = write(tmp_path, 'home = "state"\nmappings_dir = "site/mappings"\n')
    settings = load_settings(config=config, env={})
    assert settings.home == tmp_path / "state"
    assert settings.mappings_dir == tmp_path / "site" / "mappings"


def test_witnesses_as_a_table(tmp_path: Path) -> None:
    config = write(tmp_path, '[audit_witnesses]\npartner = "https://w.example.org/heads"\n')
    assert load_settings(config=config, env={}).audit_witnesses == (
        ("partner", "https://w.example.org/heads"),
    )


def test_an_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, "worker = 4\n")
    with pytest.raises(InputInvalid) as caught:
        load_settings(config=config, env={})
    [issue] = caught.value.issues
    assert issue.path == f"{config}: worker"
    assert "unknown setting 'worker'" in issue.message
    assert "did you mean 'workers'" in issue.message


def test_every_problem_of_the_file_at_once(tmp_path: Path) -> None:
    config = write(tmp_path, 'workers = "four"\nthreads = true\nbogus = 1\ncheckpoint_every_minutes = 2\n')
    with pytest.raises(InputInvalid) as caught:
        load_settings(config=config, env={})
    found = {issue.path.rsplit(": ", 1)[1]: issue.message for issue in caught.value.issues}
    assert set(found) == {"workers", "threads", "bogus"}  # an integer is a number: minutes is fine
    assert found["workers"] == "expected an integer, found str 'four'"
    assert found["threads"].startswith("expected an integer, found bool")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("workers = ", "spgw.toml", id="not-toml"),
        pytest.param('[audit_witnesses]\nw = "ftp://x"\n', "audit_witnesses", id="bad-witness"),
    ],
)
def test_a_file_that_cannot_be_used(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        load_settings(config=write(tmp_path, text), env={})
    assert where in caught.value.issues[0].path


def test_a_wrong_variable_names_the_variable() -> None:
    with pytest.raises(InputInvalid) as caught:
        load_settings(env={"SPGW_WORKERS": "many"})
    assert caught.value.issues[0].path == "SPGW_WORKERS"


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputInvalid) as caught:
        load_settings(config=tmp_path / "absent.toml", env={})
    assert caught.value.issues[0].path == str(tmp_path / "absent.toml")


def test_the_command_line_refuses_a_bad_file_naming_key_and_file(tmp_path: Path) -> None:
    config = write(tmp_path, "wokers = 2\n")
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "--config", str(config), "messages", "list"])
    assert result.exit_code == 2
    assert f"{config}: wokers: unknown setting 'wokers'" in result.output


# -- the example file ------------------------------------------------------------------------


def documented_keys() -> set[str]:
    pattern = re.compile(r"^#?\s?([a-z_]+) = ", re.MULTILINE)
    keys = set(pattern.findall(EXAMPLE.read_text("utf-8")))
    return keys | {"audit_witnesses"} if "[audit_witnesses]" in EXAMPLE.read_text("utf-8") else keys


def test_the_example_documents_every_setting_and_nothing_else() -> None:
    documented = documented_keys() - {"partner"}  # the witness table's example entry
    assert documented == set(setting_names())


def test_the_example_states_the_true_defaults() -> None:
    loaded = load_settings(config=EXAMPLE, env={})
    fields = dataclasses.fields(Settings)
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    assert {name: getattr(loaded, name) for name in defaults} == defaults
