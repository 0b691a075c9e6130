"""Open every page of the built book in headless Chromium and fail on what a reader would see
broken: an image that does not load, math left untypeset, a request leaving the machine, an
element wider than the content column or a cell output that scrolls sideways (a table cut at the
right edge, a line of output running off the page), a word in a table split across two lines (a
header squeezed into "NegLab / el"), a page without its Content-Security-Policy or
anything that policy refused (an inline script in the content, eval), or a JavaScript error (an
uncaught exception; messages a script logs to the console are not errors: the theme logs one on
every first visit). Saves a screenshot of each page.

Uses Playwright (PyPI) driving Debian's Chromium (``/usr/bin/chromium``); no browser download.
The pages are served from a local HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
)
# sphinx-thebe 0.3.1 declares THEBE_JS_URL twice; harmless, and the one error allowed.
ALLOWED_JS_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)
SKIP_PAGES = ("genindex.html", "search.html")


class BrowserCheckError(RuntimeError):
    """One or more pages failed the check."""


@dataclass
class PageReport:
    page: str
    screenshot: str
    images: int = 0
    math: int = 0
    problems: list[str] = field(default_factory=list)


def find_chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    raise BrowserCheckError("Chromium not found: install it with `apt-get install chromium` (make book does this)")


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """A quiet HTTP server for ``folder`` on 127.0.0.1 (a free port); yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def pages_of(html_dir: Path) -> list[Path]:
    return sorted(p for p in html_dir.rglob("*.html")
                  if p.name not in SKIP_PAGES and not any(part.startswith(("_", ".")) for part in p.relative_to(html_dir).parts))


def check_book(html_dir: Path, screenshot_dir: Path, *, pages: Sequence[Path] | None = None,
               timeout_ms: int = 30000) -> list[PageReport]:
    """Check every page; raise :class:`BrowserCheckError` listing all problems, else return reports."""
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir)
    if not (html_dir / "index.html").is_file():
        raise BrowserCheckError(f"{html_dir} holds no built book (index.html missing)")
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    reports: list[PageReport] = []
    with serve(html_dir) as base, sync_playwright() as pw:
        local_host = urlparse(base).netloc
        browser = pw.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_FLAGS))
        try:
            for page_path in pages or pages_of(html_dir):
                rel = page_path.relative_to(html_dir).as_posix()
                report = PageReport(rel, str(screenshot_dir / (rel.replace("/", "__") + ".png")))
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()

                def on_request(request, report=report) -> None:
                    parsed = urlparse(request.url)
                    if parsed.scheme in ("data", "blob", "about") or parsed.netloc == local_host:
                        return
                    report.problems.append(f"request leaves the machine: {request.url}")

                def route(r) -> None:  # answer external requests locally: nothing leaves the machine
                    if urlparse(r.request.url).netloc == local_host:
                        r.continue_()
                    else:
                        r.abort()

                context.route("**/*", route)
                context.add_init_script(_RECORD_CSP_VIOLATIONS)
                page.on("request", on_request)
                page.on("pageerror", lambda err, report=report: report.problems.append(f"JavaScript error: {err}")
                        if not any(a in str(err) for a in ALLOWED_JS_ERRORS) else None)
                page.goto(base + rel, wait_until="load", timeout=timeout_ms)
                page.wait_for_load_state("networkidle", timeout=timeout_ms)
                report.math = page.locator(".math").count()
                if report.math:
                    try:
                        page.wait_for_function(
                            "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                            " && document.querySelectorAll('mjx-container').length > 0", timeout=timeout_ms)
                        page.evaluate("() => MathJax.startup.promise")
                    except Exception:  # noqa: BLE001 - reported below as untypeset math
                        pass
                    typeset = page.locator("mjx-container").count()
                    if typeset < report.math:
                        report.problems.append(f"math not typeset: {report.math} formulas, {typeset} rendered")
                broken = page.evaluate(
                    "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
                report.images = page.locator("img").count()
                report.problems += [f"image does not load: {src}" for src in broken]
                uncaptioned = page.evaluate(
                    "() => Array.from(document.querySelectorAll('.cell_output img')).filter(i => {"
                    " const f = i.closest('figure');"
                    " return !(f && f.querySelector('figcaption') && (i.getAttribute('alt') || '').trim()); }).length")
                if uncaptioned:
                    report.problems.append(f"{uncaptioned} figure(s) without a caption or alt text")
                report.problems += too_wide(page)
                report.problems += broken_words(page)
                page.screenshot(path=report.screenshot, full_page=True)
                if page.locator(".neglabel-explorer").count():
                    report.problems += check_explorer(page, screenshot_dir / (rel.replace("/", "__") + ".explorer"),
                                                      timeout_ms)
                if not page.locator('meta[http-equiv="Content-Security-Policy"]').count():
                    report.problems.append("no Content-Security-Policy")
                report.problems += [f"Content-Security-Policy refused {v}"
                                    for v in page.evaluate("() => window.__neglabelCspViolations || []")]
                context.close()
                reports.append(report)
        finally:
            browser.close()
    problems = [f"{r.page}: {p}" for r in reports for p in r.problems]
    if problems:
        raise BrowserCheckError("browser check failed:\n" + "\n".join(problems))
    return reports


# Every refusal of the page's Content-Security-Policy (an inline script or handler it does not
# allow, eval, a source elsewhere), recorded from the first script on.
_RECORD_CSP_VIOLATIONS = """
window.__neglabelCspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__neglabelCspViolations.push(
  e.effectiveDirective + ': ' + (e.blockedURI || 'inline') + (e.sample ? ' "' + e.sample + '"' : '')));
"""


# Elements wider than the article column, and cell outputs (or anything in one) that scroll sideways: what
# a reader at 1280 px sees cut off. Each is described by its tag, its first words and its width.
_TOO_WIDE_JS = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const column = article.getBoundingClientRect();
  const describe = el => {
    const text = (el.innerText || el.getAttribute('aria-label') || '').replace(/\\s+/g, ' ').trim().slice(0, 60);
    return el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '')
      + ' "' + text + '"';
  };
  const clipped = el => {
    for (let p = el.parentElement; p && p !== article; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
    }
    return false;
  };
  const out = [];
  for (const el of article.querySelectorAll('table, img, svg, pre, .cell_output > *, .neglabel-explorer, .vega-embed')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > column.right + 2 && !clipped(el))
      out.push('wider than the content column (' + Math.round(r.width) + ' px, column ' + Math.round(column.width)
               + ' px): ' + describe(el));
  }
  for (const el of article.querySelectorAll('.cell_output, .cell_output *')) {
    if (el.scrollWidth > el.clientWidth + 2 && ['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX))
      out.push('cell output scrolls sideways (' + el.scrollWidth + ' px in ' + el.clientWidth + ' px): ' + describe(el));
  }
  return out;
}"""


def too_wide(page) -> list[str]:
    """Everything on the page a reader would see cut at the right edge or scrolling sideways (one
    line per element, innermost first, at most 20)."""
    found = list(dict.fromkeys(page.evaluate(_TOO_WIDE_JS)))
    return found[:20] + ([f"... and {len(found) - 20} more wide elements"] if len(found) > 20 else [])


# Words in a table cell (runs of letters and digits, a decimal number whole) that the browser split
# across two lines: a header read as "NegLab / el", an interval as "[15. / 4,". A break at a hyphen, a
# symbol or a break opportunity the site build put there (<wbr>, :mod:`.page_tables`) is not one.
_BROKEN_WORDS_JS = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const out = [];
  for (const cell of article.querySelectorAll('table th, table td')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode, words = /[\\p{L}\\p{N}]+(?:[.,]\\p{N}+)*/gu;
      let m;
      while ((m = words.exec(node.data)) !== null) {
        if (m[0].length < 2) continue;
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        // a word's glyph runs (one per font) may sit a pixel apart on one line: a new line starts
        // only where a run begins below half the height of the one before
        const rects = Array.from(range.getClientRects()).filter(r => r.width > 0).sort((a, b) => a.top - b.top);
        const wrapped = rects.some((r, i) => i > 0 && r.top - rects[i - 1].top > rects[i - 1].height / 2);
        if (wrapped) out.push('a word broken across lines in a table: "' + m[0] + '"');
      }
    }
  }
  return out;
}"""


def broken_words(page) -> list[str]:
    """Every word of a table cell that wraps inside itself (one line each, at most 20)."""
    found = list(dict.fromkeys(page.evaluate(_BROKEN_WORDS_JS)))
    return found[:20] + ([f"... and {len(found) - 20} more broken words"] if len(found) > 20 else [])


def _explorer_state(page) -> dict:
    return page.evaluate("""() => {
        const root = document.querySelector('.neglabel-explorer');
        const texts = Array.from(root.querySelectorAll('svg text')).map(t => t.textContent);
        const bars = Array.from(root.querySelectorAll('svg path')).map(p => p.getAttribute('d') || '').join('|');
        return {summary: texts.find(t => t.startsWith('AUROC')) || '', shapes: bars.length, hash: bars};
    }""")


def check_explorer(page, shot_prefix: Path, timeout_ms: int = 30000) -> list[str]:
    """The static explorer reacts to its controls with no kernel: it is drawn, then moving the eta
    and method controls changes the figure and the AUROC/FPR95 line. Screenshots before and after."""
    problems: list[str] = []
    try:
        page.wait_for_function("() => document.querySelector('.neglabel-explorer svg text') !== null", timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - reported as a problem
        return ["explorer: nothing was drawn (no SVG in the explorer's container)"]
    explorer = page.locator(".neglabel-explorer")
    explorer.screenshot(path=f"{shot_prefix}-before.png")
    before = _explorer_state(page)
    if not before["summary"]:
        problems.append("explorer: no AUROC/FPR95 line is shown")
    selects = page.locator(".neglabel-explorer .vega-bind select")
    names = [page.locator(".neglabel-explorer .vega-bind-name").nth(i).inner_text().strip() for i in range(selects.count())]
    for label, choose in (("η", 0), ("method", 2)):
        index = next((i for i, n in enumerate(names) if n.startswith(label)), None)
        if index is None:
            problems.append(f"explorer: no {label} control (controls: {names})")
            continue
        select = selects.nth(index)
        options = select.locator("option")
        current = select.input_value()
        values = [options.nth(i).get_attribute("value") for i in range(options.count())]
        target = next(v for v in values[choose:] + values if v != current)
        select.select_option(target)
        page.wait_for_timeout(400)
        after = _explorer_state(page)
        if after["summary"] == before["summary"] and after["hash"] == before["hash"]:
            problems.append(f"explorer: moving {label} from {current} to {target} changed neither the figure nor the numbers")
        before = after
    explorer.screenshot(path=f"{shot_prefix}-after.png")
    return problems
