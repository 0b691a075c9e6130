"""The browser check fails on what a reader sees cut off: an element wider than the content
column, a cell output that scrolls sideways (Chromium, a page served from a temporary folder)."""

from __future__ import annotations

import pytest

from neglabel_core.book import browser_check

pytest.importorskip("playwright")

PAGE = """<!doctype html><html><body><main><article class="bd-article" style="width: 600px">
<div class="cell_output"><div class="output" style="overflow-x: auto">{output}</div></div>
<p>prose</p>{extra}</article></main></body></html>"""


def build(tmp_path, output: str, extra: str = ""):
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(PAGE.format(output=output, extra=extra), encoding="utf-8")
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
