"""The built pages' Content-Security-Policy (book/csp.py): hashes of the theme's inline scripts
and handlers outside the article, nothing inline inside it, computed against hashlib."""

import base64
import hashlib
import re

from neglabel_core.site import csp


def sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def script_src(page: str) -> list[str]:
    (directive,) = [d for d in csp.policy(page).split("; ") if d.startswith("script-src ")]
    return directive.split()[1:]


THEME = "let toggleHintShow = 'Click to show';"


def test_only_the_theme_scripts_outside_the_article_are_allowed():
    page = (f'<html><head><meta charset="utf-8"><script>{THEME}</script>'
            '<script type="text/x-thebe-config">{"x": 1}</script><script src="_static/a.js"></script></head><body>'
            '<button onclick="window.print()">p</button><article class="bd-article">'
            '<script>alert(1)</script><script type="application/json">{"a": "</article><script>alert(2)</script>"}'
            '</script><img onerror="alert(3)"></article><script>kernelName = &#39;x&#39;</script></body></html>')
    assert script_src(page) == ["'self'", "'report-sample'", sha(THEME), sha("kernelName = &#39;x&#39;"), "'unsafe-hashes'",
                                sha("window.print()")]
    assert sha("alert(1)") not in csp.policy(page) and sha("alert(2)") not in csp.policy(page)


def test_the_theme_snippet_inside_the_article_is_allowed_by_its_exact_text():
    page = ("<html><head></head><body><article><script>kernelName = 'python3'</script>"
            "<script>kernelName = 'python3'; alert(1)</script></article></body></html>")
    assert script_src(page) == ["'self'", "'report-sample'", sha("kernelName = 'python3'")]


def test_a_closing_article_tag_in_the_content_does_not_carry_a_script_out():
    page = ('<html><head></head><body><article><p>name</article><script>alert(1)</script><p>more</p></article>'
            '</body></html>')
    assert script_src(page) == ["'self'", "'report-sample'"]


def test_handler_values_are_hashed_as_the_browser_reads_them():
    page = '<html><head></head><body><button onclick="go(&quot;a&quot;)">x</button></body></html>'
    assert script_src(page) == ["'self'", "'report-sample'", "'unsafe-hashes'", sha('go("a")')]


def test_the_policy_is_set_once_after_the_charset_and_refuses_eval_and_plugins():
    page = f'<html><head><meta charset="utf-8"><script>{THEME}</script></head><body></body></html>'
    once = csp.with_policy(page)
    assert csp.with_policy(once) == once
    assert re.match(r'<html><head><meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="', once)
    policy = csp.policy(page)
    assert "'unsafe-eval'" not in policy and "'unsafe-inline'" not in policy.split("; ")[1]
    assert "object-src 'none'" in policy and "base-uri 'self'" in policy
    redirect = '<meta http-equiv="Refresh" content="0; url=book/intro.html" />'  # no <head> tag
    assert csp.with_policy(redirect) == (f'<meta http-equiv="Content-Security-Policy" content="{csp.policy(redirect)}">\n'
                                         + redirect)


def test_every_page_of_a_folder_gets_its_policy(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "macros.html").write_text("{% macro x() %}<head>{% endmacro %}")  # a theme template
    for name in ("index.html", "book/a.html"):
        (tmp_path / name).write_text(f"<html><head></head><body><script>{name}</script></body></html>")
    assert csp.protect_site(tmp_path) == 2
    assert sha("book/a.html") in (tmp_path / "book" / "a.html").read_text()
    assert (tmp_path / "_static" / "macros.html").read_text() == "{% macro x() %}<head>{% endmacro %}"
