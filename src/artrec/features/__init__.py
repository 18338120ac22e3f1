"""Feature sets and feature extractors."""

from artrec.features.base import FeatureSet

__all__ = ["FeatureSet"]
