"""Every glossary term that a chapter uses is linked from that chapter at least once (issue 16).

A chapter "uses" a term when one of the term's names (every alias of a glossary entry), or a
declared surface form of it (plural, hyphen or space, the extra forms in ``EXTRA_FORMS``),
occurs as a whole word, case-insensitively, in the prose of the chapter's markdown cells:
math, inline code, code fences, role targets, headings, directive titles and options, labels
and comments do not count. Where a longer term contains a shorter one, the longer one wins
("approximate posterior" is a use of that term, not of "posterior"). A used entry needs at
least one ``{term}`` role, in any markdown cell of the chapter, whose target is one of the
entry's names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest

from .conftest import ROOT

BOOK = ROOT / "book"
GLOSSARY = BOOK / "glossary.md"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))

# Everyday words among the names ("code", "evidence", "mixture", "capacity", "prior", ...)
# count as uses wherever the chapters use them in the glossary's sense; the two below do
# not, and OTHER_SENSES lists the few phrases in which a counted word means something else.
#
# Names that are also everyday words, or that name something else in the chapters. Their
# bare occurrence is not counted as a use; the entry's other names and EXTRA_FORMS still
# are, and the entry can be linked by any of its names all the same.
NOT_A_USE = {
    # alias of "negative ELBO"; chapter 1 calls every autoencoder's training objective a loss
    # ("reconstruction loss", "commitment loss", ... are terms of their own and still count)
    "loss",
    # the glossary's "score" is the gradient of a log-density; the chapters also score
    # models ("every model scores low", "score how well it explains"). "score function",
    # "score-function" and "the score of p" (EXTRA_FORMS) still count.
    "score",
}

# Phrases in which a glossary word has another sense; blanked before matching. Keep this
# list short: each entry must name where the other sense occurs.
OTHER_SENSES = [
    # the optimizer's step size, not the "rate" (averaged KL term) of chapters 4 and 5
    r"learning\s+rates?",
    # the mean activation of a hidden unit and its target (chapter 1, sparse autoencoders)
    r"(?:activation|target)\s+rates?",
    # chapter 1: a plain autoencoder to compare the denoisers with, not a control variate
    r"our\s+baseline",
    # chapter 1: decoder weights that blend strokes, not a mixture density
    r"unreadable\s+mixtures",
]

# Surface forms counted in addition to the names and their automatic variants.
EXTRA_FORMS = {
    "KL divergence": ["KL", "Kullback-Leibler divergence"],
    "Monte Carlo estimate": ["Monte Carlo", "Monte Carlo estimator"],
    "holes": ["hole"],
    "reparameterization trick": ["reparameterization"],
    "IWAE bound": ["IWAE"],
    "probabilistic PCA": ["PPCA"],
    "Bayes' rule": ["Bayes rule", "Bayes's rule", "Bayes' theorem", "Bayes's theorem"],
    "Jensen's inequality": ["Jensen inequality"],
    "logsumexp": ["log-sum-exp"],
    "Fréchet distance": ["Frechet distance"],
    "Rényi bound": ["Renyi bound"],
    "latent traversal": ["traversal"],
    "rate": ["rate-distortion", "rate term"],
    "marginal likelihood": ["log evidence", "log-evidence"],
    "beta-VAE": ["beta VAE"],
    "score": ["score of"],
}

_WORD = r"[^\W_]"  # a letter or digit; "-" and "'" separate words


@dataclass
class Entry:
    """One glossary entry: its names (the first is the primary one) and surface forms."""

    names: list[str]
    forms: set[str] = field(default_factory=set)

    @property
    def primary(self) -> str:
        return self.names[0]


def _plural(word: str) -> str:
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|sh|ch)$", word):
        return word + "es"
    return word + "s"


def surface_forms(name: str) -> set[str]:
    """The name, its plural, and its hyphen/space variants (all lower case)."""
    base = {name.lower()}
    if "-" in name:
        base.add(name.lower().replace("-", " "))
    if " " in name:
        base.add(name.lower().replace(" ", "-"))
    base |= {_plural(b) for b in base}
    return base


def parse_glossary(text: str) -> list[Entry]:
    """The entries of every ``{glossary}`` block in ``text``, with all their names."""
    entries: list[Entry] = []
    for block in re.findall(r"^```\{glossary\}[^\n]*\n(.*?)^```", text, re.S | re.M):
        names: list[str] = []
        for line in block.split("\n"):
            if not line.strip():
                continue
            if line[0].isspace():  # definition text: closes the list of names above
                if names:
                    entries.append(Entry(names))
                    names = []
            else:
                names.append(line.strip())
        if names:
            entries.append(Entry(names))
    for entry in entries:
        for name in entry.names:
            if name.lower() not in NOT_A_USE:
                entry.forms |= surface_forms(name)
            for extra in EXTRA_FORMS.get(name, []):
                entry.forms |= surface_forms(extra)
    return entries


def _blank(match: re.Match) -> str:
    """The matched text with every character but newlines replaced by a space."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _blank_fences(markdown: str) -> str:
    """Blank code fences whole, and the opening, option and closing lines of directives.

    A fence whose info string starts with ``{`` opens a directive (```` ```{admonition} ````
    or ``:::{note}``), whose body stays; any other backtick or tilde fence is code.
    """
    out = []
    directives: list[str] = []  # the fences of the directives still open
    code: str | None = None  # the fence of the open code block
    options = False  # in the option lines right after a directive's opening line
    for line in markdown.split("\n"):
        fence = re.match(r"[ \t]*(`{3,}|~{3,}|:{3,})(.*)$", line)
        blank = " " * len(line)
        if code is not None:
            closing = fence and not fence.group(2).strip() and fence.group(1)[0] == code[0]
            if closing and len(fence.group(1)) >= len(code):
                code = None
            out.append(blank)
            continue
        if options and re.match(r"[ \t]*:[\w-]+:", line):
            out.append(blank)
            continue
        options = False
        if fence and fence.group(2).lstrip().startswith("{"):
            directives.append(fence.group(1))
            options = True
            out.append(blank)
        elif fence and directives and fence.group(1) == directives[-1] and not fence.group(2).strip():
            directives.pop()
            out.append(blank)
        elif fence and fence.group(1)[0] != ":":
            code = fence.group(1)
            out.append(blank)
        else:
            out.append(line)
    return "\n".join(out)


_ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")


def prose(markdown: str) -> str:
    """``markdown`` with everything that is not prose blanked out, positions unchanged.

    Blanked: code fences, directive title lines and options (the body of a directive is
    prose), math, inline code, role targets (the shown text of ``{term}`` and of
    ``{ref}`text <label>``` stays), labels ``(x)=``, comments ``%``, headings, link URLs,
    emphasis markers and the phrases of ``OTHER_SENSES``.
    """
    text = _blank_fences(markdown)
    # math: display, environments, inline
    text = re.sub(r"\$\$.*?\$\$", _blank, text, flags=re.S)
    text = re.sub(r"\\begin\{([\w*]+)\}.*?\\end\{\1\}", _blank, text, flags=re.S)
    text = re.sub(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\\n]|\n(?![ \t]*\n))+?\$", _blank, text)

    # roles: keep the shown text of term and ref roles, blank the rest
    def role(match: re.Match) -> str:
        name, content = match.group(1), match.group(2)
        explicit = re.fullmatch(r"(.*?)\s*<([^<>]*)>", content, re.S)
        shown = ""
        if name in ("term", "ref", "doc", "numref") and explicit:
            shown = explicit.group(1)
        elif name == "term":
            shown = content
        start = match.start(2)  # keep the shown text where it stands in the source
        out = [" " if ch != "\n" else ch for ch in match.group(0)]
        offset = start - match.start(0)
        out[offset : offset + len(shown)] = shown
        return "".join(out)

    text = _ROLE.sub(role, text)
    text = re.sub(r"`[^`\n]+`", _blank, text)  # inline code
    text = re.sub(r"^\([\w-]+\)=[ \t]*$", _blank, text, flags=re.M)  # labels
    text = re.sub(r"^%[^\n]*$", _blank, text, flags=re.M)  # comments
    text = re.sub(r"^[ \t]*#{1,6}[ \t][^\n]*$", _blank, text, flags=re.M)  # headings
    text = re.sub(r"\]\([^)\s]*\)", _blank, text)  # link URLs
    text = re.sub(r"\*+", _blank, text)  # emphasis markers: "**score** of" reads "score of"
    for phrase in OTHER_SENSES:
        text = re.sub(rf"(?<!{_WORD}){phrase}(?!{_WORD})", _blank, text, flags=re.I)
    return text


def _form_pattern(entries: list[Entry]) -> tuple[re.Pattern, dict[str, Entry]]:
    owner: dict[str, Entry] = {}
    for entry in entries:
        for form in entry.forms:
            owner.setdefault(form, entry)
    alternatives = sorted(owner, key=len, reverse=True)  # the longest form wins
    body = "|".join(r"\s+".join(map(re.escape, f.split(" "))) for f in alternatives)
    pattern = re.compile(rf"(?<!{_WORD})(?:{body})(?!{_WORD})", re.I)
    return pattern, owner


def uses(markdown: str, entries: list[Entry]) -> list[tuple[Entry, int, int]]:
    """Each use of a glossary term in ``markdown``'s prose: (entry, start, end) in the source."""
    pattern, owner = _form_pattern(entries)
    found = []
    for match in pattern.finditer(prose(markdown)):
        key = re.sub(r"\s+", " ", match.group(0).lower())
        found.append((owner[key], match.start(), match.end()))
    return found


def term_targets(markdown: str) -> list[str]:
    """The targets of the ``{term}`` roles in ``markdown``."""
    targets = []
    for match in _ROLE.finditer(markdown):
        if match.group(1) == "term":
            content = match.group(2)
            explicit = re.fullmatch(r".*?\s*<([^<>]*)>", content, re.S)
            targets.append((explicit.group(1) if explicit else content).strip())
    return targets


def unlinked_terms(markdown: str, entries: list[Entry]) -> dict[str, str]:
    """The entries used in ``markdown`` with no ``{term}`` link: primary name -> first use."""
    linked = {t.lower() for t in term_targets(markdown)}
    missing: dict[str, str] = {}
    for entry, start, end in uses(markdown, entries):
        if any(name.lower() in linked for name in entry.names) or entry.primary in missing:
            continue
        missing[entry.primary] = markdown[max(0, start - 40) : end + 40].replace("\n", " ")
    return missing


def chapter_markdown(path) -> str:
    """The markdown cells of a notebook, joined by blank lines."""
    nb = json.loads(path.read_text())
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return parse_glossary(GLOSSARY.read_text())


def test_glossary_is_parsed(entries):
    names = [n for e in entries for n in e.names]
    assert len(entries) >= 60, len(entries)
    assert len(names) == len({n.lower() for n in names}), "a glossary name is defined twice"
    by_primary = {e.primary: e for e in entries}
    assert by_primary["ELBO"].names == ["ELBO", "evidence lower bound", "variational lower bound"]
    assert "autoencoders" in by_primary["autoencoder"].forms
    for name in EXTRA_FORMS:
        assert any(name in e.names for e in entries), f"EXTRA_FORMS names an unknown term {name!r}"
    for name in NOT_A_USE:
        assert any(name in [n.lower() for n in e.names] for e in entries), f"NOT_A_USE: {name!r}"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_links_every_glossary_term_it_uses(path, entries):
    missing = unlinked_terms(chapter_markdown(path), entries)
    report = "\n".join(f"  {term!r}: ...{context}..." for term, context in missing.items())
    assert not missing, f"{path.name} uses glossary terms without a {{term}} link:\n{report}"


def test_every_term_role_targets_a_glossary_term(entries):
    names = {n.lower() for e in entries for n in e.names}
    sources = {p.name: chapter_markdown(p) for p in CHAPTERS}
    sources.update({p.name: p.read_text() for p in BOOK.glob("*.md")})
    unknown = [(name, t) for name, text in sources.items() for t in term_targets(text) if t.lower() not in names]
    assert not unknown, f"{{term}} targets that are not in the glossary: {unknown}"


SYNTHETIC_GLOSSARY = """
```{glossary}
encoder
  Maps an input to its code.

ELBO
evidence lower bound
  A lower bound.

posterior
  The distribution of codes given data.

approximate posterior
  Stands in for the posterior.

latent code
code
  What the encoder outputs.

negative ELBO
loss
  What training minimizes.

rate
  The averaged KL term.
```
"""


def test_matcher_on_synthetic_markdown():
    entries = parse_glossary(SYNTHETIC_GLOSSARY)
    assert [e.names for e in entries] == [
        ["encoder"], ["ELBO", "evidence lower bound"], ["posterior"], ["approximate posterior"], ["latent code", "code"],
        ["negative ELBO", "loss"], ["rate"],
    ]
    # used but not linked: reported, with the plural and the abbreviation as forms
    assert set(unlinked_terms("Two Encoders maximize the elbo.", entries)) == {"encoder", "ELBO"}
    # linked once (explicit text, or the name itself, any case): passes, later uses too
    assert unlinked_terms("The {term}`encoders <encoder>` and the encoder; the {term}`elbo`.", entries) == {}
    # inside math, inline code, headings, admonition titles, role targets: not a use
    hidden = (
        "# The encoder\n\n"
        "$q = \\mathrm{ELBO}$ and $$\\text{encoder}$$ and `encoder`.\n\n"
        "```{admonition} Common mistake: the ELBO\n:class: warning\nNothing here.\n```\n\n"
        "```python\nencoder = Encoder()\n```\n\n"
        "See {ref}`the section <encoder-section>` and {cite:p}`elbo2014`.\n"
    )
    assert unlinked_terms(hidden, entries) == {}
    # the body of an admonition is prose, and so is the text between two admonitions
    assert set(unlinked_terms("```{admonition} Title\nThe encoder.\n```\n", entries)) == {"encoder"}
    between = "```{admonition} A\n:class: note\nx\n```\n\nThe posterior.\n\n```{admonition} B\ny\n```\n"
    assert set(unlinked_terms(between, entries)) == {"posterior"}
    # a lone dollar sign does not hide the next paragraph
    assert set(unlinked_terms("It costs $5.\n\nThe posterior, $x$.\n", entries)) == {"posterior"}
    # the longest name wins ("approximate posterior" is not a use of "posterior")
    assert set(unlinked_terms("The approximate posterior and the codes.", entries)) == {
        "approximate posterior", "latent code",
    }
    # an everyday alias (NOT_A_USE) is not a use, the full name is; a phrase of
    # OTHER_SENSES is not a use, the bare word is
    assert unlinked_terms("The loss and the learning rate.", entries) == {}
    assert set(unlinked_terms("The negative ELBO is the distortion plus the rate.", entries)) == {
        "negative ELBO", "rate",
    }
    # a link whose target is not a name of the entry does not count
    assert set(unlinked_terms("The {term}`encoder <decoder>`.", entries)) == {"encoder"}


def test_a_chapter_without_its_links_fails(entries):
    """The real check is not vacuous: chapter 1 with its {term} roles unwrapped is reported."""
    markdown = chapter_markdown(CHAPTERS[0])
    unwrapped = _ROLE.sub(
        lambda m: re.sub(r"\s*<[^<>]*>$", "", m.group(2)) if m.group(1) == "term" else m.group(0), markdown
    )
    assert unlinked_terms(markdown, entries) == {}
    missing = unlinked_terms(unwrapped, entries)
    assert {"autoencoder", "encoder", "decoder", "PCA", "Jacobian"} <= set(missing), missing


def test_every_other_sense_phrase_still_occurs():
    """An entry of OTHER_SENSES that no chapter contains any more is stale: remove it."""
    text = "\n".join(chapter_markdown(p) for p in CHAPTERS)
    for phrase in OTHER_SENSES:
        assert re.search(phrase, text, re.I), f"OTHER_SENSES: {phrase!r} occurs in no chapter"
