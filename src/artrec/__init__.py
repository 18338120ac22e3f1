"""artrec: a content-based recommender for visual art.

The package is organised by role (see ``docs/architecture.md``):

- :mod:`artrec.data` -- the workspace (SQLite catalogue and interactions) and loaders,
- :mod:`artrec.features` -- feature sets and extractors,
- :mod:`artrec.embedding` -- the concat / z-score / PCA / L2 transform,
- :mod:`artrec.index` -- similarity indexes (exact, FAISS),
- :mod:`artrec.recommend` -- recommenders (VisRank and baselines),
- :mod:`artrec.evaluation` -- metrics, protocols and comparisons.

Nothing heavy is imported here; import the submodules you need.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
