"""neglabel_core: zero-shot OOD detection with negative labels (NegLabel, Jiang et al., ICLR 2024).

Layers, dependencies pointing one way:
- pure math (no imports of ours but the leaf ``validation``): ``scores``, ``negmining``, ``metrics``;
- building blocks on a leaf ``files``: ``corpus``, ``data``, ``models``, ``embed``/``cache``;
- the top ties them together (profiles, experiments, CLI).
"""

__version__ = "0.1.0"
