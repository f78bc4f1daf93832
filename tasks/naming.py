"""Who a row is: person ids from cast names, voice labels, and the ids that never count as a person."""
from __future__ import annotations

import re

NOT_COUNTED = {"unidentified"}  # segments no face of which passed the quality gate
UNNAMED_PREFIXES = ("unknown_", "unidentified")


def is_named(person_id: object) -> bool:
    """Whether a person id is a facebank-named person (not `unknown_N` nor `unidentified`)."""
    return isinstance(person_id, str) and not person_id.startswith(UNNAMED_PREFIXES)


def slug(name: str) -> str:
    """Stable person_id for a cast name (`Lin-Manuel Miranda` -> `lin-manuel-miranda`)."""
    text = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")
    return text or "person"


def voice_label(index: int) -> str:
    return f"voice_{index}"
