"""The writer's timestamp codec agrees with asyncpg's own, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from cxprism.kit.db import Database
from cxprism.kit.pg_codecs import PG_EPOCH, decode_timestamptz, encode_timestamptz

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=offsets)


@given(aware)
def test_encoding_counts_microseconds_from_postgres_epoch_in_utc(value: datetime) -> None:
    delta = value.astimezone(UTC) - PG_EPOCH  # what asyncpg computes, term by term
    [micros] = encode_timestamptz(value)
    assert micros == delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
    assert decode_timestamptz((micros,)) == value


def test_a_naive_datetime_is_refused_not_read_as_local_time() -> None:
    with pytest.raises(TypeError):
        encode_timestamptz(datetime(2026, 12, 3, 12, 0))


def _pg_only(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("a PostgreSQL codec")


async def test_values_written_with_it_read_back_equal_through_asyncpgs_codec(
        db: Database) -> None:
    _pg_only(db)
    values = [datetime(1, 1, 2, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999999, UTC),
              PG_EPOCH, datetime(2026, 12, 3, 17, 30, 1, 123456, timezone(timedelta(hours=5))),
              datetime(9999, 12, 30, 23, 59, 59, 999999, UTC)]
    writer = db.dedicated(1)
    try:
        async with writer.session() as session:  # encoded by ours, printed by PostgreSQL
            printed = [(await session.execute(text("SELECT CAST(:v AS timestamptz)::text"),
                                              {"v": v})).scalar_one() for v in values]
        async with db.session() as session:  # the same text, decoded by asyncpg's
            read = [(await session.execute(text("SELECT CAST(CAST(:t AS text) AS timestamptz)"),
                                           {"t": p})).scalar_one() for p in printed]
        assert read == values
        async with writer.session() as session:
            infinite = (await session.execute(text(
                "SELECT ARRAY['infinity'::timestamptz, '-infinity'::timestamptz]"))).scalar_one()
        assert infinite == [datetime.max, datetime.min]  # as asyncpg itself returns them
    finally:
        await writer.dispose()
