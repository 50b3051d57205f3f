"""IDs: the table-driven base32 encoder gives exactly the ULID body the bit-by-bit one did."""

from __future__ import annotations

import random
import threading

import pytest

from zigznote import ids

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U


def reference_encode(value: int, length: int) -> str:
    """The original encoder: five bits at a time, least significant first."""
    chars = []
    for _ in range(length):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def test_encode_matches_the_reference_on_random_values() -> None:
    rng = random.Random(20240601)
    for _ in range(20_000):
        ms, rand = rng.getrandbits(48), rng.getrandbits(80)
        assert ids._encode(ms, rand) == reference_encode((ms << 80) | rand, 26)


@pytest.mark.parametrize(
    ("ms", "rand"),
    [(0, 0), (0, 1), (1, 0), ((1 << 48) - 1, (1 << 80) - 1), (1 << 47, 1 << 79), (1_700_000_000_000, 12345)],
)
def test_encode_matches_the_reference_on_edge_values(ms: int, rand: int) -> None:
    assert ids._encode(ms, rand) == reference_encode((ms << 80) | rand, 26)


def test_new_id_shape() -> None:
    value = ids.new_id("msg")
    head, _, body = value.partition("_")
    assert head == "msg" and len(body) == 26 and set(body) <= set(ALPHABET)
    assert ids.looks_like(value, "msg") and not ids.looks_like(value, "evt")
    with pytest.raises(ValueError, match="unknown ID prefix 'nope'"):
        ids.new_id("nope")


def test_new_ids_strictly_increase_within_a_process() -> None:
    made = [ids.new_id("evt") for _ in range(20_000)]  # many share a millisecond
    assert made == sorted(made) and len(set(made)) == len(made)


def test_new_ids_strictly_increase_across_threads() -> None:
    out: list[list[str]] = [[] for _ in range(4)]

    def work(bucket: list[str]) -> None:
        bucket.extend(ids.new_id("att") for _ in range(2_000))

    threads = [threading.Thread(target=work, args=(b,)) for b in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for bucket in out:
        assert bucket == sorted(bucket)
    every = [i for b in out for i in b]
    assert len(set(every)) == len(every)


def test_random_part_overflow_borrows_the_next_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    far_future = 1 << 47  # later than the clock, so the same-millisecond branch runs
    monkeypatch.setattr(ids, "_last_ms", far_future)
    monkeypatch.setattr(ids, "_last_rand", (1 << 80) - 1)
    first = ids.new_id("wh")
    second = ids.new_id("wh")
    assert ids._last_ms == far_future + 1
    assert first < second
    assert first.removeprefix("wh_") == reference_encode((far_future + 1) << 80, 26)
