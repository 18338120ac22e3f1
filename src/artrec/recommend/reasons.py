"""Reason codes: why a recommendation was made, and the one place their texts live.

Every :class:`~artrec.recommend.base.Ranking` carries, next to ``because`` (the profile row
behind a recommendation, or ``-1``), a reason code per recommended row. The codes form a
small fixed vocabulary (:data:`REASONS`); :func:`reason_text` turns a code and the title of
the ``because`` item into the sentence shown to a person. The engine, the server, the CLI
and the report use it, so a text is written once.

A single model declares its code in :attr:`Recommender.reason
<artrec.recommend.base.Recommender.reason>` (or per row, as metadata affinity does: artist,
century, medium or museum). The hybrid passes on the code of the source that contributed
most to each recommendation.
"""

from __future__ import annotations

from artrec.errors import DataError

#: Looks like / follows from a profile item ("because you bought X"): content models.
SIMILAR = "similar"
#: Others who have the profile item also have this one: collaborative models.
CO_BOUGHT = "co_bought"
#: Same artist as works in the profile.
ARTIST = "artist"
#: Same century as works in the profile.
CENTURY = "century"
#: Same medium as works in the profile.
MEDIUM = "medium"
#: Same collection or museum as works in the profile.
MUSEUM = "museum"
#: Recently popular (time-decayed or windowed popularity).
TRENDING = "trending"
#: Popular over the whole log.
POPULAR = "popular"
#: No reason (padding, random).
NONE = ""

#: Code -> sentence; ``{item}`` is the ``because`` item's label, ``{verb}`` the profile verb.
_TEXTS: dict[str, str] = {
    SIMILAR: "because you {verb} {item}",
    CO_BOUGHT: "popular with collectors who bought {item}",
    ARTIST: "by an artist you collect",
    CENTURY: "from a period you collect",
    MEDIUM: "in a medium you collect",
    MUSEUM: "from a collection you follow",
    TRENDING: "trending this month",
    POPULAR: "popular with collectors",
    NONE: "",
}

#: Every reason code, in the order of :data:`_TEXTS`.
REASONS: tuple[str, ...] = tuple(_TEXTS)

#: Codes whose text names the ``because`` item.
NAMES_ITEM: frozenset[str] = frozenset({SIMILAR, CO_BOUGHT})


def reason_text(code: str, item: str | None = None, *, verb: str = "bought") -> str:
    """The sentence for reason ``code``.

    Parameters
    ----------
    code
        One of :data:`REASONS`.
    item
        Label of the ``because`` item (title, or id); codes in :data:`NAMES_ITEM` without one
        fall back to a sentence that names no item.
    verb
        How the person got the profile item: ``"bought"`` or ``"liked"``.

    Raises
    ------
    DataError
        For an unknown code.
    """
    if code not in _TEXTS:
        raise DataError(
            f"unknown reason code {code!r}; known: {', '.join(c for c in REASONS if c)}"
        )
    if code in NAMES_ITEM and not item:
        return "similar to works you collect" if code == SIMILAR else _TEXTS[POPULAR]
    return _TEXTS[code].format(item=item or "", verb=verb)
