"""Recommenders: content-based VisRank and the baselines."""

from artrec.recommend.base import Ranking, Recommender, TrainData

__all__ = ["Ranking", "Recommender", "TrainData"]
