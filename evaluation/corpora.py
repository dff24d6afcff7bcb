"""Location of the shared, read-only corpora (never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

from mediawatch.settings import PROJECT_ROOT

CORPORA_DIR: Path = PROJECT_ROOT.parent / "shared" / "corpora"
