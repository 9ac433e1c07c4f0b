"""``madagents doctor``: can this machine run madagents, and with what? Each problem comes with its fix."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from madagents import stack_probe
from madagents.images import image_status
from madagents.sandbox import SandboxUnavailableError, docker_client, make_sandbox
from madagents.settings import Settings
from madagents.toolcall import tool_command
from madagents_tools import environment

__all__ = ["Check", "run_checks"]

FULL_IMAGE_HINT = "use the hep-full image: madagents images build hep-full --source DIR"
IMAGE_FIXES = {
    "Pythia8": "madagents images build hep",
    "ROOT": "madagents images build hep",
    "MG5_aMC": FULL_IMAGE_HINT,
    "Delphes": FULL_IMAGE_HINT,
    "torch": "use the ml image: madagents images build ml",
    "LHAPDF": "not in any image: use the PDF sets below",
}
HOST_FIXES = {  # the tools find MG5 and Delphes through their *_PATH settings too
    "Pythia8": "pip install pythia8mc",
    "ROOT": "pip install root",
    "MG5_aMC": f"set MG5_PATH to an MG5_aMC directory, or {FULL_IMAGE_HINT}",
    "Delphes": f"set DELPHES_PATH to a Delphes build, or {FULL_IMAGE_HINT}",
    "torch": "pip install torch==2.13.0 (CPU build)",
    "LHAPDF": "not needed: use the PDF sets below",
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


def stack_checks(
    label: str, found: dict[str, Any], fixes: dict[str, str] = IMAGE_FIXES, *, tools_run_here: bool = False
) -> list[Check]:
    """One line per program of a :mod:`madagents.stack_probe` report, named ``label: program``.

    Where the tools run (``tools_run_here``), a missing Pythia8 means no workflow can.
    """
    mg5, delphes, torch = found["mg5"], found["delphes"], found["torch"]
    pdfs = [f"Pythia8 LHAGrid1: {', '.join(name.removesuffix('_0000.dat') for name in found['pythia8_pdfs'])}"]
    if mg5:
        pdfs.append(f"MG5 built-in: {', '.join(mg5['pdfs'])}")
    items = {
        "Pythia8": found["pythia8"],
        "ROOT": found["root"],
        "MG5_aMC": mg5 and f"{mg5['version']} ({mg5['path']})",
        "Delphes": delphes and f"{delphes['version'] or 'version unknown'} ({delphes['path']})",
        "torch": torch and f"{torch['version']} ({'CUDA ' + torch['cuda'] if torch['cuda'] else 'CPU'})",
        "LHAPDF": found["lhapdf"],
    }
    checks = [
        Check(
            name=f"{label}: {name}",
            ok=bool(detail),
            detail=detail or "not installed",
            fix="" if detail else fixes[name],
            required=tools_run_here and name == "Pythia8",
        )
        for name, detail in items.items()
    ]
    return [*checks, Check(name=f"{label}: PDF sets without LHAPDF", ok=True, detail="; ".join(pdfs))]


def _probe_image(client: Any, image: str) -> dict[str, Any]:
    """The stack probe's report from inside ``image``, under the sandbox's own restrictions."""
    source = Path(stack_probe.__file__).read_text()
    output = client.containers.run(
        image,
        ["python", "-c", source],
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": ""},
        user="1000:1000",
        cap_drop=["ALL"],
        remove=True,
        stdout=True,
        stderr=False,
    )
    report: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    return report


def _docker_checks(settings: Settings) -> tuple[list[Check], str]:
    try:
        client = docker_client()
    except RuntimeError as exc:
        fix = "run containers/install-docker.sh as root, or use --sandbox local"
        asked = settings.sandbox == "docker"
        daemon = Check(name="Docker daemon", ok=not asked, detail=str(exc).split(";")[0], fix=fix, required=asked)
        return [daemon], "local" if settings.sandbox != "docker" else "docker"
    checks = [Check(name="Docker daemon", ok=True, detail=f"Docker {client.version()['Version']}")]
    backend = "docker" if settings.sandbox in ("auto", "docker") else settings.sandbox
    images = (
        (settings.image, "madagents images build hep"),
        (settings.image_full, "madagents images build hep-full --source DIR"),
        (settings.image_ml, "madagents images build ml"),
    )
    for image, fix in images:
        status = image_status(client, image)
        detail = f"madagents {status.version}" if status.present else "not built"
        if status.present and not status.tools_current:
            detail += ", built from other tools/ than these"
        required = backend == "docker" and image == settings.image
        checks.append(Check(name=f"image {image}", ok=status.usable, detail=detail, fix=fix, required=required))
        if status.present:
            checks += stack_checks(image, _probe_image(client, image))
    return checks, backend


def _sandbox_checks(settings: Settings, backend: str) -> list[Check]:
    """The sandbox runs a tool; outside Docker also what the tools find there (each image is probed above)."""
    request = environment.Request(packages=["pythia8mc"])
    with tempfile.TemporaryDirectory(prefix="madagents-doctor-") as scratch:
        workdir = Path(scratch)
        workdir.chmod(0o755)  # mkdtemp's 0700 would keep the container's uid 1000 out of its own mount
        (workdir / "check").mkdir()
        (workdir / "check" / "request.json").write_text(request.model_dump_json())
        try:
            sandbox = make_sandbox(
                backend, workdir, settings.image, settings.docker, settings.dask.scheduler, settings.dask.workers
            )
            with contextlib.closing(sandbox):
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
    where = settings.image if backend == "docker" else sandbox.python
    ran = Check(name=f"{backend} sandbox", ok=True, detail=f"runs the tools ({where})")
    if result.missing:
        fix = IMAGE_FIXES["Pythia8"] if backend == "docker" else HOST_FIXES["Pythia8"]
        ran = ran.model_copy(update={"ok": False, "detail": f"{where} has no Pythia8", "fix": fix, "required": True})
    if backend == "docker":
        return [ran]
    # the tools run with this interpreter (a remote Dask cluster's workers only told us they have Pythia8): probe it
    remote = backend == "dask" and settings.dask.scheduler is not None
    label = "this host" if remote else backend
    return [ran, *stack_checks(label, _probe_host(), HOST_FIXES, tools_run_here=not remote)]


def _probe_host() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, stack_probe.__file__], capture_output=True, text=True, check=True, timeout=300
    )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report
