from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.doctor import stack_checks
from madagents.image_sources import Pinned, download_official, find_sources
from madagents.images import CONTAINERS_DIR, TOOLS_DIR, image_for, image_kind, tools_sha256
from madagents.settings import Settings

CPU_WHEEL = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"


def test_tools_hash_is_stable_and_follows_the_code(tmp_path: Path) -> None:
    copy = tmp_path / "tools"
    shutil.copytree(TOOLS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert tools_sha256(copy) == tools_sha256(TOOLS_DIR)
    (copy / "contract.py").write_text((copy / "contract.py").read_text() + "\n# changed\n")
    assert tools_sha256(copy) != tools_sha256(TOOLS_DIR)
    (copy / "contract.py").write_text((TOOLS_DIR / "contract.py").read_text())
    nested = copy / "generation" / "pythia8_generate.py"
    nested.write_text(nested.read_text() + "\n# changed\n")
    assert tools_sha256(copy) != tools_sha256(TOOLS_DIR), "a change in a stage's sub-package changes the hash"


def test_images_build_rejects_an_unknown_image() -> None:
    result = CliRunner().invoke(app, ["images", "build", "hpe"])
    assert result.exit_code == 2
    assert "unknown image 'hpe'; choose one of hep, hep-full, ml" in result.output


def test_doctor_reports_the_local_stack() -> None:
    result = CliRunner().invoke(app, ["doctor", "--sandbox", "local"])
    assert result.exit_code == 0, result.output
    assert "Pythia8" in result.output
    assert "8.317.2" in result.output
    assert "MG5_aMC" in result.output
    assert "6.40" in result.output  # ROOT's own version, not the wheel's (0.1a…)


def test_stack_checks_list_programs_versions_and_pdfs_without_lhapdf() -> None:
    report = {
        "pythia8": "8.317.2",
        "pythia8_pdfs": ["NNPDF31_lo_as_0118_0000.dat"],
        "root": "6.40.00",
        "torch": None,
        "mg5": {"path": "/opt/MG5_aMC", "version": "3.5.7", "pdfs": ["nn23lo1", "cteq6l1"]},
        "delphes": {"path": "/opt/delphes/bin/DelphesHepMC3", "version": "3.5.1-16-g0ee14ba"},
        "lhapdf": None,
    }
    checks = {check.name: check for check in stack_checks("hep-full", report)}
    assert checks["hep-full: MG5_aMC"].detail == "3.5.7 (/opt/MG5_aMC)"
    assert checks["hep-full: Delphes"].detail.startswith("3.5.1-16-g0ee14ba")
    assert checks["hep-full: ROOT"].detail == "6.40.00"
    assert not checks["hep-full: torch"].ok
    assert not checks["hep-full: LHAPDF"].ok
    pdfs = checks["hep-full: PDF sets without LHAPDF"].detail
    assert pdfs == "Pythia8 LHAGrid1: NNPDF31_lo_as_0118; MG5 built-in: nn23lo1, cteq6l1"


@pytest.mark.parametrize(
    ("needs", "kind"),
    [
        (["pythia8_generate", "analyze", "pythia8mc", "fastjet"], "hep"),
        (["detector"], "hep"),  # the parametric detector runs in hep
        (["mg5_generate", "pythia8_generate"], "hep-full"),
        (["pythia8_generate", "delphes"], "hep-full"),
        (["torch", "ufoamp", "ufo-sm", "numpy"], "ml"),
        (["pythia8_generate", "cfm_generator", "classifier_test"], "ml"),
    ],
)
def test_image_kind_follows_the_plan(needs: list[str], kind: str) -> None:
    assert image_kind(needs) == kind


def test_image_for_names_the_images_of_the_settings() -> None:
    settings = Settings(image="my/hep:1", image_full="my/full:1", image_ml="my/ml:1")
    assert image_for(["pythia8_generate"], settings) == "my/hep:1"
    assert image_for(["mg5_generate"], settings) == "my/full:1"
    assert image_for(["torch"], settings) == "my/ml:1"
    with pytest.raises(ValueError, match=r"no sandbox image holds both mg5_generate and torch"):
        image_for(["mg5_generate", "torch"], settings)


def _tarball(path: Path, top: str, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A --source directory shaped like the shared vendor/ one, with tiny stand-in tarballs."""
    directory = tmp_path / "vendor"
    directory.mkdir()
    _tarball(directory / "MG5_aMC_v3.5.7.tar.gz", "MG5_aMC_v3_5_7", {"VERSION": "version = 3.5.7\n"})
    _tarball(directory / "delphes-3.5.1-16-g0ee14ba.tar.gz", "delphes", {"CMakeLists.txt": "project(Delphes)\n"})
    _tarball(directory / "composite_LQ_UFO.tar.gz", "composite_LQ_UFO", {"particles.py": "\n"})
    (directory / "README.md").write_text("not a source\n")
    return directory


def test_find_sources_takes_one_mg5_one_delphes_and_the_ufos(sources: Path) -> None:
    found = find_sources(sources)
    assert found.mg5.name == "MG5_aMC_v3.5.7.tar.gz"
    assert found.delphes.name == "delphes-3.5.1-16-g0ee14ba.tar.gz"
    assert [path.name for path in found.ufos] == ["composite_LQ_UFO.tar.gz"]
    shutil.copy(found.delphes, sources / "Delphes-3.5.0.tar.gz")  # the official release's spelling
    with pytest.raises(ValueError, match=r"exactly one Delphes tarball .* found Delphes-3.5.0.tar.gz, delphes-3.5.1"):
        find_sources(sources)
    with pytest.raises(ValueError, match=r"exactly one MG5 tarball \(MG5_aMC_v\*.tar.gz\); found none"):
        find_sources(sources / "..")
    with pytest.raises(ValueError, match=r"is not a directory"):
        find_sources(sources / "missing")


def test_download_refuses_a_wrong_sha256_and_keeps_a_right_one(tmp_path: Path) -> None:
    release = tmp_path / "MG5_aMC_v3.5.9.tar.gz"
    release.write_bytes(b"release bytes")
    good = hashlib.sha256(b"release bytes").hexdigest()
    cache = tmp_path / "cache"
    wrong = Pinned(release.name, release.as_uri(), "0" * 64)
    with pytest.raises(ValueError, match=rf"has sha256 {good}, not the pinned 0{{64}}: refused"):
        download_official(cache, (wrong,))
    assert list(cache.iterdir()) == []  # nothing half-checked is left behind
    assert download_official(cache, (Pinned(release.name, release.as_uri(), good),)) == cache
    assert (cache / release.name).read_bytes() == b"release bytes"
    release.unlink()  # a cached file that matches its pin is not fetched again
    assert download_official(cache, (Pinned(release.name, release.as_uri(), good),)) == cache


def _stage(image: str, out: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        ["bash", str(CONTAINERS_DIR / image / "build.sh"), *args, "--stage-only", str(out)],
        env={**keep, "CA_BUNDLE": "", "MADAGENTS_VERSION": "0.0.test", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_hep_full_context_holds_the_sources_their_sha256_and_tools(sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "context"
    staged = _stage("hep-full", out, "--source", str(sources))
    assert staged.returncode == 0, staged.stderr
    names = {path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()}
    assert {"Dockerfile", "setup-mg5.sh", "sources/mg5.tar.gz", "sources/delphes.tar.gz"} <= names
    assert "ufo/composite_LQ_UFO.tar.gz" in names
    assert "tools/contract.py" in names
    assert not any(name.startswith("ca/") for name in names)  # CA_BUNDLE='' builds without one
    recorded = dict(reversed(line.split()) for line in (out / "sources.sha256").read_text().splitlines())
    assert set(recorded) == {"MG5_aMC_v3.5.7.tar.gz", "delphes-3.5.1-16-g0ee14ba.tar.gz", "composite_LQ_UFO.tar.gz"}
    mg5_sha = hashlib.sha256((sources / "MG5_aMC_v3.5.7.tar.gz").read_bytes()).hexdigest()
    assert recorded["MG5_aMC_v3.5.7.tar.gz"] == mg5_sha
    assert f"source MG5_aMC_v3.5.7.tar.gz sha256 {mg5_sha}" in staged.stdout


def test_hep_full_context_needs_mg5_and_delphes(sources: Path, tmp_path: Path) -> None:
    (sources / "MG5_aMC_v3.5.7.tar.gz").unlink()
    staged = _stage("hep-full", tmp_path / "context", "--source", str(sources))
    assert staged.returncode == 1
    assert "needs exactly one MG5 tarball" in staged.stderr


def test_ml_context_stages_the_cpu_torch_wheel(tmp_path: Path) -> None:
    wheel = tmp_path / CPU_WHEEL
    wheel.write_bytes(b"stand-in wheel")
    staged = _stage("ml", tmp_path / "context", TORCH_WHEEL=str(wheel))
    assert staged.returncode == 0, staged.stderr
    assert (tmp_path / "context" / "wheels" / CPU_WHEEL).read_bytes() == b"stand-in wheel"
    requirements = (tmp_path / "context" / "ml-requirements.txt").read_text().split()
    assert requirements == ["ufoamp==1.0.0", "ufo-sm==1.0.0"]  # torch comes from the wheel, never from an index


def test_ml_build_refuses_a_cuda_wheel_and_says_how_to_give_the_cpu_one(tmp_path: Path) -> None:
    cuda = tmp_path / "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    cuda.write_bytes(b"stand-in wheel")
    staged = _stage("ml", tmp_path / "cuda", TORCH_WHEEL=str(cuda))
    assert staged.returncode == 1
    assert "is not the CPU build for CPython 3.11" in staged.stderr
    assert "TORCH_WHEEL=" in staged.stderr
    # no wheel where pip looks without an index (no configuration at all): an error, not a download
    staged = _stage("ml", tmp_path / "none", PIP_CONFIG_FILE=os.devnull)
    assert staged.returncode == 1
    assert "no torch 2.13.0 wheel on this machine" in staged.stderr


def test_images_build_hep_full_names_missing_sources(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["images", "build", "hep-full", "--source", str(tmp_path)])
    assert result.exit_code == 2
    assert "needs exactly one MG5 tarball" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["images", "build", "hep", "--source", str(tmp_path)])
    assert result.exit_code == 2
    assert "--source is for hep-full" in result.output


def test_images_build_no_cache_reaches_the_build_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "hep" / "build.sh"
    script.parent.mkdir()
    script.write_text('echo "build.sh got: $*"\n')
    monkeypatch.setattr("madagents.images.CONTAINERS_DIR", tmp_path)
    result = CliRunner().invoke(app, ["images", "build", "hep", "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "build.sh got: --no-cache" in result.output
    result = CliRunner().invoke(app, ["images", "build", "hep"])
    assert "build.sh got: \n" in result.output
