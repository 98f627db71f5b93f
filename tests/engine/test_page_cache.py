"""The training's page cache: bounded at step ends by the memory held after the first step, handed back around
evaluations and at the end; it never changes the allocator's settings (those are the process's, set at its start)."""

from __future__ import annotations

from anchortune import allocator
from anchortune.engine import page_cache


def test_the_cache_is_released_only_past_the_first_steps_memory_plus_slack(monkeypatch):
    resident = {"now": 1000 * 2**20}
    released = []
    monkeypatch.setattr(allocator, "resident_bytes", lambda: resident["now"])
    monkeypatch.setattr(allocator, "release", lambda: released.append(resident["now"]) or True)
    cache = page_cache.PageCache()
    cache.open()
    cache.on_step_end(None, None, None)  # the first step sets the bound
    assert cache.limit == 1250 * 2**20 and released == []  # a quarter of the first step's memory more
    resident["now"] = cache.limit
    cache.on_step_end(None, None, None)
    assert released == []
    resident["now"] = cache.limit + 1
    cache.on_step_end(None, None, None)
    assert released == [cache.limit + 1] and cache.releases == 1
    cache.on_train_end(None, None, None)
    assert cache.releases == 2
    cache.open()  # the next training measures its own bound
    assert cache.limit is None


def test_a_small_first_step_still_gets_the_minimum_slack(monkeypatch):
    monkeypatch.setattr(allocator, "resident_bytes", lambda: 100 * 2**20)
    cache = page_cache.PageCache()
    cache.open()
    cache.on_step_end(None, None, None)
    assert cache.limit == 100 * 2**20 + page_cache.SLACK_BYTES


def test_the_allocator_keeps_no_switch_a_run_could_flip():
    assert not hasattr(allocator, "keep_freed_pages")  # its policy is MALLOC_CONF's, fixed at the process's start
    assert "muzzy_decay_ms:-1" in allocator.JEMALLOC_CONF
