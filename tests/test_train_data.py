"""TrainData: the per-user training log recommenders are fitted on."""

from __future__ import annotations

import numpy as np
import pytest

from artrec.data.catalog import Catalog, Interactions
from artrec.errors import DataError
from artrec.recommend.base import TrainData, train_data_from


def _catalog() -> Catalog:
    return Catalog(
        np.array(["a", "b", "c"], dtype=object),
        metadata={"artist": np.array(["Monet", "unknown", None], dtype=object)},
    )


def test_from_log_numbers_users_and_drops_unknown_items() -> None:
    log = Interactions(
        np.array(["u2", "u1", "u2", "u2", "u3"], dtype=object),
        np.array(["c", "a", "a", "zzz", "c"], dtype=object),
        np.array([5.0, 1.0, 2.0, 3.0, np.nan]),
        np.array(["purchase", "like", "purchase", "purchase", "like"], dtype=object),
    )
    data = train_data_from(_catalog(), log)
    assert data.user_ids.tolist() == ["u2", "u1", "u3"]
    assert data.users.tolist() == [0, 1, 0, 2]
    assert data.interactions_rows.tolist() == [2, 0, 0, 2]
    assert data.kinds.tolist() == ["purchase", "like", "purchase", "like"]
    assert data.reference_time == 5.0
    assert data.metadata["artist"].tolist() == ["Monet", None, None]
    assert data.user_items().toarray().tolist() == [[1, 0, 1], [1, 0, 0], [0, 0, 1]]
    # time order within a user: u2 bought a at 2 and c at 5
    assert [p.tolist() for p in data.profiles()] == [[0, 2], [0], [2]]


def test_counts_and_binary_user_items() -> None:
    data = TrainData(
        3,
        interactions_rows=np.array([1, 1, 2]),
        users=np.array([0, 0, 0]),
        user_ids=np.array(["u"], dtype=object),
    )
    assert data.user_items(binary=False).toarray().tolist() == [[0, 2, 1]]
    assert data.user_items().toarray().tolist() == [[0, 1, 1]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interactions_rows": np.array([3])},
        {"interactions_rows": np.array([0]), "users": np.array([0])},
        {
            "interactions_rows": np.array([0]),
            "users": np.array([1]),
            "user_ids": np.array(["u"], dtype=object),
        },
        {"interactions_rows": np.array([0, 1]), "timestamps": np.array([1.0])},
        {"metadata": {"medium": np.array(["oil"], dtype=object)}},
    ],
)
def test_misaligned_columns_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(DataError):
        TrainData(3, **kwargs)  # type: ignore[arg-type]


def test_no_per_user_log_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="no per-user log"):
        TrainData(3, interactions_rows=np.array([0])).user_items()
