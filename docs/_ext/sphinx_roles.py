"""A griffe extension for the site: docstrings' Sphinx roles (``:func:`name```,
``:mod:`~pkg.name```) become code spans, since the API pages are Markdown."""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

ROLE = re.compile(r":(?:func|mod|class|meth|attr|data|obj|exc|const):`~?([^`]+)`")


class SphinxRoles(Extension):
    """Rewrite ``:role:`target``` as `` `target` `` in every docstring."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(r"`\1`", obj.docstring.value)
