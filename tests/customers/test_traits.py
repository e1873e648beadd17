"""Trait patches and merges by per-trait recency (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cxprism.customers.traits import TraitState, apply_patch, merge

T0 = datetime(2025, 1, 1, tzinfo=UTC)
keys = st.sampled_from(["a", "b", "c", "d"])
patches = st.lists(st.tuples(st.booleans(), st.dictionaries(keys, st.none() | st.integers(0, 9),
                                                            max_size=3)), max_size=8)


@given(patches)
def test_merge_equals_replaying_both_histories_in_time_order(
        history: list[tuple[bool, dict[str, int | None]]]) -> None:
    """Two profiles patched at interleaved times merge to what one profile would hold had it
    received every patch in time order — whichever profile is the winner."""
    winner, loser, single = TraitState(), TraitState(), TraitState()
    for step, (to_winner, patch) in enumerate(history):
        now = T0 + timedelta(seconds=step)
        if to_winner:
            winner, _ = apply_patch(winner, patch, now)
        else:
            loser, _ = apply_patch(loser, patch, now)
        single, _ = apply_patch(single, patch, now)
    assert merge(winner, loser).traits == single.traits
    assert merge(loser, winner).traits == single.traits


def test_patch_reports_changes_and_null_deletes() -> None:
    state, changed = apply_patch(TraitState({"a": 1, "b": 2}), {"a": 1, "b": None, "c": None,
                                                                 "d": 4}, T0)
    assert state.traits == {"a": 1, "d": 4}
    assert changed == ["b", "d"]
    assert set(state.stamps) == {"a", "b", "c", "d"}


def test_a_later_deletion_is_not_undone_by_merging_an_older_value() -> None:
    winner, _ = apply_patch(TraitState(), {"plan": None}, T0 + timedelta(days=1))
    loser, _ = apply_patch(TraitState(), {"plan": "gold"}, T0)
    assert merge(winner, loser).traits == {}
    assert merge(loser, winner).traits == {}


def test_ties_go_to_the_winner_and_unstamped_traits_count_as_oldest() -> None:
    a, _ = apply_patch(TraitState(), {"x": 1}, T0)
    b, _ = apply_patch(TraitState(), {"x": 2}, T0)
    assert merge(a, b).traits == {"x": 1}
    legacy = TraitState({"x": 0, "y": 5})
    assert merge(legacy, a).traits == {"x": 1, "y": 5}
    assert merge(a, legacy).traits == {"x": 1, "y": 5}
