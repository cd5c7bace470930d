"""The gateway installs like a product: its wheel carries every artifact it reads at run time, an
installed gateway starts and ingests from outside the checkout, and a site can point it at its
own artifact folders, which are checked exactly like the packaged ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from gateway.artifacts import ArtifactFolders, bundled_root, load_artifacts
from gateway.errors import ArtifactInvalid
from gateway.service.runtime import Settings
from tests.conftest import PROJECT_ROOT

SHIPPED = ("mappings", "schemas", "consent_policies", "demo")
DEMO_STUDENTS = "demo/exchanges/01-grand-bend-isd.edfi-json.students.json"


def _checkout_files() -> set[str]:
    return {
        str(path.relative_to(PROJECT_ROOT))
        for folder in SHIPPED
        for path in (PROJECT_ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # The build runs on a copy, so a stale build/ folder of the checkout cannot leak into it.
    source = out / "src"
    shutil.copytree(
        PROJECT_ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "var", "build", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            ".",
        ],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


PAGES = Path(__file__).resolve().parent.parent / "gateway" / "web"


@pytest.mark.slow
def test_the_wheel_carries_every_artifact_file(wheel: Path) -> None:
    prefix = "gateway/_artifacts/"
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name[len(prefix) :] for name in archive.namelist() if name.startswith(prefix)}
    missing = _checkout_files() - shipped
    assert not missing, f"files the gateway reads at run time are not in the wheel: {sorted(missing)[:10]}"
    assert "storage/migrations/versions/0001_initial_schema.py" in {
        name.removeprefix("gateway/") for name in zipfile.ZipFile(wheel).namelist()
    }


@pytest.mark.slow
def test_the_wheel_carries_the_pages_templates_styles_and_catalogues(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("templates", "static", "translations"):
        here = {f"gateway/web/{folder}/{p.relative_to(PAGES / folder)}" for p in (PAGES / folder).rglob("*")}
        files = {name for name in here if not name.endswith("/") and (PAGES.parent.parent / name).is_file()}
        assert files, folder
        assert files <= names, sorted(files - names)[:5]


@pytest.mark.slow
def test_an_installed_gateway_serves_its_pages_in_spanish(installed: Path, tmp_path: Path) -> None:
    script = (
        "from gateway.web import create_app\n"
        "from gateway.service.administration.setup import initialise\n"
        "from gateway.service.runtime import Settings\n"
        "import pathlib\n"
        "home = pathlib.Path('home')\n"
        "rt, _ = initialise(Settings(home=home, database_url=f'sqlite:///{home}/g.db'), with_samples=False)\n"
        "client = create_app(runtime=rt).test_client()\n"
        "page = client.get('/sign-in?lang=es').get_data(as_text=True)\n"
        "css = client.get('/static/gateway.css')\n"
        "print('Iniciar sesión' in page, css.status_code)\n"
        "rt.engine.dispose()\n"
    )
    ran = _run(installed, "python", "-c", script, cwd=tmp_path)
    assert ran.stdout.split() == ["True", "200"], ran.stdout + ran.stderr


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; its dependencies come from this venv's site-packages
    (added as a plain path, so this venv's editable install of the checkout is not seen)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PYTHON"))}
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_an_installed_gateway_starts_and_ingests_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    where = _run(installed, "python", "-c", "import gateway; print(gateway.__file__)", cwd=tmp_path)
    assert where.stdout.strip().startswith(str(installed)), where.stdout + where.stderr

    home = tmp_path / "home"
    init = _run(installed, "spgw", "--home", str(home), "init", "--with-samples", "--json", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "grand-bend-isd" in json.loads(init.stdout)["organizations"]

    bundled = _run(
        installed,
        "python",
        "-c",
        "from gateway.artifacts import bundled_root; print(bundled_root())",
        cwd=tmp_path,
    ).stdout.strip()
    assert bundled.startswith(str(installed))
    students = Path(bundled) / DEMO_STUDENTS
    sent = _run(
        installed,
        "spgw",
        "--home",
        str(home),
        "ingest",
        "edfi-json",
        str(students),
        "--source",
        "grand-bend-isd",
        "--json",
        cwd=tmp_path,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    summary = json.loads(sent.stdout)
    assert summary["accepted"] == len(json.loads(students.read_text("utf-8"))) > 0
    assert summary["rejected"] == 0


def test_the_packaged_artifacts_are_the_ones_loaded_by_default() -> None:
    artifacts = load_artifacts()
    assert artifacts.folders == ArtifactFolders.bundled()
    assert (bundled_root() / "schemas" / "success-plan.schema.json").is_file()
    assert Settings(home=Path("h"), database_url="sqlite://").artifact_folders() == ArtifactFolders.bundled()


@pytest.fixture
def site_mappings(tmp_path: Path) -> Path:
    folder = tmp_path / "site-mappings"
    shutil.copytree(bundled_root() / "mappings", folder)
    return folder


def test_a_site_mappings_folder_named_by_setting_is_the_one_read(
    site_mappings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPGW_MAPPINGS_DIR", str(site_mappings))
    settings = Settings.from_env(home=site_mappings.parent / "home")
    folders = settings.artifact_folders()
    assert folders.mappings == site_mappings.resolve()
    assert folders.schemas == ArtifactFolders.bundled().schemas
    artifacts = load_artifacts(folders)
    assert {m.origin for m in artifacts.mappings.values()} == {
        f"mappings/{p.relative_to(site_mappings)}"
        for p in site_mappings.rglob("*.yaml")
        if "codes" not in p.relative_to(site_mappings).parts
    }


def test_a_site_folder_is_validated_like_the_packaged_one(site_mappings: Path) -> None:
    broken = site_mappings / "edfi" / "students.yaml"
    broken.write_text(broken.read_text("utf-8").replace("format:", "formt:", 1), encoding="utf-8")
    folders = ArtifactFolders(
        mappings=site_mappings,
        schemas=ArtifactFolders.bundled().schemas,
        policies=ArtifactFolders.bundled().policies,
    )
    with pytest.raises(ArtifactInvalid) as caught:
        load_artifacts(folders)
    assert any(issue.path.startswith("mappings/edfi/students.yaml") for issue in caught.value.issues)


def test_a_folder_that_does_not_exist_is_named(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="sqlite://", policies_dir=tmp_path / "nowhere")
    with pytest.raises(ArtifactInvalid) as caught:
        load_artifacts(settings.artifact_folders())
    assert [issue.path for issue in caught.value.issues] == [str(tmp_path / "nowhere")]
    assert "consent_policies folder does not exist" in caught.value.issues[0].message
