"""A Content-Security-Policy for every built page (defence in depth behind escaping names).

A page's content (the ``<article>``: prose and cell outputs, where names from a reader's data
appear) holds no inline script of the book's: the static explorer is drawn by the book's own
files from a JSON data block (:mod:`neglabel_core.analysis.vega`). So the policy allows scripts from the site itself
and, by SHA-256, exactly the inline scripts and event handlers the theme writes outside the
article (and :data:`THEME_SNIPPETS`, by their exact text); anything inline inside the article,
which only a name that escaped its escaping could put there, is refused by the browser (and
reported by the browser check). No eval: Vega's expressions are interpreted. Styles may be
inline (the theme, MathJax and Vega write them).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from pathlib import Path

from ..files import atomic_write_text

MARKER = 'http-equiv="Content-Security-Policy"'
# From the first <article to the last </article>: a literal "</article>" that escaped into the
# content cannot end the span early and carry a script out of it.
_ARTICLE = re.compile(r"<article\b.*</article>", re.S | re.I)
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)([^>]*)>(.*?)</script\s*>", re.S | re.I)
_SCRIPT_TYPE = re.compile(r"""\btype\s*=\s*["']?([^"'\s>]+)""", re.I)
_HANDLER = re.compile(r"""\s(on[a-z]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
# The theme's fixed inline scripts that it writes inside the article, allowed by their exact text
# (Jupyter Book's thebe setting; thebe itself is off, so it does nothing).
THEME_SNIPPETS = ("kernelName = 'python3'",)
_JS_TYPES = {"", "text/javascript", "application/javascript", "module", "text/ecmascript"}
_HEAD_OPEN = re.compile(r"<head\b[^>]*>(\s*<meta charset[^>]*>)?", re.I)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def policy(page: str) -> str:
    """The policy for one page: ``'self'`` scripts plus the hashes of the inline scripts and
    event handlers outside its ``<article>`` (an executable type only; data blocks never run)."""
    article = _ARTICLE.search(page)
    rest = page[:article.start()] + page[article.end():] if article else page
    scripts = []
    for attrs, body in _INLINE_SCRIPT.findall(rest):
        kind = _SCRIPT_TYPE.search(attrs)
        if (kind.group(1).lower() if kind else "") in _JS_TYPES:
            scripts.append(_sha256(body))
    scripts += [_sha256(body) for _attrs, body in _INLINE_SCRIPT.findall(article.group(0) if article else "")
                if body in THEME_SNIPPETS]
    handlers = [_sha256(html.unescape(dq or sq)) for _name, dq, sq in _HANDLER.findall(rest)]
    sources = ["'self'", "'report-sample'", *dict.fromkeys(scripts)]  # a refusal shows the script's start
    if handlers:
        sources += ["'unsafe-hashes'", *dict.fromkeys(handlers)]
    return "; ".join([
        "default-src 'self'", f"script-src {' '.join(sources)}", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:", "font-src 'self' data:", "connect-src 'self'", "object-src 'none'",
        "base-uri 'self'", "form-action 'self'",
    ])


def with_policy(page: str) -> str:
    """``page`` with its policy as the first element of ``<head>`` (after ``<meta charset>``), or
    first of all where the page has no ``<head>`` tag (the browser puts it in the implied head);
    a page that already has one gets it recomputed."""
    page = re.sub(rf"\s*<meta {re.escape(MARKER)}[^>]*>\n?", "", page)
    head = _HEAD_OPEN.search(page)
    at = head.end() if head else 0
    meta = f'<meta {MARKER} content="{html.escape(policy(page), quote=False)}">'
    return page[:at] + ("\n" + meta if head else meta + "\n") + page[at:]


def protect_site(folder: Path) -> int:
    """Set the policy on every HTML page under ``folder`` (written atomically), the theme's
    template fragments in ``_static`` aside; returns the count."""
    pages = sorted(p for p in Path(folder).rglob("*.html") if "_static" not in p.relative_to(folder).parts)
    for path in pages:
        atomic_write_text(path, with_policy(path.read_text(encoding="utf-8")))
    return len(pages)
