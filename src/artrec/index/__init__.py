"""Similarity indexes: exact (numpy) and approximate (FAISS)."""

from artrec.index.base import SimilarityIndex

__all__ = ["SimilarityIndex"]
