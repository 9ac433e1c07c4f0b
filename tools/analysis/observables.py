"""Observable expressions of the analysis language, parsed into a typed tree.

An observable is written as a Python-like expression, e.g. ``mt(electrons[0])``, ``dr(muons[0], jets[0])``,
``ht(jets) + met()`` or ``mass(leptons[0:4])``. It is parsed with :mod:`ast` (never evaluated) into
:data:`Expression`, checked against :data:`FUNCTIONS` and given a unit (a power of GeV).
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field

__all__ = [
    "FUNCTIONS",
    "OBSERVABLE_HELP",
    "RESERVED_NAMES",
    "BinaryOp",
    "Call",
    "CollectionArg",
    "Expression",
    "FunctionSpec",
    "MetArg",
    "Number",
    "ObjectArg",
    "UnaryOp",
    "did_you_mean",
    "parse_observable",
    "unit_text",
]

ArgKind = Literal["objects", "one", "two", "two_or_met", "collection", "two_collections", "sum", "none"]


@dataclass(frozen=True)
class FunctionSpec:
    """What a function takes and returns; ``gev_power`` is its unit (GeV^power)."""

    args: ArgKind
    gev_power: int
    doc: str


FUNCTIONS: dict[str, FunctionSpec] = {
    "mass": FunctionSpec("objects", 1, "invariant mass of the four-momentum sum of the objects"),
    "pt": FunctionSpec("objects", 1, "transverse momentum of the four-momentum sum of the objects"),
    "eta": FunctionSpec("one", 0, "pseudorapidity of one object"),
    "phi": FunctionSpec("one", 0, "azimuth of one object"),
    "rapidity": FunctionSpec("one", 0, "rapidity of one object"),
    "mt": FunctionSpec(
        "objects", 1, "transverse mass of the objects' sum with the missing pT, sqrt(2 pT MET (1 - cos dphi))"
    ),
    "dr": FunctionSpec("two", 0, "Delta R = sqrt(deta^2 + dphi^2) of two objects"),
    "dphi": FunctionSpec("two_or_met", 0, "|Delta phi| in [0, pi] of two objects, or of an object and met"),
    "deta": FunctionSpec("two", 0, "|Delta eta| of two objects"),
    "ht": FunctionSpec("sum", 1, "H_T: scalar pT sum of the named collections (all their objects) or objects"),
    "st": FunctionSpec("sum", 1, "S_T: scalar pT sum like ht, by the leptoquark searches' name (no MET)"),
    "meff": FunctionSpec("sum", 1, "m_eff: scalar pT sum like ht plus the missing pT"),
    "met": FunctionSpec("none", 1, "missing transverse momentum"),
    "count": FunctionSpec("collection", 0, "number of objects of a collection"),
    "pair_mass": FunctionSpec("two_collections", 1, "mean mass of two pairs matched by minimal mass difference"),
}
"""Every function of the language. Objects are ``name[i]`` (the i-th in the collection's order, from 0) or a
slice ``name[i:j]`` (objects i to j-1); collections are a bare ``name``."""

RESERVED_NAMES = frozenset({"met"})
"""Names the language uses itself; object definitions cannot take them."""

OBSERVABLE_HELP = (
    "write an expression of functions, numbers, + - * / and abs()/sqrt(): mass(a[0], b[1], ...) or mass(a[0:4]), "
    "pt(...), eta(a[0]), phi(a[0]), rapidity(a[0]), mt(a[0]) (with the missing pT), dr(a[0], b[0]), "
    "dphi(a[0], b[0]) or dphi(a[0], met), deta(a[0], b[0]), ht(jets), st(muons, jets), meff(jets, leptons), met(), "
    "count(a), pair_mass(a, b), where a, b are object names defined under analysis.objects and [i] picks the "
    "i-th object (the hardest first)"
)

_UNARY_FUNCTIONS = ("abs", "sqrt")
_OPERATORS: dict[type[ast.operator], Literal["+", "-", "*", "/"]] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}


class ObjectArg(BaseModel):
    kind: Literal["object"] = "object"
    name: str
    index: int


class CollectionArg(BaseModel):
    kind: Literal["collection"] = "collection"
    name: str


class MetArg(BaseModel):
    kind: Literal["met"] = "met"


Argument = Annotated[ObjectArg | CollectionArg | MetArg, Field(discriminator="kind")]


class Call(BaseModel):
    kind: Literal["call"] = "call"
    function: str
    args: list[Argument] = Field(default_factory=list)


class Number(BaseModel):
    kind: Literal["number"] = "number"
    value: float


class UnaryOp(BaseModel):
    kind: Literal["unary"] = "unary"
    op: Literal["-", "abs", "sqrt"]
    operand: Expression


class BinaryOp(BaseModel):
    kind: Literal["binary"] = "binary"
    op: Literal["+", "-", "*", "/"]
    left: Expression
    right: Expression


Expression = Annotated[Call | Number | UnaryOp | BinaryOp, Field(discriminator="kind")]
UnaryOp.model_rebuild()
BinaryOp.model_rebuild()


class ParsedObservable(BaseModel):
    """An observable's tree with its unit and the object names it uses."""

    text: str
    tree: Expression
    gev_power: int
    names: frozenset[str]

    @property
    def unit(self) -> str:
        return unit_text(self.gev_power)

    def calls(self) -> list[Call]:
        return _calls(self.tree)


def unit_text(gev_power: int) -> str:
    """The unit GeV^power as an axis label writes it."""
    return {0: "", 1: "GeV", 2: "GeV²", -1: "GeV⁻¹", -2: "GeV⁻²"}.get(gev_power, f"GeV^{gev_power}")


def did_you_mean(word: str, choices: list[str] | set[str] | frozenset[str]) -> str:
    """' (did you mean X?)' for the closest of ``choices``, or ''."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_observable(text: str) -> ParsedObservable:
    """Parse an observable expression; raises ``ValueError`` that says what to write instead."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        msg = f"cannot read observable {text!r}; {OBSERVABLE_HELP}"
        raise ValueError(msg) from None
    tree, power = _expression(node, text)
    names = {arg.name for call in _calls(tree) for arg in call.args if not isinstance(arg, MetArg)}
    return ParsedObservable(text=text, tree=tree, gev_power=power, names=frozenset(names))


def _calls(tree: Call | Number | UnaryOp | BinaryOp) -> list[Call]:
    if isinstance(tree, Call):
        return [tree]
    if isinstance(tree, UnaryOp):
        return _calls(tree.operand)
    if isinstance(tree, BinaryOp):
        return [*_calls(tree.left), *_calls(tree.right)]
    return []


def _expression(node: ast.expr, text: str) -> tuple[Call | Number | UnaryOp | BinaryOp, int]:
    """The typed tree of ``node`` and its unit as a power of GeV."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Number(value=float(node.value)), 0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand, power = _expression(node.operand, text)
        return UnaryOp(op="-", operand=operand), power
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _binary(node, text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id in _UNARY_FUNCTIONS:
            return _unary_function(node, text)
        return _call(node.func.id, node.args, text)
    msg = f"cannot read observable {text!r} at {ast.unparse(node)!r}; {OBSERVABLE_HELP}"
    raise ValueError(msg)


def _binary(node: ast.BinOp, text: str) -> tuple[BinaryOp, int]:
    op = _OPERATORS[type(node.op)]
    (left, left_power), (right, right_power) = _expression(node.left, text), _expression(node.right, text)
    if op in "+-":
        # a bare number takes the unit of what it is added to: met() - 50 is in GeV
        if left_power != right_power and not isinstance(left, Number) and not isinstance(right, Number):
            msg = (
                f"observable {text!r} adds or subtracts quantities of different units "
                f"({unit_text(left_power) or 'none'} and {unit_text(right_power) or 'none'}); "
                "only like quantities can be added"
            )
            raise ValueError(msg)
        power = right_power if isinstance(left, Number) else left_power
    else:
        power = left_power + right_power if op == "*" else left_power - right_power
    return BinaryOp(op=op, left=left, right=right), power


def _unary_function(node: ast.Call, text: str) -> tuple[UnaryOp, int]:
    name = node.func.id if isinstance(node.func, ast.Name) else ""
    if len(node.args) != 1:
        msg = f"{name}() takes one expression, got {text!r}"
        raise ValueError(msg)
    operand, power = _expression(node.args[0], text)
    if name == "sqrt":
        if power % 2:
            msg = f"sqrt() of a quantity in {unit_text(power)} has no unit of GeV^n; got {text!r}"
            raise ValueError(msg)
        return UnaryOp(op="sqrt", operand=operand), power // 2
    return UnaryOp(op="abs", operand=operand), power


def _call(function: str, nodes: list[ast.expr], text: str) -> tuple[Call, int]:
    spec = FUNCTIONS.get(function)
    if spec is None:
        known = set(FUNCTIONS) | set(_UNARY_FUNCTIONS)
        msg = f"unknown observable function {function!r} in {text!r}{did_you_mean(function, known)}; {OBSERVABLE_HELP}"
        raise ValueError(msg)
    args = [arg for node in nodes for arg in _arguments(node, function, text)]
    _check_arity(function, spec.args, args, text)
    return Call(function=function, args=args), spec.gev_power


def _arguments(node: ast.expr, function: str, text: str) -> list[ObjectArg | CollectionArg | MetArg]:
    if isinstance(node, ast.Name):
        return [MetArg()] if node.id == "met" else [CollectionArg(name=node.id)]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        name, index = node.value.id, node.slice
        if isinstance(index, ast.Constant) and isinstance(index.value, int) and index.value >= 0:
            return [ObjectArg(name=name, index=index.value)]
        if isinstance(index, ast.Slice) and index.step is None:
            start, stop = (_bound(bound) for bound in (index.lower, index.upper))
            if start is not None and stop is not None and start < stop:
                return [ObjectArg(name=name, index=i) for i in range(start, stop)]
    msg = (
        f"{function}() in {text!r}: cannot read the argument {ast.unparse(node)!r}; write an object such as "
        "muons[0], a slice such as leptons[0:4] (objects 0 to 3) or an object name such as jets"
    )
    raise ValueError(msg)


def _bound(node: ast.expr | None) -> int | None:
    if node is None:
        return 0
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, int) else None


def _check_arity(function: str, kind: ArgKind, args: list[ObjectArg | CollectionArg | MetArg], text: str) -> None:
    objects = all(isinstance(arg, ObjectArg) for arg in args)
    collections = all(isinstance(arg, CollectionArg) for arg in args)
    met_last = len(args) == 2 and isinstance(args[0], ObjectArg) and isinstance(args[1], MetArg | ObjectArg)  # noqa: PLR2004
    no_met = not any(isinstance(arg, MetArg) for arg in args)
    valid, usage = {
        "objects": (bool(args) and objects, f"one or more objects, e.g. {function}(muons[0], muons[1])"),
        "one": (len(args) == 1 and objects, f"exactly one object, e.g. {function}(muons[0])"),
        "two": (len(args) == 2 and objects, f"two objects, e.g. {function}(muons[0], jets[0])"),  # noqa: PLR2004
        "two_or_met": (met_last, f"two objects or an object and met, e.g. {function}(jets[0], met)"),
        "collection": (len(args) == 1 and collections, f"one object name, e.g. {function}(jets)"),
        "two_collections": (
            len(args) == 2 and collections,  # noqa: PLR2004
            f"two object names, e.g. {function}(electrons, jets)",
        ),
        "sum": (bool(args) and no_met, f"object names or objects, e.g. {function}(jets) or {function}(muons, jets)"),
        "none": (not args, f"no arguments: {function}()"),
    }[kind]
    if not valid:
        msg = f"{function}() takes {usage}; got {text!r}"
        raise ValueError(msg)
