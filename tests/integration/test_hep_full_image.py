"""The hep-full and ml images as the sandbox runs them: uid 1000, read-only root file system, the run directory
read-only but for the declared outputs. MG5 must work without writing into its installation, Delphes must read our
HepMC3 files, and torch must be the CPU build."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from madagents.cli import app
from madagents.sandbox import DockerLimits, DockerSandbox

pytestmark = pytest.mark.docker

LIMITS = DockerLimits(cpus=2.0, memory_mb=2048, pids=256, tmp_mb=512)
WRITE_ERRORS = ("Permission denied", "Read-only file system", "interrupted with error")


def _sandbox(tmp_path: Path, image: str, *writable: str) -> DockerSandbox:
    work = tmp_path / "run"
    for name in writable:
        (work / name).mkdir(parents=True)
    return DockerSandbox(work, image, LIMITS)


def test_mg5_outputs_a_process_into_the_run_directory_only(tmp_path: Path, hep_full_image: str) -> None:
    sandbox = _sandbox(tmp_path, hep_full_image, "proc")
    (sandbox.workdir / "pp.mg5").write_text("import model sm\ngenerate p p > mu+ mu-\noutput /work/proc/pp_mumu\n")
    # MG5 writes scratch files (ALOHA's py.py, MG5_debug) into its working directory: a writable one
    result = sandbox.run(["mg5_aMC", "/work/pp.mg5"], timeout_s=300, log_path="mg5.log", cwd="proc", writable=["proc"])
    log = (sandbox.workdir / "mg5.log").read_text()
    assert result.exit_code == 0, result.output_tail
    assert not [error for error in WRITE_ERRORS if error in log], log[-3000:]
    process = sandbox.workdir / "proc" / "pp_mumu"
    assert "generate p p > mu+ mu-" in (process / "Cards" / "proc_card_mg5.dat").read_text()
    assert (process / "SubProcesses" / "subproc.mg").is_file()


def test_mg5_imports_the_extra_ufo_models_converted_at_build_time(tmp_path: Path, hep_full_image: str) -> None:
    sandbox = _sandbox(tmp_path, hep_full_image, "out")
    listed = sandbox.run(
        ["sh", "-c", "cat /opt/madagents/mg5-models.txt > out/models.txt"],
        timeout_s=60,
        log_path="cat.log",
        writable=["out"],
    )
    assert listed.exit_code == 0, listed.output_tail
    extra = [name for name in (sandbox.workdir / "out" / "models.txt").read_text().split() if name != "sm"]
    if not extra:
        pytest.skip("this hep-full image was built without extra UFO models")
    commands = "".join(f"import model {name}\n" for name in extra)
    (sandbox.workdir / "models.mg5").write_text(f"set auto_convert_model False --no_save\n{commands}")
    result = sandbox.run(
        ["mg5_aMC", "/work/models.mg5"], timeout_s=300, log_path="mg5.log", cwd="out", writable=["out"]
    )
    log = (sandbox.workdir / "mg5.log").read_text()
    assert result.exit_code == 0, result.output_tail
    assert not [error for error in (*WRITE_ERRORS, "Python2", "python2") if error in log], log[-3000:]


def _write_hepmc3(path: Path, events: int) -> None:
    """Beams and a back-to-back μ⁺μ⁻ pair per event, written with pyhepmc as pythia8_generate writes its files."""
    import pyhepmc  # noqa: PLC0415

    with pyhepmc.open(str(path), "w") as out:
        for number in range(events):
            event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            event.event_number = number
            beams = [pyhepmc.GenParticle((0, 0, pz, 6500.0), 2212, 4) for pz in (6500.0, -6500.0)]
            pt = 30.0 + number
            muons = [
                pyhepmc.GenParticle((sign * pt, 0, 10.0, (pt**2 + 100.0) ** 0.5), 13 * sign, 1) for sign in (1, -1)
            ]
            vertex = pyhepmc.GenVertex()
            for particle in beams:
                vertex.add_particle_in(particle)
            for particle in muons:
                vertex.add_particle_out(particle)
            event.add_vertex(vertex)
            out.write(event)


def test_delphes_reads_hepmc3_and_writes_its_tree(tmp_path: Path, hep_full_image: str) -> None:
    uproot = pytest.importorskip("uproot")
    sandbox = _sandbox(tmp_path, hep_full_image, "detector")
    (sandbox.workdir / "events").mkdir()
    _write_hepmc3(sandbox.workdir / "events" / "events.hepmc3", 20)
    command = ["DelphesHepMC3", "/opt/delphes/cards/delphes_card_ATLAS.tcl", "detector/delphes.root"]
    result = sandbox.run(
        [*command, "events/events.hepmc3"], timeout_s=300, log_path="delphes.log", writable=["detector"]
    )
    assert result.exit_code == 0, result.output_tail
    with uproot.open(sandbox.workdir / "detector" / "delphes.root") as root_file:
        tree = root_file["Delphes"]
        assert tree.num_entries == 20
        muons = tree["Muon/Muon.PT"].array(library="np")
    assert sum(len(event) for event in muons) > 20  # two central 30-50 GeV muons per event, most of them found


def test_ml_image_has_cpu_torch_only(tmp_path: Path, ml_image: str) -> None:
    sandbox = _sandbox(tmp_path, ml_image, "out")
    code = (
        "import torch, ufoamp; open('out/torch.txt', 'w').write("
        "f'{torch.__version__} {torch.version.cuda} {torch.cuda.is_available()} {torch.ones(3).sum().item()}')"
    )
    result = sandbox.run(["python", "-c", code], timeout_s=300, log_path="torch.log", writable=["out"])
    assert result.exit_code == 0, result.output_tail
    assert (sandbox.workdir / "out" / "torch.txt").read_text() == "2.13.0+cpu None False 3.0"


def test_doctor_under_docker_lists_each_images_programs_and_no_host_advice(hep_full_image: str, ml_image: str) -> None:
    """Each image says what it holds, with fixes that build images; the host's MG5_PATH or pip advice is not given
    for tools that run in containers."""
    result = CliRunner().invoke(app, ["doctor", "--sandbox", "docker"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "│" in line]
    assert any(f"{hep_full_image}: MG5_aMC" in row and "3.5.7" in row for row in rows)
    assert any(f"{hep_full_image}: Delphes" in row and "3.5.1" in row for row in rows)
    assert any(f"{ml_image}: torch" in row and "2.13.0+cpu (CPU)" in row for row in rows)
    assert any("docker sandbox" in row and "runs the tools" in row for row in rows)
    assert "MG5_PATH" not in result.output
    assert "pip install" not in result.output
