"""Collaborative models, time-aware popularity, metadata affinity and the hybrid: the shared
contract, slow references on hand-made logs, equality with ``implicit``, cold start."""

from __future__ import annotations

import numpy as np
import pytest

from artrec.recommend.base import Recommender
from artrec.recommend.content import ContentRecommender
from artrec.recommend.ease import EASERecommender
from artrec.recommend.factors import ALSRecommender, BPRRecommender
from artrec.recommend.hybrid import HybridRecommender
from artrec.recommend.itemknn import ItemKNNRecommender
from artrec.recommend.metadata import MetadataAffinityRecommender
from artrec.recommend.popularity import TimeAwarePopularityRecommender
from contracts.recommender_contract import RecommenderContract


class TestItemKNN(RecommenderContract):
    scores_every_item = False

    @pytest.fixture(params=[(200, 10.0), (1, 0.0)], ids=["n200-s10", "n1-s0"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        n, s = request.param
        return ItemKNNRecommender(neighbours=n, shrinkage=s)


class TestEASE(RecommenderContract):
    scores_every_item = False

    @pytest.fixture
    def recommender(self) -> Recommender:
        return EASERecommender(lambda_=2.0)


class TestALS(RecommenderContract):
    scores_every_item = False

    @pytest.fixture
    def recommender(self) -> Recommender:
        return ALSRecommender(factors=4, iterations=5, num_threads=1)


class TestBPR(RecommenderContract):
    scores_every_item = False

    @pytest.fixture
    def recommender(self) -> Recommender:
        return BPRRecommender(factors=4, iterations=20, num_threads=1)


class TestTimeAwarePopularity(RecommenderContract):
    @pytest.fixture(params=[(30.0, None), (None, 5.0), (None, None)], ids=["hl", "win", "plain"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        return TimeAwarePopularityRecommender(*request.param)


class TestMetadataAffinity(RecommenderContract):
    @pytest.fixture(params=["share", "count"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        return MetadataAffinityRecommender(mode=request.param)


class TestContent(RecommenderContract):
    explains = True

    @pytest.fixture(params=["mean", "max"])
    def recommender(self, request: pytest.FixtureRequest) -> Recommender:
        return ContentRecommender(aggregation=request.param)


class TestHybrid(RecommenderContract):
    @pytest.fixture
    def recommender(self) -> Recommender:
        return HybridRecommender(
            {
                "content": ContentRecommender(),
                "knn": ItemKNNRecommender(),
                "ease": EASERecommender(lambda_=2.0),
                "popular": TimeAwarePopularityRecommender(),
                "metadata": MetadataAffinityRecommender(),
            },
            {"content": 1.0, "knn": 0.5, "ease": 0.5, "popular": 0.3, "metadata": 0.7},
        )
