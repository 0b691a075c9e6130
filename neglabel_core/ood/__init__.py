"""Pure math of zero-shot OOD detection on tensors (the bottom layer: nothing of ours outside it).

- ``validation``: the input checks every function here shares;
- ``scores``: NegLabel (Sec. 3.2, Eq. 6 of Jiang et al., ICLR 2024) and the zero-shot baselines (MCM, max
  cosine, energy): cosine matrices in, one score per image out, higher = more in-distribution;
- ``negmining``: NegMining (Sec. 3.1): percentile similarity and selection, and CSP's variant;
- ``adaneg``: AdaNeg's test-time-adaptive stream score, built on ``scores``;
- ``metrics``: AUROC, FPR95 (both rules), AUPR, bootstrap intervals over concepts, paired gaps;
- ``multiplicity``: p-values of paired gaps and Holm's correction, for counts over many comparisons;
- ``agreement``: Kendall's tau-b between two rankings, vectorised over bootstrap replicates;
- ``methods``: the one registry of methods and their two call shapes (a set of images, a stream).

The formulas and the official code they follow: ``docs/methods.md``.
"""
