"""The book: what the chapters compute, and building and checking the HTML (the top layer with
the CLI; nothing but the CLI imports it).

A chapter imports ``chapter`` (setup, the benchmark's sets, labels, glue) and the topic module it
reads: ``corpora`` (01, 03), ``tables`` (02, 06, 08), ``sweeps`` (04, 05, 06, 08, 09),
``explorer`` (07; its page drawn by ``vega``). ``build`` executes the notebooks (papermill) and
builds the Jupyter Book; ``browser_check`` reads the built pages in Chromium.
"""
