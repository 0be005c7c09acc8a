"""A Griffe extension (``extensions:`` of mkdocstrings' python handler in mkdocs.yml): rtseg's docstrings
are written for ``help()`` and doctest, in reStructuredText habits; this renders those habits as Markdown
on the API page without changing the docstrings.

* doctest examples (``>>>`` lines and their output) become ``pycon`` code blocks (Markdown would read
  ``[0, 1, 2]`` in an output line as a link);
* Sphinx roles (:class:`~rtseg.graph.Pipeline`, :func:`x`, :meth:`y`) become inline code, the ``~``
  form showing the last name only;
* a paragraph ending in ``::`` ends in ``:`` (its indented block is a code block in Markdown too).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|attr|obj|exc|data|const|py:\w+):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def convert(text: str) -> str:
    """The docstring ``text`` with doctest blocks fenced, roles as code and ``::`` as ``:``."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
                block.append(lines[i][len(indent):])
                i += 1
            out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
            continue
        if not in_fence:
            line = ROLE.sub(_role, line)
            if line.endswith("::") and line.strip() != "::":
                line = line[:-1]
        out.append(line)
        i += 1
    return "\n".join(out)


def _walk(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = convert(obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias:
            _walk(member)  # type: ignore[arg-type]


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring of a loaded package (the package's own included) with :func:`convert`."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _walk(pkg)
