// What a reader meets on one page of the built book; run by conftest.py's inspect()
// after the page loaded and MathJax finished. Returns plain data for the tests.
async () => {
  const where = (el) => {
    // the nearest heading above el, for messages: "4.3 Training the VAE"
    const section = el.closest("section");
    const heading = section && section.querySelector("h1, h2, h3, h4");
    return heading ? heading.textContent.replace(/[#¶]/g, "").trim() : "(page)";
  };
  const snippet = (text, n = 70) => text.replace(/\s+/g, " ").trim().slice(0, n);

  // Images: every <img> loads (lazy ones are made eager first).
  const images = [...document.images];
  images.forEach((img) => { img.loading = "eager"; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done); img.addEventListener("error", done); setTimeout(done, 10000);
  })));
  const broken_images = images.filter((img) => !(img.complete && img.naturalWidth > 0))
    .map((img) => ({ src: (img.getAttribute("src") || "").slice(0, 100), section: where(img) }));

  // Math: the text a reader sees (code, outputs and rendered math left out) has no raw
  // TeX delimiters; every .math element holds an mjx-container; no TeX error boxes.
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, noscript, textarea, mjx-container, .highlight, .cell_output")
    .forEach((el) => el.remove());
  const text = clone.textContent;
  const raw_math = [];
  for (const delimiter of ["\\(", "\\)", "\\[", "\\]", "$$"]) {
    let at = text.indexOf(delimiter);
    if (at >= 0) raw_math.push({ delimiter, context: snippet(text.slice(Math.max(0, at - 40), at + 40), 80) });
  }
  const math = [...document.querySelectorAll(".math")];
  const unrendered_math = math.filter((el) => !el.querySelector("mjx-container"))
    .map((el) => ({ tex: snippet(el.textContent, 60), section: where(el) }));
  const math_errors = [...document.querySelectorAll("mjx-merror")]
    .map((el) => ({ error: el.getAttribute("data-mjx-error") || snippet(el.textContent, 60), section: where(el) }));

  // A display formula followed by a paragraph that starts with punctuation: the lone "."
  const lone_punctuation = [...document.querySelectorAll("div.math")]
    .map((el) => el.nextElementSibling)
    .filter((next) => next && next.tagName === "P" && /^[.,;:]/.test(next.textContent.trim()))
    .map((next) => ({ starts: snippet(next.textContent, 40), section: where(next) }));

  // Links: every href of the page, resolved by the browser; conftest checks local targets.
  const links = [...document.querySelectorAll("a[href]")]
    .map((a) => ({ href: a.href, raw: a.getAttribute("href"), text: snippet(a.textContent, 40) }));
  const ids = [...document.querySelectorAll("[id]")].map((el) => el.id)
    .concat([...document.querySelectorAll("a[name]")].map((el) => el.getAttribute("name")));

  // Outputs: no empty output box; a widget note has its static figure in a neighbouring
  // cell; no widget view left for a widget manager that is not there.
  const cells = [...document.querySelectorAll("div.cell")];
  const visual = "img, svg, canvas, table, mjx-container, iframe, video";
  const hasVisual = (el) => el.matches(visual) || el.querySelector(visual);
  const empty_outputs = [...document.querySelectorAll("div.cell_output > *")]
    .filter((el) => !el.textContent.trim() && !hasVisual(el) && el.tagName !== "STYLE")
    .map((el) => ({ html: snippet(el.outerHTML, 120), section: where(el) }));
  const widgets_without_figure = [...document.querySelectorAll(".widget-offline")].filter((note) => {
    const i = cells.indexOf(note.closest("div.cell"));
    return ![cells[i - 1], cells[i + 1]].some((cell) => cell && cell.querySelector(".cell_output img"));
  }).map((note) => ({ note: snippet(note.textContent, 80), section: where(note) }));
  const widget_views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;

  // Error outputs (a traceback) in a cell that is not tagged raises-exception on purpose.
  const error_outputs = [...document.querySelectorAll("div.cell_output .output")]
    .filter((el) => el.classList.contains("traceback") || el.textContent.includes("Traceback (most recent call last)"))
    .filter((el) => !(el.closest("div.cell") || el).classList.contains("tag_raises-exception"))
    .map((el) => {
      const lines = el.textContent.split("\n").map((line) => line.trim()).filter(Boolean);
      return { section: where(el), error: snippet(lines.filter((l) => /^\w+(Error|Exception)\b/.test(l)).pop() || lines.pop() || "", 100) };
    });

  // Text outputs wider than their column (the reader would have to scroll sideways).
  const wide = [...document.querySelectorAll("div.cell_output pre, div.cell_output > div.output")]
    .filter((el) => el.scrollWidth > el.clientWidth + 1);
  const overflowing_outputs = wide
    .filter((el) => !wide.some((other) => other !== el && el.contains(other)))  // report each output once
    .map((el) => {
      const lines = el.textContent.split("\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      return { section: where(el), column_px: el.clientWidth, content_px: el.scrollWidth,
               longest_line_chars: longest.length, line: snippet(longest, 60) };
    });

  // One search field in the page's frame (pydata's top bar used to add a second one).
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const search_fields = [...document.querySelectorAll(".search-button-field, .search-button, form.bd-search")]
    .filter((el) => visible(el) && !el.closest("main, dialog")).length;  // search.html's own form is in main

  return {
    search_fields, error_outputs, title: document.title, broken_images, raw_math, math_count: math.length, unrendered_math,
    math_errors, lone_punctuation, links, ids, empty_outputs, widgets_without_figure, widget_views,
    overflowing_outputs, output_count: document.querySelectorAll("div.cell_output").length,
  };
}
