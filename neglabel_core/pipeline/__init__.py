"""The pipeline: a profile in; data, model, embeddings, negative-label banks, scores and results out.

One code path for every profile, in four modules that run in this order:

- :mod:`.text`: the candidate corpus and the text side (ID label and candidate embeddings);
- :mod:`.embedded`: checks (weights, data), the data, the model (trained here first for
  ``"pretrained": "@train"``) and every image embedding, cached, as one :class:`Embedded`
  (and the graded shifts of the test images, :func:`embed_graded`);
- :mod:`.banks`: the negative-label banks the methods read (NegMining's, CSP's), built once each;
- :mod:`.scoring`: the registry's methods on ID and every OOD set, and the results
  (AUROC, FPR95 per set, their average and the pooled set); ``evaluate`` is the CLI's.

Below it: ``ood`` (the math and the method registry), ``data``, ``models``, ``profiles``. Above
it: ``book`` (the chapters' tables) and the CLI. The names below are the pipeline's public ones.
"""

from ..data.benchmarks import BenchmarkData, class_names, prepare_data
from ..models.emoji_training import snapshot_epochs, train_emoji_model, trained_checkpoint
from .banks import (
                    BANK_BUILDERS,
                    CSP_FRACTION,
                    CSP_RULES,
                    Bank,
                    adaneg_bank,
                    adaneg_candidates,
                    candidate_scores,
                    csp_bank,
                    csp_candidates,
                    csp_lexicon,
                    csp_rule,
                    mine,
                    mining_rule,
                    neglabel_bank,
)
from .embedded import (
                    Embedded,
                    Graded,
                    NotReadyError,
                    embed_graded,
                    embed_profile,
                    embed_snapshot,
                    embed_snapshots,
                    ensure_model,
                    graded_id_index,
                    profile_methods,
                    ready_data,
                    with_images,
)
from .scoring import (
                    FPR_RULE_DEFAULT,
                    RESERVED_SET_NAMES,
                    Scored,
                    check_set_names,
                    evaluate,
                    fpr_rule,
                    perm_device,
                    results,
                    results_dict,
                    score,
)
from .text import (
                    TextSide,
                    build_corpus,
                    corpus_embeddings,
                    embed_corpus,
                    embed_text_side,
                    embed_words,
                    full_corpus_spec,
                    in_template,
                    text_tower,
                    weights_problem,
)

__all__ = [
    "BANK_BUILDERS", "CSP_FRACTION", "CSP_RULES", "FPR_RULE_DEFAULT", "RESERVED_SET_NAMES", "Bank", "BenchmarkData", "Embedded",
    "Graded", "embed_graded", "graded_id_index",
    "NotReadyError", "Scored", "TextSide", "build_corpus", "candidate_scores", "check_set_names", "class_names",
    "corpus_embeddings", "csp_bank", "csp_candidates", "csp_lexicon", "csp_rule", "embed_corpus", "embed_profile",
    "embed_snapshot", "embed_snapshots",
    "embed_text_side", "embed_words", "ensure_model", "evaluate", "fpr_rule", "full_corpus_spec", "mine",
    "mining_rule", "neglabel_bank", "adaneg_bank", "adaneg_candidates",
    "perm_device", "prepare_data", "profile_methods", "ready_data", "results",
    "results_dict", "score", "snapshot_epochs", "text_tower", "train_emoji_model", "trained_checkpoint",
    "weights_problem", "in_template", "with_images",
]
