"""Artist names of public-art: the alias table, its derivation from the data, and its use."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artrec.data.public_art import load_public_art, locate_public_art
from artrec.data.public_art_artists import (
    artist_aliases,
    check_aliases,
    fold,
    load_aliases_table,
    normalize_artist,
    spelling_candidates,
    wikidata_id_artists,
)

REAL = os.environ.get("ARTREC_DATA_HOME")


def test_the_table_has_the_two_rules() -> None:
    table = load_aliases_table()
    rules = [e["rule"] for e in table["aliases"]]
    assert rules.count("wikidata-id") == 13 and rules.count("spelling") == 7
    assert "without a network" in table["about"]
    aliases = artist_aliases()
    assert aliases["Q310973"] == "Lorenzo Lotto"
    assert aliases["Rembrandt (Rembrandt van Rijn)"] == "Rembrandt"
    assert normalize_artist("Claude Monet (French, 1840–1926)") == "Claude Monet"
    assert normalize_artist("Claude Monet") == "Claude Monet"
    assert normalize_artist("Q999999999") == "Q999999999"  # not in the table: unchanged
    assert normalize_artist(None) is None


def test_derivation_rules_on_handmade_records() -> None:
    records = [
        {"a": "Q42", "img": "http://c/Special:FilePath/Douglas%20Adams%20-%20Portrait.jpg"},
        {"a": "Jan Steen", "img": ""},
        {"a": "Jan Steen", "img": ""},
        {"a": "Jan  STEEN (Dutch, 1626–1679)", "img": ""},
        {"a": "Hans van Coninxloo (I)", "img": ""},  # no plain spelling: not an alias
        {"a": "After a design by X (1601)\nBrussels", "img": ""},  # credit lines: left alone
    ]
    assert wikidata_id_artists(records) == {"Q42": ["Douglas Adams - Portrait.jpg"]}
    assert spelling_candidates(records) == {"Jan  STEEN (Dutch, 1626–1679)": "Jan Steen"}
    table = {
        "aliases": [
            {
                "alias": "Q42",
                "artist": "Douglas Adams",
                "rule": "wikidata-id",
                "evidence": ["Douglas Adams - Portrait.jpg"],
            },
            {"alias": "Jan  STEEN (Dutch, 1626–1679)", "artist": "Jan Steen", "rule": "spelling"},
        ]
    }
    assert check_aliases(records, table) == []
    table["aliases"][0]["artist"] = "Douglas Noel Adams"  # a word the file names do not show
    table["aliases"][1]["artist"] = "J. Steen"
    problems = check_aliases(records, table)
    assert problems == [
        "Q42: 'Noel' is not in its works' image file names",
        "'Jan  STEEN (Dutch, 1626–1679)': the spelling rule gives 'Jan Steen', the table 'J. Steen'",
    ]
    assert fold("Sakai Hōitsu") == "sakaihoitsu"


def test_load_public_art_normalises_and_keeps_the_given_value(tmp_path: Path) -> None:
    d = tmp_path / "public-art"
    (d / "thumbnails").mkdir(parents=True)
    records = [
        {"i": "x1", "t": "A", "a": "Q310973", "img": "http://x/Lorenzo%20Lotto%20047.jpg"},
        {"i": "x2", "t": "B", "a": "Rembrandt (Rembrandt van Rijn)", "img": "http://x/b.jpg"},
        {"i": "x3", "t": "C", "a": "Ann", "img": "http://x/c.jpg"},
    ]
    (d / "data.json").write_text(json.dumps(records))
    for r in records:
        Image.new("RGB", (8, 8)).save(d / "thumbnails" / f"{r['i']}.jpg")
    cat, report = load_public_art(d)
    assert cat.metadata["artist"].tolist() == ["Lorenzo Lotto", "Rembrandt", "Ann"]
    assert cat.metadata["artist_as_given"].tolist() == [
        "Q310973",
        "Rembrandt (Rembrandt van Rijn)",
        None,
    ]
    assert report.artists_normalized == 2
    raw, raw_report = load_public_art(d, normalize_artists=False)
    assert raw.metadata["artist"].tolist() == [r["a"] for r in records]
    assert "artist_as_given" not in raw.metadata and raw_report.artists_normalized == 0


@pytest.mark.skipif(not REAL, reason="ARTREC_DATA_HOME not set (CI always sets it)")
def test_the_table_is_derived_from_the_real_data() -> None:
    directory = locate_public_art(REAL)
    assert directory is not None
    records = json.loads((directory / "data.json").read_text(encoding="utf-8"))
    assert check_aliases(records) == []
    assert len(wikidata_id_artists(records)) == 13 and len(spelling_candidates(records)) == 7
    cat, report = load_public_art(directory)
    artists = [a for a in cat.metadata["artist"].tolist() if a is not None]
    assert not any(a.startswith("Q") and a[1:].isdigit() for a in artists)
    names, counts = np.unique(artists, return_counts=True)
    count = dict(zip(names.tolist(), counts.tolist(), strict=True))
    # merged spellings: 18 + 1 Rembrandt, 28 + 1 Monet, 4 + 1 Toulouse-Lautrec
    assert count["Rembrandt"] == 19 and count["Claude Monet"] == 29
    assert count["Henri de Toulouse-Lautrec"] == 5 and count["Lorenzo Lotto"] == 12
    # 36 works by bare ids, 7 by second spellings
    assert report.artists_normalized == 36 + 7
