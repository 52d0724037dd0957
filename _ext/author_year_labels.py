"""Bibliography labels that read like the book's in-text citations.

The chapters cite author-year (``bibtex_reference_style: author_year``), so a
parenthetical citation reads "[Alain and Bengio, 2014]". sphinxcontrib-bibtex's
default bibliography style (``alpha``) labels the same entry "[AB14]", and a reader
cannot find it. This registers the pybtex formatting style ``author_year_labels``
(select it with ``bibtex_default_style``): pybtex's ``alpha`` style (entries sorted
by author, year, title) whose labels are formatted by the very template that
sphinxcontrib-bibtex's ``author_year`` referencing style uses for ``{cite:p}``, so
the two agree by construction ("Alain and Bengio, 2014", "Kingma et al., 2014").
"""

from __future__ import annotations

import pybtex.plugin
from pybtex.style.formatting.alpha import Style as AlphaStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.template import join, year

STYLE_NAME = "author_year_labels"


def author_year_label(entry, style: AuthorYearReferenceStyle | None = None) -> str:
    """The text of ``{cite:p}`` for ``entry`` without brackets, e.g. "Kingma and Welling, 2014"."""
    style = style or AuthorYearReferenceStyle()
    template = join(sep=style.author_year_sep)[style.person.author_or_editor_or_title(full=False), year]
    return template.format_data({"entry": entry, "style": style}).render_as("text")


class AuthorYearLabelStyle(BaseLabelStyle):
    """pybtex label style: one author-year label per entry."""

    def format_labels(self, sorted_entries):
        style = AuthorYearReferenceStyle()
        for entry in sorted_entries:
            yield author_year_label(entry, style)


class AuthorYearLabelsStyle(AlphaStyle):
    """pybtex's alpha formatting style with author-year labels."""

    default_label_style = STYLE_NAME


def setup(app):
    pybtex.plugin.register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabelStyle)
    pybtex.plugin.register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearLabelsStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
