"""Similarity indexes: exact (numpy) and approximate (FAISS)."""

from artrec.index.base import METRICS, SimilarityIndex

__all__ = ["METRICS", "SimilarityIndex"]
