"""What a detector card does, in a few lines for report.md: efficiencies, resolutions, isolation, jets, b-tagging.

Both kinds of card are evaluated at the same reference objects (pT = 50 GeV at |η| = 0.5 and 2.0), so the
parametric detector's numbers read side by side with the Delphes card they imitate. A Delphes card (Tcl, Delphes 3,
arXiv:1307.6346) is read module by module; its formulas (ROOT TFormula syntax in ``pt``, ``eta``, ``energy``) are
evaluated by a small arithmetic evaluator that accepts numbers, those variables and a few functions, nothing else.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from madagents_tools.detector.detector_card import DetectorCard, EfficiencyBin, Resolution

__all__ = ["REFERENCE_PT_GEV", "delphes_summary", "evaluate_formula", "parametric_summary", "tcl_modules"]

REFERENCE_PT_GEV = 50.0
REFERENCE_ETAS = (0.5, 2.0)
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "abs": abs,
    "fabs": abs,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "tanh": math.tanh,
    "cosh": math.cosh,
    "sinh": math.sinh,
    "pow": math.pow,
    "min": min,
    "max": max,
}
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_MODULE = re.compile(r"^module\s+(\w+)\s+(\w+)\s*\{", re.MULTILINE)


def evaluate_formula(text: str, **variables: float) -> float:
    """Value of a Delphes/TFormula expression; raises ``ValueError`` for anything but arithmetic."""
    source = text.replace("^", "**").replace("&&", " and ").replace("||", " or ")
    try:
        tree = ast.parse(" ".join(source.split()), mode="eval")
        return float(_evaluate(tree.body, variables))
    except (SyntaxError, TypeError, ZeroDivisionError, OverflowError) as exc:
        msg = f"cannot evaluate {text.strip()[:80]!r}: {exc}"
        raise ValueError(msg) from None


def _evaluate(node: ast.AST, names: dict[str, float]) -> Any:  # noqa: PLR0911 - one return per node type
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, names), _evaluate(node.right, names))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Compare):
        left, result = _evaluate(node.left, names), True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, names)
            result = result and _COMPARE[type(op)](left, right)
            left = right
        return result
    if isinstance(node, ast.BoolOp):
        values = [bool(_evaluate(value, names)) for value in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        return _FUNCTIONS[node.func.id](*(_evaluate(arg, names) for arg in node.args))
    msg = f"{ast.dump(node)[:60]} is not arithmetic"
    raise TypeError(msg)


def tcl_modules(text: str) -> dict[str, tuple[str, dict[str, list[list[str]]]]]:
    """Module name -> (module type, parameter -> the values of each ``set``/``add`` line), comments dropped."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    modules = {}
    for match in _MODULE.finditer(code):
        body = _braced(code, match.end() - 1)
        modules[match.group(2)] = (match.group(1), _parameters(body))
    return modules


def _braced(text: str, start: int) -> str:
    """The text inside the brace group that opens at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start + 1 : index]
    return text[start + 1 :]


def _parameters(body: str) -> dict[str, list[list[str]]]:
    parameters: dict[str, list[list[str]]] = {}
    index = 0
    while index < len(body):
        command, index = _word(body, index)
        if not command:
            continue
        if command not in ("set", "add"):
            index = body.find("\n", index) + 1 or len(body)
            continue
        key, index = _word(body, index)
        values = []
        while True:
            line_end = body.find("\n", index)
            rest = body[index : line_end if line_end >= 0 else len(body)]
            if not rest.strip():
                break
            value, index = _word(body, index)
            values.append(value)
        parameters.setdefault(key, []).append(values)
    return parameters


def _word(text: str, index: int) -> tuple[str, int]:
    """The next word or brace group (without its braces) from ``index``, and where it ends."""
    while index < len(text) and text[index] in " \t":
        index += 1
    if index < len(text) and text[index] == "{":
        inner = _braced(text, index)
        return inner, index + len(inner) + 2
    end = index
    while end < len(text) and not text[end].isspace():
        end += 1
    if end == index:  # a line break: step over it
        return "", index + 1
    return text[index:end], end


def _percent(value: float) -> str:
    return f"{100 * value:.3g} %"


def _at_etas(function: Callable[[float, float], float]) -> str:
    return ", ".join(f"{_percent(function(REFERENCE_PT_GEV, eta))} at |η| {eta:g}" for eta in REFERENCE_ETAS)


def delphes_summary(text: str) -> list[str]:
    """The card's muon and electron efficiencies, resolutions and isolation, jets and b-tagging, one line each."""
    modules = tcl_modules(text)
    lines = [f"Reference objects: pT = {REFERENCE_PT_GEV:g} GeV at |η| = {' and '.join(map(str, REFERENCE_ETAS))}."]
    for lepton, label in (("Muon", "muon"), ("Electron", "electron")):
        parts = [
            _formula_line(modules, f"{lepton}Efficiency", "EfficiencyFormula", "efficiency"),
            _formula_line(modules, f"{lepton}MomentumSmearing", "ResolutionFormula", "pT resolution σ/pT"),
            _isolation(modules, f"{lepton}Isolation"),
        ]
        lines.append(f"{label}s: " + "; ".join(part for part in parts if part))
    lines += [line for line in (_jets(modules), _btagging(modules)) if line]
    return lines


def _formula(modules: dict[str, Any], module: str, key: str) -> str | None:
    values = modules.get(module, ("", {}))[1].get(key)
    return values[-1][-1] if values and values[-1] else None


def _formula_line(modules: dict[str, Any], module: str, key: str, what: str) -> str | None:
    formula = _formula(modules, module, key)
    if formula is None:
        return None
    try:
        values = _at_etas(lambda pt, eta: evaluate_formula(formula, pt=pt, eta=eta, energy=pt * math.cosh(eta)))
    except ValueError as exc:
        return f"{what} not evaluated ({exc})"
    return f"{what} {values} ({module})"


def _isolation(modules: dict[str, Any], module: str) -> str | None:
    parameters = modules.get(module, ("", {}))[1]
    if not parameters:
        return None
    cone = parameters.get("DeltaRMax", [["?"]])[-1][0]
    ratio = parameters.get("PTRatioMax", [["?"]])[-1][0]
    return f"isolation ΔR < {cone}, pT ratio < {ratio} ({module})"


def _jets(modules: dict[str, Any]) -> str | None:
    parameters = modules.get("FastJetFinder", ("", {}))[1]
    if not parameters:
        return None
    algorithm = {"6": "anti-kT", "5": "kT", "4": "Cambridge/Aachen"}
    number = parameters.get("JetAlgorithm", [["?"]])[-1][0]
    radius = parameters.get("ParameterR", [["?"]])[-1][0]
    threshold = parameters.get("JetPTMin", [["?"]])[-1][0]
    return f"jets: {algorithm.get(number, f'algorithm {number}')} R = {radius}, pT > {threshold} GeV (FastJetFinder)"


def _btagging(modules: dict[str, Any]) -> str | None:
    kind, parameters = modules.get("BTagging", ("", {}))
    formulas = {values[0]: values[1] for values in parameters.get("EfficiencyFormula", []) if len(values) == 2}  # noqa: PLR2004
    if not kind or not formulas:
        return None
    names = {"5": "b", "4": "c", "0": "light"}
    parts = []
    for code, name in names.items():
        if code in formulas:
            try:
                value = evaluate_formula(formulas[code], pt=REFERENCE_PT_GEV, eta=REFERENCE_ETAS[0])
                parts.append(f"{name} {_percent(value)}")
            except ValueError:
                parts.append(f"{name} not evaluated")
    return f"b-tagging at pT {REFERENCE_PT_GEV:g} GeV, |η| {REFERENCE_ETAS[0]:g}: {', '.join(parts)} (BTagging)"


def parametric_summary(card: DetectorCard) -> list[str]:
    """The parametric card's numbers at the reference objects, in the same words as :func:`delphes_summary`."""
    import numpy as np  # noqa: PLC0415

    def efficiency(bins: list[EfficiencyBin]) -> Callable[[float, float], float]:
        return lambda pt, eta: next((b.efficiency for b in bins if b.contains(np.array([pt]), np.array([eta]))[0]), 0)

    def resolution(res: Resolution) -> Callable[[float, float], float]:
        def value(pt: float, eta: float) -> float:
            x = pt if res.variable == "pt" else pt * math.cosh(eta)
            found = [b for b in res.bins if b.contains(np.array([pt]), np.array([eta]))[0]]
            return float(found[0].relative(np.array([x]))[0]) if found else 0.0

        return value

    lines = [f"Reference objects: pT = {REFERENCE_PT_GEV:g} GeV at |η| = {' and '.join(map(str, REFERENCE_ETAS))}."]
    for name in ("muon", "electron"):
        lepton = getattr(card, name)
        isolation = f"; isolation ratio < {lepton.isolation_max}" if lepton.isolation_max else ""
        lines.append(
            f"{name}s: efficiency {_at_etas(efficiency(lepton.efficiency))}; "
            f"{lepton.resolution.variable} resolution {_at_etas(resolution(lepton.resolution))}{isolation}"
        )
    lines.append(f"jets: {card.jet.resolution.variable} resolution {_at_etas(resolution(card.jet.resolution))}")
    rates = ", ".join(
        f"{flavour} {_percent(efficiency(getattr(card.btag, flavour))(REFERENCE_PT_GEV, REFERENCE_ETAS[0]))}"
        for flavour in ("b", "c", "light")
    )
    lines.append(f"b-tagging at pT {REFERENCE_PT_GEV:g} GeV, |η| {REFERENCE_ETAS[0]:g}: {rates}")
    return lines
