"""Names Pythia8 knows: its settings database and its particle data, read from Pythia8 itself (pythia8mc).

Workflow settings are checked here before anything runs, so a misspelt switch is an input error with a "did you
mean" instead of a generator failure minutes later. Particles are accepted by PDG id, Pythia8 name (``Z'0``,
``W'+``, ``h0``, ``LQ_ue``), MG5 name (``mu+``, ``ve~``, ``z``, ``a``, ``h``) or PDG name (``Z0``, ``H0``).
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Any

__all__ = [
    "PARTICLE_PROPERTIES",
    "check_setting",
    "particle_id",
    "particle_mass_gev",
    "particle_name",
    "setting_key",
]

PARTICLE_PROPERTIES = (
    "name",
    "antiName",
    "names",
    "spinType",
    "chargeType",
    "colType",
    "m0",
    "mWidth",
    "mMin",
    "mMax",
    "tau0",
    "varWidth",
    "isResonance",
    "mayDecay",
    "tauCalc",
    "doExternalDecay",
    "isVisible",
    "doForceWidth",
    "all",
    "new",
    "addChannel",
    "oneChannel",
    "onMode",
    "offIfAny",
    "onIfAny",
    "onIfAll",
    "offIfAll",
    "onIfMatch",
    "offIfMatch",
    "onPosIfAny",
    "onPosIfAll",
    "onPosIfMatch",
    "onNegIfAny",
    "onNegIfAll",
    "onNegIfMatch",
    "rescaleBR",
)
"""Per-particle properties, ``ID:property = value`` (Pythia8 manual, "Particle Data Scheme")."""
CHANNEL_PROPERTIES = ("all", "bRatio", "onMode", "meMode", "products")
"""Per-decay-channel properties, ``ID:N:property = value`` (the same page)."""

_MG5_NAMES = {
    "d": 1, "u": 2, "s": 3, "c": 4, "b": 5, "t": 6, "e-": 11, "ve": 12, "mu-": 13, "vm": 14, "ta-": 15, "vt": 16,
    "g": 21, "a": 22, "z": 23, "w+": 24, "h": 25, "e+": -11, "mu+": -13, "ta+": -15, "w-": -24,
    "d~": -1, "u~": -2, "s~": -3, "c~": -4, "b~": -5, "t~": -6, "ve~": -12, "vm~": -14, "vt~": -16,
    "zp": 32, "wp+": 34, "wp-": -34,
}  # fmt: skip
"""MadGraph5's SM UFO names (and the usual Z′/W′ names of BSM UFOs) where they differ from Pythia8's."""
_COMMON_NAMES = {
    "gamma": 22, "Z0": 23, "W+": 24, "W-": -24, "H0": 25, "g": 21, "e-": 11, "e+": -11, "mu-": 13,
    "mu+": -13, "tau-": 15, "tau+": -15, "t": 6, "t~": -6, "b": 5, "b~": -5, "nu(e)": 12, "nu(mu)": 14,
}  # fmt: skip
"""Names a request uses every day, with the id the PDG table gives them (tests/unit/test_pythia8_names.py checks
it): ``Particle.from_name`` scans the whole table, ~0.2 s a name, on each run's start."""


@functools.cache
def _pythia() -> Any:
    import pythia8mc  # noqa: PLC0415 - loads Pythia8's databases (~0.2 s)

    return pythia8mc.Pythia("", False)


@functools.cache
def _setting_names() -> dict[str, str]:
    """Every setting of Pythia8's database: lower-case key → name as Pythia8 spells it."""
    settings = _pythia().settings
    maps = (
        settings.getFlagMap(""),
        settings.getModeMap(""),
        settings.getParmMap(""),
        settings.getWordMap(""),
        settings.getFVecMap(""),
        settings.getMVecMap(""),
        settings.getPVecMap(""),
        settings.getWVecMap(""),
    )
    return {key: entry.name for mapping in maps for key, entry in mapping.items()}


def setting_key(line: str) -> str:
    """The setting a ``Name = value`` line sets, as Pythia8 compares names (case-insensitive, spaces dropped)."""
    return line.partition("=")[0].strip().replace(" ", "").lower()


def check_setting(line: str) -> None:
    """A ``ValueError`` naming the nearest Pythia8 settings if ``line`` sets nothing Pythia8 knows."""
    name = line.partition("=")[0].strip()
    key = setting_key(line)
    if key in _setting_names():
        return
    first, _, rest = name.partition(":")
    if rest and _is_particle_key(first):
        _check_particle_property(line, first, rest)
        return
    close = difflib.get_close_matches(key, _setting_names(), n=3, cutoff=0.75)
    hint = f"did you mean {' or '.join(repr(_setting_names()[k]) for k in close)}?" if close else "no similar name"
    msg = f"generator setting {line!r}: Pythia8 has no setting {name!r} ({hint}); see its settings index"
    raise ValueError(msg)


def _is_particle_key(word: str) -> bool:
    try:
        particle_id(word)
    except ValueError:
        return False
    return True


def _check_particle_property(line: str, particle: str, rest: str) -> None:
    parts = rest.split(":")
    known = PARTICLE_PROPERTIES if len(parts) == 1 else CHANNEL_PROPERTIES
    prop = parts[-1]
    if len(parts) > 2 or (len(parts) == 2 and not parts[0].isdigit()) or prop.lower() not in _lower(known):  # noqa: PLR2004
        close = difflib.get_close_matches(prop, known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(f'{particle}:{c}' for c in close)}?" if close else "no similar property"
        msg = f"generator setting {line!r}: Pythia8 particles have no property {rest!r} ({hint})"
        raise ValueError(msg)


@functools.cache
def _lower(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(name.lower() for name in names)


@functools.cache
def particle_id(name: str | int) -> int:
    """The PDG id of a particle given by PDG id, Pythia8, MG5 or PDG name; ``ValueError`` if none knows it."""
    text = str(name).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        pdg = int(text)
        if _pythia().particleData.isParticle(pdg):
            return pdg
        msg = f"PDG id {pdg} is not in Pythia8's particle data"
        raise ValueError(msg)
    if text.lower() in _MG5_NAMES:
        return _MG5_NAMES[text.lower()]
    if text in _COMMON_NAMES:
        return _COMMON_NAMES[text]
    from particle import Particle, ParticleNotFound  # noqa: PLC0415 - the PDG table loads slowly

    # PDG names first: H0 is the SM Higgs for the PDG and the heavy 2HDM Higgs (35) for Pythia8
    try:
        return int(Particle.from_name(text).pdgid)
    except ParticleNotFound:
        pass
    found = _pythia_names().get(text)
    if found is None:
        msg = (
            f"unknown particle {text!r}; write a PDG id (32), a Pythia8 name (Z'0, W'+, h0, mu-), an MG5 name "
            "(mu+, e-, ve~, h) or a PDG name (Z0, H0)"
        )
        raise ValueError(msg)
    return found


@functools.cache
def _pythia_names() -> dict[str, int]:
    """Pythia8's particle and antiparticle names → PDG id, from its particle data."""
    data = _pythia().particleData
    names: dict[str, int] = {}
    pdg = 1  # nextId(0) is 0: the table starts at the d quark
    while pdg != 0:
        names[data.name(pdg)] = pdg
        if data.hasAnti(pdg):
            names[data.name(-pdg)] = -pdg
        pdg = data.nextId(pdg)
    return names


def particle_name(pdg: int) -> str:
    """Pythia8's name of a particle."""
    return str(_pythia().particleData.name(pdg))


def particle_mass_gev(pdg: int) -> float:
    """Pythia8's default pole mass of a particle (``ID:m0``)."""
    return float(_pythia().particleData.m0(pdg))


def particle_width_gev(pdg: int) -> float:
    """Pythia8's default width of a particle (``ID:mWidth``); resonances recompute it at init."""
    return float(_pythia().particleData.mWidth(pdg))
