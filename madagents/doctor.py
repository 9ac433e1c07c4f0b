"""``madagents doctor``: can this machine run madagents, and with what? Each problem comes with its fix."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import BaseModel

from madagents.images import image_status
from madagents.sandbox import SandboxUnavailableError, docker_client, make_sandbox
from madagents.settings import Settings
from madagents.toolcall import tool_command
from tools import environment
from tools.contract import NOT_INSTALLED

__all__ = ["Check", "run_checks"]

PACKAGES = {"Pythia8": "pythia8mc", "ROOT": "root", "torch": "torch"}
FULL_IMAGE_HINT = "use the hep-full image (containers/hep-full/)"
PROGRAMS = {  # label: (program, how to get it); the tools find MG5 and Delphes through their *_PATH settings too
    "MG5_aMC": ("mg5_aMC", f"set MG5_PATH to an MG5_aMC directory, or {FULL_IMAGE_HINT}"),
    "Delphes": ("DelphesHepMC3", f"set DELPHES_PATH to a Delphes build, or {FULL_IMAGE_HINT}"),
    "LHAPDF": ("lhapdf-config", FULL_IMAGE_HINT),
}


class Check(BaseModel):
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = False
    """A failed required check means madagents cannot run workflows here."""


def run_checks(settings: Settings) -> list[Check]:
    checks, backend = _docker_checks(settings)
    checks.insert(0, Check(name="backend", ok=True, detail=f"{backend} (asked for: {settings.sandbox})"))
    return checks + _sandbox_checks(settings, backend)


def _docker_checks(settings: Settings) -> tuple[list[Check], str]:
    try:
        client = docker_client()
    except RuntimeError as exc:
        fix = "run containers/install-docker.sh as root, or use --sandbox local"
        asked = settings.sandbox == "docker"
        daemon = Check(name="Docker daemon", ok=not asked, detail=str(exc).split(";")[0], fix=fix, required=asked)
        return [daemon], "local" if settings.sandbox != "docker" else "docker"
    checks = [Check(name="Docker daemon", ok=True, detail=f"Docker {client.version()['Version']}")]
    backend = "docker" if settings.sandbox != "local" else "local"
    for image, fix in ((settings.image, "madagents images build hep"), ("madagents/hep-full:latest", FULL_IMAGE_HINT)):
        status = image_status(client, image)
        detail = f"madagents {status.version}" if status.present else "not built"
        if status.present and not status.tools_current:
            detail += ", built from other tools/ than these"
        required = backend == "docker" and image == settings.image
        checks.append(Check(name=f"image {image}", ok=status.usable, detail=detail, fix=fix, required=required))
    return checks, backend


def _sandbox_checks(settings: Settings, backend: str) -> list[Check]:
    """Versions of the physics programs, looked up inside the sandbox itself."""
    request = environment.Request(
        packages=[], optional_packages=list(PACKAGES.values()), programs=[program for program, _ in PROGRAMS.values()]
    )
    with tempfile.TemporaryDirectory(prefix="madagents-doctor-") as scratch:
        workdir = Path(scratch)
        (workdir / "check").mkdir()
        (workdir / "check" / "request.json").write_text(request.model_dump_json())
        try:
            sandbox = make_sandbox(backend, workdir, settings.image, settings.docker)
            sandbox.ensure_ready(build=False, on_line=lambda _: None)
            sandbox.run(
                tool_command(sandbox.python, "environment", "check"),
                timeout_s=120,
                log_path="log.txt",
                writable=["check"],
            )
            result = environment.Result.model_validate_json((workdir / "check" / "result.json").read_text())
        except (SandboxUnavailableError, RuntimeError, OSError, ValueError) as exc:
            return [Check(name=f"{backend} sandbox", ok=False, detail=str(exc), fix="see above", required=True)]
    checks = [
        Check(
            name=label,
            ok=result.versions[package] != NOT_INSTALLED,
            detail=result.versions[package],
            fix=f"pip install {package}" if package != "torch" else "pip install torch==2.13.0 (CPU build)",
            required=label == "Pythia8",
        )
        for label, package in PACKAGES.items()
    ]
    checks += [
        Check(
            name=label,
            ok=result.programs[program] is not None,
            detail=result.programs[program] or "not found",
            fix=fix,
        )
        for label, (program, fix) in PROGRAMS.items()
    ]
    return checks
