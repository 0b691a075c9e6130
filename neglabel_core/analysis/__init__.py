"""What the chapters compute: the tables, sweeps and readings the notebooks show (a layer above the
pipeline, beside :mod:`neglabel_core.site`; only the notebooks and the CLI import it).

A chapter imports ``chapter`` (setup, the benchmark's sets, labels, glue) and the topic module it
reads: ``corpora`` (01, 03), ``tables`` (02, 06, 08), ``sweeps`` (04, 05, 06, 08, 09),
``robustness`` (05), ``ours`` (10), ``cross_vlm`` (11), ``anatomy`` (02), ``explorer`` (07; its
static page drawn by ``vega``).
"""
