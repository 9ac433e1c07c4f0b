"""Markdown to HTML for the page: the tutor's answers and report.md.

Raw HTML in the text is escaped (a model's answer or a run's report is not trusted with script), and maths is left
in ``<span class="math inline">`` / ``<div class="math block">`` for KaTeX in the browser.
"""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

__all__ = ["to_html"]


@cache
def _markdown(breaks: bool) -> MarkdownIt:
    # a dollar before a space is money ("$5 and $6"), not maths (pandoc's rule)
    return (
        MarkdownIt("commonmark", {"html": False, "breaks": breaks})
        .use(dollarmath_plugin, allow_space=False, double_inline=True)
        .enable("table")
        .enable("strikethrough")
    )


def to_html(text: str, *, breaks: bool = False) -> str:
    """``breaks``: a line break is kept (a chat answer's lines), not joined into the paragraph (a report's)."""
    html: str = _markdown(breaks).render(text)
    return html
