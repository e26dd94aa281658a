"""The learned scorers' weights: rag/answer/fitted.json, written by eval/fit_composer.py from the train split.

COMPOSER holds the answer composer's sentence scorer (features.SENTENCE_FEATURES), ABSTAIN the
abstention's (features.EVIDENCE_FEATURES). The file names the features its weights were fitted for; a
file that does not match the code's features is refused on import (refit with eval/fit_composer.py),
since weights read against the wrong columns would score silently wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .features import EVIDENCE_FEATURES, SENTENCE_FEATURES

PATH = Path(__file__).with_name("fitted.json")


def load(path: Path = PATH) -> tuple[dict[str, Any], dict[str, Any]]:
    """(composer, abstain) weights from the file, checked against the features they score."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for name, features in (("composer", SENTENCE_FEATURES), ("abstain", EVIDENCE_FEATURES)):
        part = data[name]
        if part and (part["features"] != list(features) or len(part["weights"]) != len(features)):
            raise RuntimeError(
                f"{path.name}: the {name} weights were fitted for other features than rag/answer/features.py"
                " defines - run eval/fit_composer.py to refit"
            )
    return data["composer"], data["abstain"]


def dump(composer: dict[str, Any], abstain: dict[str, Any], path: Path = PATH) -> None:
    path.write_text(json.dumps({"composer": composer, "abstain": abstain}, indent=1) + "\n", encoding="utf-8")


COMPOSER, ABSTAIN = load()
