"""Per-language accuracy of language identification on ``../shared/corpora/langid/``.

Each ``sentences/<code>.txt`` holds one sentence per line whose gold label is ``<code>``.
A sentence counts as correct when the detector's top language equals the label (Chinese
variants zh-cn/zh-tw count as zh). ``python -m evaluation.langid`` scores the pipeline's
``processors.language.detect_language`` next to plain seeded ``langdetect.detect`` and
writes the table to ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from langdetect import DetectorFactory, detect
from langdetect.lang_detect_exception import LangDetectException

from evaluation.corpora import CORPORA_DIR
from evaluation.parallel import parallel_map
from evaluation.results import write_section
from processors.language import detect_language

SENTENCES_DIR = CORPORA_DIR / "langid" / "sentences"
# Sentence accuracy (%) of langdetect published with the corpus (README): the floor to beat.
PUBLISHED_LANGDETECT: dict[str, float] = {
    "en": 99.3, "es": 98.1, "pt": 98.2, "fr": 98.8, "de": 99.7, "it": 99.4, "ru": 95.4, "zh": 97.8,
}
MEDIAWATCH = "mediawatch detect_language"
PLAIN_LANGDETECT = "langdetect.detect (seed 0)"


@dataclass(frozen=True)
class Accuracy:
    correct: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.total if self.total else 0.0


def languages() -> list[str]:
    return sorted(path.stem for path in SENTENCES_DIR.glob("*.txt"))


def sentences(language: str) -> list[str]:
    # split("\n"), not splitlines(): some sentences contain U+2028 and similar separators.
    text = (SENTENCES_DIR / f"{language}.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.split("\n") if line.strip()]


def _plain_langdetect(sentence: str) -> str | None:
    DetectorFactory.seed = 0
    try:
        return detect(sentence).split("-")[0]
    except LangDetectException:
        return None


def _score_language(job: tuple[str, str]) -> Accuracy:
    detector, language = job
    lines = sentences(language)
    if detector == MEDIAWATCH:
        guesses = [detect_language(line)[0] for line in lines]
    else:
        guesses = [_plain_langdetect(line) for line in lines]
    return Accuracy(sum(guess == language for guess in guesses), len(lines))


def score_langid(detector: str = MEDIAWATCH, workers: int | None = None) -> dict[str, Accuracy]:
    """Accuracy per language over every sentence of the corpus."""
    codes = languages()
    jobs = [(detector, code) for code in codes]
    return dict(zip(codes, parallel_map(_score_language, jobs, workers)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.langid", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    ours = score_langid(MEDIAWATCH, args.workers)
    plain = score_langid(PLAIN_LANGDETECT, args.workers)
    rows = []
    for code in ours:
        published = PUBLISHED_LANGDETECT.get(code)
        rows.append(
            f"| {code} | {ours[code].total} | **{ours[code].percent:.1f}** | {plain[code].percent:.1f} "
            f"| {published if published is not None else '-'} |"
        )
    below = [code for code, published in PUBLISHED_LANGDETECT.items() if ours[code].percent < published]
    table = "\n".join(
        [
            "## Language identification",
            "",
            "Sentence accuracy (%) per language over the whole langid corpus. Below langdetect's",
            f"published figure: {', '.join(below) if below else 'none'}. How the detector was chosen, and",
            "the variants tried and rejected: docs/processing-extraction.md.",
            "",
            f"| language | sentences | {MEDIAWATCH} | {PLAIN_LANGDETECT} | langdetect published |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    write_section("langid", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
