"""Print the artist-alias candidates of public-art and check the shipped table against them.

The table ``src/artrec/data/public_art_artists.json`` was made from this output: the
``spelling`` entries are the candidates printed here; each ``wikidata-id`` entry's name was
read off the image file names printed under its id (see the table's ``about`` field and
:mod:`artrec.data.public_art_artists`). Run::

    ARTREC_DATA_HOME=/path/to/datasets python scripts/public_art_artist_aliases.py

Exit code 0 when the table passes :func:`~artrec.data.public_art_artists.check_aliases`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", default=os.environ.get("ARTREC_DATA_HOME"))
    args = parser.parse_args()

    from artrec.data.public_art import locate_public_art
    from artrec.data.public_art_artists import (
        artist_aliases,
        check_aliases,
        spelling_candidates,
        wikidata_id_artists,
    )

    directory = locate_public_art(args.data_home)
    if directory is None:
        print("public-art not found: set ARTREC_DATA_HOME", file=sys.stderr)
        return 2
    records = json.loads((directory / "data.json").read_text(encoding="utf-8"))
    table = artist_aliases()
    print("# artist values that are bare Wikidata ids, with their works' image file names")
    for qid, files in wikidata_id_artists(records).items():
        print(f"{qid} -> {table.get(qid, '(no entry)')}")
        for name in files:
            print(f"    {name}")
    print("# second spellings (the spelling rule)")
    for alias, target in spelling_candidates(records).items():
        print(f"{alias!r} -> {target!r}")
    problems = check_aliases(records)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"# table check: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
