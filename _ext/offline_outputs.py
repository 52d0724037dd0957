"""Widget outputs as the built book can show them: no empty boxes, no widget scripts.

Without a running kernel an ipywidget cannot do anything in a static page, and drawing
it would need require.js and the widget manager from a CDN. So, in the built book:

- a tqdm progress bar (``tqdm.auto`` draws one as a widget in Jupyter) becomes its final
  state as plain text, e.g. ``training: 100%|##########| 470/470 [00:05<00:00, ...]``
  (bar drawn with block characters), with the postfix (epoch, losses) on the next line;
- any other widget (the latent explorer of chapter 4) becomes a one-line note saying
  that it needs a running kernel and where to run it; the chapter shows its static twin
  (a figure) next to it, which the browser test of the built book checks;
- no page loads the widget state or the widget manager's JavaScript.

The widgets' final state is the one nbclient saves in the executed notebook's metadata
(``widgets`` / ``application/vnd.jupyter.widget-state+json``), which myst-nb keeps in the
environment as the page's ``ipywidgets_state`` script.
"""

from __future__ import annotations

import html
import json
import re
import textwrap

from docutils import nodes

VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"
VIEW_SCRIPT = re.compile(r'<script type="' + re.escape(VIEW_MIMETYPE) + r'">(.*?)</script>', re.S)
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}
BAR_WIDTH = 10
LINE_WIDTH = 76  # characters that fit the text column


def _children(model: dict, state: dict) -> list[dict]:
    ids = [ref.removeprefix("IPY_MODEL_") for ref in model.get("state", {}).get("children", [])]
    return [state[i] for i in ids if i in state]


def progress_record(model: dict, state: dict) -> str | None:
    """The text of a tqdm.notebook bar (HBox of HTML, progress, HTML), else None."""
    if model.get("model_name") != "HBoxModel":
        return None
    children = _children(model, state)
    names = [child.get("model_name") for child in children]
    if len(children) != 3 or names[0] != "HTMLModel" or names[1] not in PROGRESS_MODELS or names[2] != "HTMLModel":
        return None

    def text(child):
        value = html.unescape(str(child.get("state", {}).get("value", "")))
        return re.sub(r"[\xa0\u2007]", " ", value).strip()  # tqdm.notebook pads with figure spaces

    bar = children[1].get("state", {})
    total = bar.get("max") or 0
    filled = min(BAR_WIDTH, max(0, round(BAR_WIDTH * (bar.get("value") or 0) / total))) if total else 0
    left, right = text(children[0]), text(children[2])
    line = f"{left}|{'█' * filled}{' ' * (BAR_WIDTH - filled)}| " if left or total else ""
    # right: "470/470 [00:05<00:00, 90.1step/s, epoch=5, train loss=0.123]"
    match = re.fullmatch(r"(.*?)\[(.*)\]", right, re.S)
    postfix = ""
    if match:
        items = match.group(2).split(", ")
        line += f"{match.group(1)}[{', '.join(items[:2])}]"
        postfix = ", ".join(items[2:])
    else:
        line += right
    if bar.get("bar_style") == "danger":
        line += "  (stopped early)"
    lines = [line.rstrip()]
    if postfix:
        lines += textwrap.wrap(postfix, LINE_WIDTH, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines)


def describe(model: dict, state: dict) -> str:
    """A short description of a widget's controls, e.g. "20 sliders and an image"."""
    counts: dict[str, int] = {}
    stack = [model]
    while stack:
        current = stack.pop()
        kids = _children(current, state)
        if kids:
            stack.extend(reversed(kids))
            continue
        name = current.get("model_name", "").removesuffix("Model")
        kind = {"FloatSlider": "slider", "IntSlider": "slider", "Image": "image", "Button": "button",
                "Dropdown": "menu", "Checkbox": "checkbox"}.get(name, "control")
        counts[kind] = counts.get(kind, 0) + 1
    parts = [f"{n} {kind}s" if n > 1 else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}" for kind, n in counts.items()]
    return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else (parts[0] if parts else "a widget")


def figure_beside(node: nodes.Node) -> str | None:
    """"before" or "after" if the code cell just before or after ``node``'s cell shows an image."""
    cell = node
    while cell is not None and "cell" not in cell.get("classes", []):
        cell = cell.parent
    if cell is None or cell.parent is None:
        return None
    siblings = [n for n in cell.parent.children if isinstance(n, nodes.Element) and "cell" in n.get("classes", [])]
    index = siblings.index(cell)
    for where, neighbour in (("after", index + 1), ("before", index - 1)):
        if 0 <= neighbour < len(siblings) and any(True for _ in siblings[neighbour].findall(nodes.image)):
            return where
    return None


def offline_node(view: dict, state: dict, beside: str | None = None) -> nodes.Node | None:
    """The node that replaces one widget view (None: the widget was closed, drop it).

    ``beside``: "before" or "after" when a static figure of the widget sits next to it.
    """
    model = state.get(view.get("model_id", ""))
    if model is None:
        return None
    record = progress_record(model, state)
    if record is not None:
        return nodes.literal_block(record, record, language="none", classes=["output", "stream", "progress-record"])
    note = nodes.paragraph()
    text = (f"An interactive widget ({describe(model, state)}) is drawn here when the notebook runs in "
            f"Jupyter or Colab (links at the end of the page); a static page cannot run it.")
    if beside:
        text += f" The figure {beside} it shows the same statically."
    note += nodes.emphasis("", text)
    return nodes.container("", note, classes=["output", "widget-offline"])


def _widget_state(app, docname: str) -> dict:
    js_files = getattr(app.env, "nb_metadata", {}).get(docname, {}).get("js_files", {})
    _, attributes = js_files.get("ipywidgets_state", (None, {}))
    body = attributes.get("body")
    return json.loads(body).get("state", {}) if body else {}


def replace_widget_views(app, doctree: nodes.document) -> None:
    """``doctree-read``: replace every widget view, then drop the page's widget scripts."""
    docname = app.env.docname
    state = _widget_state(app, docname)
    for raw in list(doctree.findall(nodes.raw)):
        match = VIEW_SCRIPT.fullmatch(raw.astext().strip())
        if not match:
            continue
        view = json.loads(match.group(1))
        replacement = offline_node(view, state, figure_beside(raw))
        parent = raw.parent
        if replacement is None:
            parent.remove(raw)
            if isinstance(parent, nodes.container) and not parent.children:
                parent.parent.remove(parent)
        else:
            raw.replace_self(replacement)
    js_files = getattr(app.env, "nb_metadata", {}).get(docname, {}).get("js_files", {})
    for key in [key for key in js_files if key.startswith("ipywidgets_")]:
        del js_files[key]


def setup(app):
    app.connect("doctree-read", replace_widget_views)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
