"""Long header words get break opportunities in the built pages; short ones stay whole."""

from neglabel_core.site import page_tables


def test_only_long_header_words_get_break_opportunities_at_their_joints():
    page = ('<table><thead><tr><th>NegLabel</th><th class="col_heading level0">AUROC [95% interval]</th>'
            "<th>ground_transport_vehicles</th></tr></thead><tbody><tr><th>rank</th>"
            "<td>ground_transport_vehicles</td></tr></tbody></table>")
    assert page_tables.soften_cells(page) == (
        '<table><thead><tr><th>NegLabel</th><th class="col_heading level0">AUROC [95% interval]</th>'
        "<th>ground_<wbr>transport_<wbr>vehicles</th></tr></thead><tbody><tr><th>rank</th>"
        "<td>ground_<wbr>transport_<wbr>vehicles</td></tr></tbody></table>")


def test_an_escaped_name_keeps_its_entities_whole_and_markup_is_left_alone():
    # a reader's class name, escaped by pandas: each entity counts as one character and is never cut
    name = "AT&amp;T&lt;img&gt;*cat*_onerror=x"
    out = page_tables.soften_cells(f"<th>{name} x</th>")
    assert out == "<th>AT&amp;T&lt;img<wbr>&gt;*cat*_<wbr>onerror=x x</th>"
    assert out.replace("<wbr>", "") == f"<th>{name} x</th>"
    assert page_tables.soften_cells("<th>fluent-high-contrast</th>") == "<th>fluent-high-contrast</th>"  # breaks at "-"
    assert page_tables.soften_cells("<th>at_least</th><td>my_</td>") == "<th>at_<wbr>least</th><td>my_</td>"
    # a number or an interval is never split; a dotted name is, between its letters
    numbers = "<td>22.7 [15.4, 29.6]</td><td>-1234567.891234</td><td>0.25:0.75</td>"
    assert page_tables.soften_cells(numbers) == numbers
    assert page_tables.soften_cells("<th>document.body.x</th>") == "<th>document.<wbr>body.<wbr>x</th>"
    held = "<th><a href='#'>a_very_long_linked_heading</a></th>"
    assert page_tables.soften_cells(held) == held


def test_the_site_is_softened_page_by_page_outside_static(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "fragment.html").write_text("<th>averyveryverylongword</th>")
    (tmp_path / "a.html").write_text("<th>averyveryverylongword</th>")
    (tmp_path / "b.html").write_text("<th>short</th>")
    assert page_tables.soften_site(tmp_path) == 1
    assert (tmp_path / "a.html").read_text() == "<th>averyver<wbr>yverylon<wbr>gword</th>"
    assert (tmp_path / "_static" / "fragment.html").read_text() == "<th>averyveryverylongword</th>"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind
