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


def distinct_ids(names: list[str], where: str) -> None:
    """Refuse cast names that would share a person_id (`Lisa V` and `lisa-v`), whose screen time would then be
    added up as one person's, or whose id is reserved for unnamed faces."""
    by_id: dict[str, list[str]] = {}
    for name in sorted(set(names)):
        by_id.setdefault(slug(name), []).append(name)
    for person_id, same in by_id.items():
        if len(same) > 1:
            raise ValueError(f"{where}: the names {', '.join(repr(n) for n in same)} would be one person "
                             f"({person_id!r}): rename one of them so that they differ in letters or digits")
        if person_id in NOT_COUNTED:
            raise ValueError(f"{where}: the name {same[0]!r} is reserved for faces never seen well enough to "
                             "embed; rename it")


def voice_label(index: int) -> str:
    return f"voice_{index}"
