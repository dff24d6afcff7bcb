"""Quality scorers computed against the real corpora under ``../shared/corpora``.

Run them as modules (``python -m evaluation.extraction``, ``python -m evaluation.langid``);
each writes its own section of ``evaluation/RESULTS.md``.
"""
