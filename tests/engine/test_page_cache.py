"""The training's page cache: bounded at step ends by the first step's peak, handed back around evaluations."""

from __future__ import annotations

from anchortune import allocator
from anchortune.engine import page_cache


def test_the_cache_is_released_only_past_the_first_steps_peak_plus_slack(monkeypatch):
    resident = {"now": 0}
    released = []
    monkeypatch.setattr(page_cache, "peak_bytes", lambda: 1000 * 2**20)
    monkeypatch.setattr(allocator, "resident_bytes", lambda: resident["now"])
    monkeypatch.setattr(allocator, "release", lambda: released.append(resident["now"]) or True)
    kept = []
    monkeypatch.setattr(allocator, "keep_freed_pages", lambda keep: kept.append(keep) or True)
    cache = page_cache.PageCache()
    cache.on_train_begin(None, None, None)
    cache.on_step_end(None, None, None)  # the first step sets the bound
    assert cache.limit == 1250 * 2**20 and released == []  # a quarter of the first step's peak more
    resident["now"] = cache.limit
    cache.on_step_end(None, None, None)
    assert released == []
    resident["now"] = cache.limit + 1
    cache.on_step_end(None, None, None)
    assert released == [cache.limit + 1] and cache.releases == 1
    cache.on_train_end(None, None, None)
    assert cache.releases == 2 and kept == [True, False]


def test_a_small_first_step_still_gets_the_minimum_slack(monkeypatch):
    monkeypatch.setattr(page_cache, "peak_bytes", lambda: 100 * 2**20)
    monkeypatch.setattr(allocator, "keep_freed_pages", lambda keep: True)
    cache = page_cache.PageCache()
    cache.on_train_begin(None, None, None)
    cache.on_step_end(None, None, None)
    assert cache.limit == 100 * 2**20 + page_cache.SLACK_BYTES
