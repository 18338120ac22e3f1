"""Artist names of the public-art dataset, normalised with a table derived from the data.

In ``data.json`` 13 artists appear only as a bare Wikidata id (``"Q310973"``) and 7 under a
second spelling (``"Rembrandt (Rembrandt van Rijn)"`` next to ``"Rembrandt"``, or a name
with nationality and life dates). Both split one artist in two for the favourite-artist
baseline and the same-artist metric. The table ``public_art_artists.json`` (shipped in the
package) maps each such value to one name; :func:`normalize_artist` applies it, and
:func:`artrec.data.public_art.load_public_art` calls that for every record.

How the table was made (its ``about`` field says the same), from ``data.json`` alone:

* ``wikidata-id``: for every artist value that is a bare Wikidata id, the image file names
  of its works (the Wikimedia Commons file name at the end of the ``img`` URL) spell the
  artist out; the table quotes up to three of them as ``evidence``, and every word of the
  chosen name appears in them (only the surname, ``Machuca``, where that is all they show).
  No id is looked up anywhere else.
* ``spelling``: an artist value with a parenthetical (nationality and dates, or a longer
  form) whose remaining name, compared ignoring case, accents, spaces and punctuation, is
  the name of other works; the other works' spelling is kept (:func:`spelling_candidates`).

:func:`check_aliases` verifies a table against the records (every bare id covered, every
name backed by its evidence, every spelling alias folding to its target);
``scripts/public_art_artist_aliases.py`` prints the candidates and runs that check.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from artrec.errors import DataError

#: The table's file name inside the ``artrec.data`` package.
ALIASES_FILE = "public_art_artists.json"
#: The rules an entry of the table can name.
RULES: tuple[str, ...] = ("wikidata-id", "spelling")

_QID = re.compile(r"Q\d+")
_TRAILING_PAREN = re.compile(r"^(?P<name>.*?)\s*\((?P<inner>[^()]*)\)\s*$")


def load_aliases_table() -> dict[str, Any]:
    """The shipped table: ``{"about": ..., "source": ..., "aliases": [entries]}``."""
    text = resources.files("artrec.data").joinpath(ALIASES_FILE).read_text(encoding="utf-8")
    table = json.loads(text)
    if not isinstance(table, dict) or not isinstance(table.get("aliases"), list):
        raise DataError(f"{ALIASES_FILE}: expected an object with a list 'aliases'")
    return table


@lru_cache(maxsize=1)
def artist_aliases() -> dict[str, str]:
    """Alias -> artist name, from the shipped table (read once)."""
    return {str(e["alias"]): str(e["artist"]) for e in load_aliases_table()["aliases"]}


def normalize_artist(name: str | None) -> str | None:
    """The table's name for ``name``; any other value is returned unchanged."""
    if name is None:
        return None
    return artist_aliases().get(name, name)


# -- derivation and checks --------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, accents removed, only letters and digits kept (for comparing names)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^0-9a-z]", "", plain.lower())


def image_file_name(url: str) -> str:
    """The decoded file name at the end of an image URL (a Wikimedia Commons file name)."""
    return urllib.parse.unquote(str(url).rsplit("/", 1)[-1])


def wikidata_id_artists(records: Sequence[Any]) -> dict[str, list[str]]:
    """Artist values that are bare Wikidata ids -> the image file names of their works."""
    out: dict[str, list[str]] = {}
    for rec in records:
        if not isinstance(rec, dict):
            continue
        artist = rec.get("a")
        if isinstance(artist, str) and _QID.fullmatch(artist.strip()):
            out.setdefault(artist.strip(), []).append(image_file_name(rec.get("img") or ""))
    return out


def spelling_candidates(records: Sequence[Any]) -> dict[str, str]:
    """Alias -> name by the ``spelling`` rule (see the module docstring).

    Only the first line of a value is read (the Met's tapestry credit lines continue with
    workshops and places on later lines, and are left alone: they are attributions, not
    spellings).
    """
    counts: Counter[str] = Counter(
        r["a"] for r in records if isinstance(r, dict) and isinstance(r.get("a"), str)
    )
    plain_by_fold: dict[str, str] = {}
    for name, _ in counts.most_common():
        if "(" not in name and "\n" not in name:
            plain_by_fold.setdefault(fold(name), name)
    out: dict[str, str] = {}
    for name in counts:
        if "\n" in name:
            continue
        match = _TRAILING_PAREN.match(name)
        if match is None:
            continue
        target = plain_by_fold.get(fold(match.group("name")))
        if target is not None and target != name:
            out[name] = target
    return out


def check_aliases(records: Sequence[Any], table: dict[str, Any] | None = None) -> list[str]:
    """Problems of an alias table against the dataset's records (an empty list: none).

    Checks that every bare-id artist has an entry, that every word of a ``wikidata-id``
    entry's name appears in the image file names of that id's works and that its evidence
    is among them, and that the ``spelling`` entries are exactly :func:`spelling_candidates`.
    """
    table = load_aliases_table() if table is None else table
    problems: list[str] = []
    ids = wikidata_id_artists(records)
    spelled = spelling_candidates(records)
    entries = {str(e["alias"]): e for e in table["aliases"]}
    for qid in ids:
        if qid not in entries:
            problems.append(f"{qid}: a bare Wikidata id with no entry")
    for alias, entry in entries.items():
        rule = entry.get("rule")
        if rule not in RULES:
            problems.append(f"{alias}: unknown rule {rule!r}")
        elif rule == "wikidata-id":
            files = ids.get(alias)
            if files is None:
                problems.append(f"{alias}: no record has this artist value")
                continue
            folded = fold(" ".join(files))
            for word in str(entry["artist"]).split():
                if fold(word) not in folded:
                    problems.append(f"{alias}: {word!r} is not in its works' image file names")
            for quote in entry.get("evidence", []):
                if quote not in files:
                    problems.append(f"{alias}: evidence {quote!r} is not one of its file names")
        elif spelled.get(alias) != entry["artist"]:
            problems.append(
                f"{alias!r}: the spelling rule gives {spelled.get(alias)!r}, "
                f"the table {entry['artist']!r}"
            )
    for alias, target in spelled.items():
        if alias not in entries:
            problems.append(f"{alias!r}: spelling candidate for {target!r} with no entry")
    return problems
