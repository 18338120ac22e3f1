"""A small example collection, as a gallery might export it: 60 real paintings and SIMULATED ratings.

:func:`write_example_collection` writes, into one folder:

* ``catalog.csv``: ``object_id,title,creator,year,medium,image_file`` for 60 paintings of the
  public-art dataset (ten works by each of six artists), with columns named as an export
  might name them (artrec finds them by their common names);
* ``images/``: the paintings' 200 x 200 thumbnails (real images, copied from public-art);
* ``ratings.csv``: ``user,artwork_id,stars,date``: 24 SIMULATED visitors who each rate 8 to
  12 works from one to five stars, higher for works by their two favourite artists
  (seeded, so the files are always the same). No real person rated anything.

``docs/own-collection.md`` uses this folder (the tests run its commands on it) and so does
the README test. Run ``python tests/_own_collection.py FOLDER`` to write it yourself (it
needs the public-art dataset: ``$ARTREC_DATA_HOME`` or the user cache).
"""

from __future__ import annotations

import csv
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

N_ARTISTS = 6
WORKS_PER_ARTIST = 10
N_VISITORS = 24


def write_example_collection(folder: str | Path, data_home: str | Path | None = None) -> Path:
    """Write the example collection into ``folder`` (created) and return it."""
    from artrec.data.public_art import load_public_art, locate_public_art

    source = locate_public_art(data_home)
    if source is None:
        raise FileNotFoundError("the public-art dataset was not found (set ARTREC_DATA_HOME)")
    catalog, _ = load_public_art(source)
    artists = catalog.artists()
    assert artists is not None
    years = catalog.column("year")
    by_artist: dict[str, list[int]] = {}
    for row, artist in enumerate(artists.tolist()):
        dated = years is not None and years[row] is not None
        if artist and not str(artist).startswith("Unknown") and dated:
            by_artist.setdefault(str(artist), []).append(row)
    chosen = sorted(by_artist, key=lambda a: (-len(by_artist[a]), a))[:N_ARTISTS]
    rows = [
        r
        for a in chosen
        for r in sorted(by_artist[a], key=lambda r: str(catalog.item_ids[r]))[:WORKS_PER_ARTIST]
    ]

    out = Path(folder)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    assert catalog.image is not None
    with (out / "catalog.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["object_id", "title", "creator", "year", "medium", "image_file"])
        for r in rows:
            rec = catalog.record(r)
            name = f"{rec['item_id']}.jpg"
            shutil.copyfile(str(catalog.image[r]), images / name)
            writer.writerow(
                [
                    rec["item_id"],
                    rec.get("title"),
                    rec.get("artist"),
                    rec.get("year"),
                    rec.get("medium"),
                    name,
                ]
            )

    rng = np.random.default_rng(12)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with (out / "ratings.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user", "artwork_id", "stars", "date"])
        for v in range(N_VISITORS):
            favourites = set(rng.choice(N_ARTISTS, size=2, replace=False).tolist())
            n = int(rng.integers(8, 13))
            picks = rng.choice(len(rows), size=n, replace=False)
            when = start + timedelta(days=int(rng.integers(0, 60)))
            for r in picks.tolist():
                liked = r // WORKS_PER_ARTIST in favourites
                stars = int(np.clip(rng.normal(4.4 if liked else 2.6, 0.8), 1, 5).round())
                when += timedelta(hours=int(rng.integers(1, 72)))
                writer.writerow(
                    [
                        f"visitor{v:02d}",
                        catalog.item_ids[rows[r]],
                        stars,
                        when.strftime("%Y-%m-%d %H:%M"),
                    ]
                )
    (out / "README.txt").write_text(
        "An example collection for artrec: 60 real public-domain paintings (public-art) and\n"
        "SIMULATED ratings by 24 made-up visitors. No real person rated anything.\n",
        encoding="utf-8",
    )
    return out


if __name__ == "__main__":  # pragma: no cover
    print(write_example_collection(sys.argv[1] if len(sys.argv) > 1 else "example"))
