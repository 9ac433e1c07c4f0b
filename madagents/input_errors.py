"""Validation errors of a workflow (or any input model) as one paragraph a physicist can act on."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["describe_errors"]


def describe_errors(path: Path, exc: ValidationError, root: type[BaseModel]) -> str:
    """One paragraph naming each bad field of a ``root`` model, what was written and what to write instead."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            parts.append(f"unknown key '{where}'{_did_you_mean(root, error['loc'])}")
            continue
        message = error["msg"].removeprefix("Value error, ")
        example = _example(root, error["loc"])
        written = f" (you wrote {error['input']!r})" if not isinstance(error["input"], dict | list) else ""
        hint = f"; write e.g. {error['loc'][-1]}: {_inline_yaml(example)}" if example is not None else ""
        # a check across fields (a model validator) names the fields in its message: no location to prefix
        parts.append(f"{where}: {message}{written}{hint}" if where else f"{message}{written}{hint}")
    return f"Invalid workflow {path}: " + "; ".join(parts) + "."


def _inline_yaml(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).removesuffix("\n...\n").strip()


def _field_info_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[type[BaseModel] | None, str | None]:
    """The model that owns the last key of ``loc`` (following nested models, lists and dicts) and that key."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields:
            model = _inner_model(model.model_fields[str(part)].annotation)
    owner = model if isinstance(model, type) and issubclass(model, BaseModel) else None
    return owner, str(loc[-1]) if loc else None


def _inner_model(annotation: Any) -> Any:
    """The pydantic model inside ``X``, ``X | None``, ``list[X]`` or ``dict[str, X]``, else the annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        inner = _inner_model(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _did_you_mean(root: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    owner, key = _field_info_at(root, loc)
    if owner is None or key is None:
        return ""
    allowed = list(owner.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    return f" ({suggestion}allowed keys here: {', '.join(allowed)})"


def _example(root: type[BaseModel], loc: tuple[int | str, ...]) -> object | None:
    owner, key = _field_info_at(root, loc)
    if owner is None or key not in owner.model_fields:
        return None
    examples = owner.model_fields[key].examples
    return examples[0] if examples else None
