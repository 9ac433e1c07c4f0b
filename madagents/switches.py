"""Whether a workflow's extra generator settings change its declared process (and so every label of the run).

A run is labelled, gated and reported by its declared process. Extra settings that switch that process off, or
switch another one on, would make every label wrong, so such a workflow is refused before anything runs.
"""

from __future__ import annotations

from madagents.processes import load_catalogue
from madagents.pythia8_names import setting_key

__all__ = ["switch_override"]

_ON = {"on", "yes", "true", "1"}
_OFF = {"off", "no", "false", "0"}


def switch_override(own: list[str], extra: list[str]) -> str:
    """The problem with ``extra`` settings that switch process flags against the process' ``own`` switches; ''."""
    groups = {group.lower().rstrip("*") for group in load_catalogue().process_groups}
    own_keys = {setting_key(line) for line in own}
    switched_off, switched_on = [], []
    for line in extra:
        key, value = setting_key(line), line.partition("=")[2].strip().lower()
        if not any(key.split(":")[0].startswith(group) for group in groups):
            continue
        if value in _OFF and key in own_keys:
            switched_off.append(line.partition("=")[0].strip())
        elif value in _ON and key not in own_keys:
            switched_on.append(line.partition("=")[0].strip())
    if not switched_off and not switched_on:
        return ""
    changes = []
    if switched_off:
        changes.append(f"switch off {', '.join(switched_off)} of the declared process")
    if switched_on:
        changes.append(f"switch on {', '.join(switched_on)}, which the declared process does not include")
    return (
        f"generator.settings {' and '.join(changes)}: the run would generate something other than its labels, "
        "gates and report say. Declare the process that should run instead: a catalogue name (madagents "
        "processes), or process: {pythia8: {switches: [...], particles: [...]}, produces: [...]} for Pythia8 "
        "switches of your own"
    )
