"""The words `ensure=` of a package takes, as the original Partout spelled them too:
present (or installed), latest, absent, purged, or a version to hold.

A word that is neither a keyword nor shaped like a version is refused at compile time:
`ensure="purge"` must not install a package at version "purge".
"""

from __future__ import annotations

import difflib
import re

PRESENT, LATEST, ABSENT, PURGED = "present", "latest", "absent", "purged"
KEYWORDS = (PRESENT, LATEST, ABSENT, PURGED)
# Spellings of the keywords that other tools use, kept as they mean the same.
SYNONYMS = {"installed": PRESENT}
# Words people reach for that mean a keyword, for the "did you mean" only.
_HINTS = {"removed": ABSENT, "uninstalled": ABSENT, "deleted": ABSENT, "remove": ABSENT,
          "purge": PURGED, "install": PRESENT, "newest": LATEST, "upgraded": LATEST}
# Versions of every provider start with a digit (Debian, RPM, PEP 440, semver), maybe after
# an epoch ("1:") or a "v", and hold no spaces or shell characters.
_VERSION = re.compile(r"^(\d+:)?v?\d[A-Za-z0-9.+~:_-]*$")


def normalise(value: str) -> str:
    """The keyword or version `value` means; ValueError with a "did you mean" otherwise."""
    word = SYNONYMS.get(value, value)
    if word in KEYWORDS or _VERSION.match(word):
        return word
    lowered = value.strip().lower()
    close = _HINTS.get(lowered) or SYNONYMS.get(lowered)
    if close is None and lowered in KEYWORDS:
        close = lowered
    if close is None:
        found = difflib.get_close_matches(lowered, [*KEYWORDS, *SYNONYMS], n=1, cutoff=0.6)
        close = found[0] if found else None
    hint = f"; did you mean {close!r}?" if close else ""
    raise ValueError(f"ensure must be present (or installed), latest, absent, purged or a version "
                     f"starting with a digit, not {value!r}{hint}")


def removes(ensure: str) -> bool:
    return ensure in (ABSENT, PURGED)
