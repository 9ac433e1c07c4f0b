"""Agent prompts: markdown files in ``prompts/``, rendered with Jinja2 (a missing variable is an error)."""

from __future__ import annotations

from pathlib import Path

import jinja2

__all__ = ["PROMPTS_DIR", "load_prompt", "prompt_names"]

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PROMPTS_DIR), undefined=jinja2.StrictUndefined, autoescape=False
)


def prompt_names() -> list[str]:
    return sorted(path.stem for path in PROMPTS_DIR.glob("*.md"))


def load_prompt(name: str, **variables: object) -> str:
    """The prompt of role ``name`` filled with ``variables``."""
    if name not in prompt_names():
        msg = f"no prompt named {name!r}; available: {', '.join(prompt_names())}"
        raise ValueError(msg)
    return _ENVIRONMENT.get_template(f"{name}.md").render(**variables)
