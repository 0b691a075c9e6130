"""The browser check fails on what a reader sees cut off (an element wider than the content
column, a cell output that scrolls sideways) and on what the page's Content-Security-Policy
refuses (Chromium, a page served from a temporary folder)."""

from __future__ import annotations

import pytest

from neglabel_core.site import browser_check, csp

pytest.importorskip("playwright")

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script>document.documentElement.dataset.theme = "1";</script></head><body>
<button onclick="document.body.dataset.clicked = 1">theme button</button><main><article class="bd-article" style="width: 600px">
<div class="cell_output"><div class="output" style="overflow-x: auto">{output}</div></div>
<p>prose</p>{extra}</article></main></body></html>"""


def build(tmp_path, output: str, extra: str = "", policy: bool = True):
    html = tmp_path / "html"
    html.mkdir()
    page = PAGE.format(output=output, extra=extra)
    (html / "index.html").write_text(csp.with_policy(page) if policy else page, encoding="utf-8")
    return html


def test_a_page_that_fits_passes(tmp_path):
    html = build(tmp_path, "<table><tr><td>AUROC</td><td>90.0</td></tr></table>")
    reports = browser_check.check_book(html, tmp_path / "shots")
    assert [r.problems for r in reports] == [[]]


def test_a_table_scrolling_in_its_cell_output_fails(tmp_path):
    wide = "<table><tr>" + "".join(f"<td>column_{i}_with_a_long_name</td>" for i in range(30)) + "</tr></table>"
    with pytest.raises(browser_check.BrowserCheckError, match=r"index.html: cell output scrolls sideways \(\d+ px in 600 px\)"):
        browser_check.check_book(build(tmp_path, wide), tmp_path / "shots")


def test_an_element_wider_than_the_column_fails(tmp_path):
    html = build(tmp_path, "<p>fine</p>", extra='<svg width="900" height="20"></svg>')
    with pytest.raises(browser_check.BrowserCheckError,
                       match=r"wider than the content column \(900 px, column 600 px\): svg"):
        browser_check.check_book(html, tmp_path / "shots")


def test_an_inline_script_in_the_content_is_refused_and_reported(tmp_path):
    """What a name that escaped its escaping would be: it does not run, and the check names it;
    the theme's own inline script and button handler outside the article still work."""
    injected = '<script>document.body.dataset.pwned = 2</script><svg onload="document.body.dataset.pwned = 1"></svg>'
    html = build(tmp_path, "<p>fine</p>", extra=injected)
    with pytest.raises(browser_check.BrowserCheckError) as info:
        browser_check.check_book(html, tmp_path / "shots")
    assert str(info.value).splitlines() == [
        "browser check failed:",
        'index.html: Content-Security-Policy refused script-src-elem: inline "document.body.dataset.pwned = 2"',
        'index.html: Content-Security-Policy refused script-src-attr: inline "document.body.dataset.pwned = 1"',
    ]
    from playwright.sync_api import sync_playwright

    with browser_check.serve(html) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_check.find_chromium(), args=list(browser_check.CHROMIUM_FLAGS))
        page = browser.new_page()
        page.goto(base + "index.html", wait_until="load")
        page.click("button")
        assert page.evaluate("[document.documentElement.dataset.theme, document.body.dataset.clicked,"
                             " document.body.dataset.pwned]") == ["1", "1", None]
        browser.close()


def test_a_page_without_its_policy_fails(tmp_path):
    with pytest.raises(browser_check.BrowserCheckError, match=r"^browser check failed:\nindex.html: no Content-Security-Policy$"):
        browser_check.check_book(build(tmp_path, "<p>fine</p>", policy=False), tmp_path / "shots")


def test_a_word_split_inside_a_table_cell_fails_and_one_split_at_a_hyphen_passes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    squeezed = ('<table style="width: 120px"><tr><th style="overflow-wrap: anywhere">NegLabel AdaNeg energy</th>'
                + "".join(f"<td>{w}</td>" for w in ("AUROC", "FPR95", "AUPR", "energy", "cosine")) + "</tr></table>")
    with pytest.raises(browser_check.BrowserCheckError, match=r'index.html: a word broken across lines in a table: "Neg'):
        browser_check.check_book(build(tmp_path / "a", squeezed), tmp_path / "shots")
    hyphens = '<table style="width: 90px"><tr><th>fluent-high-contrast openmoji-black</th><td>90.0</td></tr></table>'
    reports = browser_check.check_book(build(tmp_path / "b", hyphens), tmp_path / "shots")
    assert [r.problems for r in reports] == [[]]


def test_a_number_split_inside_a_table_cell_fails(tmp_path):
    split = ('<table style="width: 60px"><tr><td style="overflow-wrap: anywhere">22.7 [15.4, 29.6]</td>'
             "<td>energy</td></tr></table>")
    with pytest.raises(browser_check.BrowserCheckError, match=r'a word broken across lines in a table: "(22\.7|15\.4|29\.6)"'):
        browser_check.check_book(build(tmp_path, split), tmp_path / "shots")
