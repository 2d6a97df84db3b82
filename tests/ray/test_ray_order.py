"""Sequence numbers and the reorder buffer (no Ray needed: they run in the default install)."""

from __future__ import annotations

from runtime.ray._order import Clocks, Reorder


def test_the_gateway_numbers_each_session_and_floors_at_its_lowest_unsettled_item() -> None:
    clocks = Clocks()
    assert clocks.stamp("a") == (0, 0)
    assert clocks.stamp("a") == (1, 0)
    assert clocks.stamp("b") == (0, 0)
    clocks.settle("a", 0)
    assert clocks.floor("a") == 1
    assert clocks.stamp("a") == (2, 1)
    clocks.settle("a", 2)  # settled out of order: item 1 still holds the floor
    assert clocks.floor("a") == 1
    clocks.settle("a", 1)
    assert clocks.floor("a") == 3 == clocks.next_seq("a")


def test_items_arriving_early_wait_for_the_ones_before_them() -> None:
    order: Reorder[str] = Reorder()
    assert order.offer("a", 2, 0, "a2", now=0.0) == []
    assert order.offer("a", 1, 0, "a1", now=0.0) == []
    assert order.offer("b", 0, 0, "b0", now=0.0) == ["b0"]  # other sessions never wait
    assert order.held == 2
    assert order.offer("a", 0, 0, "a0", now=0.0) == ["a0", "a1", "a2"]
    assert order.held == 0


def test_a_resend_of_a_started_item_starts_again_at_once() -> None:
    order: Reorder[str] = Reorder()
    assert order.offer("a", 0, 0, "a0", now=0.0) == ["a0"]
    assert order.offer("a", 0, 0, "a0 again", now=0.0) == ["a0 again"]  # its message_id answers


def test_a_restarted_shard_learns_where_the_session_stands_from_the_floor() -> None:
    order: Reorder[str] = Reorder()  # a new incarnation knows nothing of session "a"
    assert order.offer("a", 8, 7, "a8", now=0.0) == []  # 7 is still unsettled: wait for it
    assert order.offer("a", 7, 7, "a7", now=0.0) == ["a7", "a8"]


def test_a_floor_past_held_items_releases_them_in_order() -> None:
    order: Reorder[str] = Reorder()
    assert order.offer("a", 2, 0, "a2", now=0.0) == []
    # The gateway gave up on 0 and 1 (settled): item 3 says so.
    assert order.offer("a", 3, 2, "a3", now=0.0) == ["a2", "a3"]


def test_a_gap_older_than_the_timeout_gives_up_its_held_items() -> None:
    order: Reorder[str] = Reorder()
    assert order.offer("a", 3, 0, "a3", now=0.0) == []
    assert order.offer("a", 4, 0, "a4", now=1.0) == []
    assert order.expire(now=5.0, gap=10.0) == []
    assert order.expire(now=10.0, gap=10.0) == ["a3", "a4"]
    assert order.offer("a", 5, 0, "a5", now=11.0) == ["a5"]  # the session goes on
    assert order.offer("a", 1, 0, "a1 late", now=11.0) == ["a1 late"]
    assert order.drain() == []


def test_only_the_next_item_in_a_sessions_line_skips_the_buffer() -> None:
    order: Reorder[str] = Reorder()
    assert order.in_line("a", 0, 0)
    assert not order.in_line("a", 2, 0)  # early: offer() holds it
    assert order.offer("a", 2, 0, "a2", now=0.0) == []
    assert not order.in_line("a", 1, 0)  # next in line, but items wait: offer() releases them
    assert order.offer("a", 1, 0, "a1", now=0.0) == ["a1", "a2"]
    assert order.in_line("a", 3, 0)
    assert order.in_line("b", 5, 5)  # a new session (a restarted shard) starts at the floor
    assert not order.in_line("b", 5, 5)  # a resend of a started item: offer() starts it again
    assert order.offer("b", 5, 5, "b5 again", now=0.0) == ["b5 again"]
    assert order.held == 0
