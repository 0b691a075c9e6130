"""How the book's site is built and checked: ``build`` executes the notebooks (papermill) and
builds the Jupyter Book, ``csp`` gives every page its Content-Security-Policy, ``page_tables``
keeps wide tables readable, ``browser_check`` reads the built pages in Chromium; ``static/``
holds the site's own scripts. It imports nothing of the analysis: a chapter's computation and a
change to the site build each have one room (:mod:`neglabel_core.analysis` is the other).
"""
