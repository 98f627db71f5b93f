"""The job store on SQLite and PostgreSQL: migrations, life cycle rules, exclusive claims, leases, cancellation, events."""

from __future__ import annotations

import threading
import time

import pytest

from anchortune.errors import ConfigError
from anchortune.jobs import states
from anchortune.jobs.store import Store
from anchortune.jobs.worker import Worker


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> Store:
    """The same tests on the embedded SQLite file and on a real PostgreSQL server (fresh schema each)."""
    if request.param == "sqlite":
        return Store.sqlite(tmp_path / "studio.db")
    from sqlalchemy import create_engine, text

    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return Store(url)


def job(store: Store) -> dict:
    return store.create_job(model="m", task="support", training_file="file-1", validation_file=None, options={},
                            seed=1)


def test_the_schema_is_migrated_to_the_newest_revision_once(store):
    assert store.revision() == "0003"
    again = Store(store.url)  # a second open (another process) finds it current
    assert again.revision() == "0003"


def test_a_bad_database_url_is_a_clear_error():
    with pytest.raises(ConfigError, match="cannot open the database 'nosuchdb://\\*\\*\\*@host/x'"):
        Store("nosuchdb://user:pw@host/x")


def test_the_life_cycle_allows_only_its_own_moves(store):
    j = job(store)
    assert j["status"] == states.VALIDATING
    assert not store.move(j["id"], states.SUCCEEDED)
    assert store.move(j["id"], states.QUEUED) and store.move(j["id"], states.RUNNING)
    assert store.move(j["id"], states.SUCCEEDED, fine_tuned_model="ft:m::x")
    assert not store.move(j["id"], states.RUNNING) and not store.move(j["id"], states.CANCELLED)
    done = store.job(j["id"])
    assert done["finished_at"] and done["worker"] is None


def test_two_workers_never_claim_the_same_job(store):
    ids = {job(store)["id"] for _ in range(6)}
    claimed: list[str] = []
    lock = threading.Lock()

    def grab(name: str) -> None:
        while (found := store.claim(name, 60)) is not None:
            with lock:
                claimed.append(found["id"])

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


def test_an_orphaned_running_job_is_claimed_again_after_its_lease(store):
    j = job(store)
    store.move(j["id"], states.QUEUED)
    store.claim("dead", 60)
    store.move(j["id"], states.RUNNING)
    assert store.claim("next", 60) is None  # lease still fresh
    store.change(j["id"], heartbeat_at=time.time() - 120)
    taken = store.claim("next", 60)
    assert taken["worker"] == "next" and taken["attempts"] == 2


def test_cancelling_a_waiting_job_is_immediate_and_a_running_one_is_flagged(store):
    waiting = job(store)
    assert store.request_cancel(waiting["id"])["status"] == states.CANCELLED
    running = job(store)
    store.move(running["id"], states.QUEUED)
    store.claim("w", 60)
    store.move(running["id"], states.RUNNING)
    flagged = store.request_cancel(running["id"])
    assert flagged["status"] == states.RUNNING and flagged["cancel_requested"]


def test_a_worker_runs_validation_then_training_and_reports_failures(store):
    calls = []

    def validate(ctx):
        calls.append("validate")
        ctx.report("info", "looked at the data")

    def train(ctx):
        calls.append("train")
        ctx.report("info", "trained", type="metrics", step=3, data={"step": 3, "train_loss": 1.0})
        return {"fine_tuned_model": "ft:m::done", "trained_tokens": 10}

    j = job(store)
    worker = Worker(store, validate, train, lease_s=60, name="w")
    assert worker.run_once() and store.job(j["id"])["status"] == states.QUEUED
    assert worker.run_once() and store.job(j["id"])["status"] == states.SUCCEEDED
    assert not worker.run_once()
    assert calls == ["validate", "train"]
    assert [e["type"] for e in store.events(j["id"])].count("metrics") == 1

    def broken(ctx):
        raise ConfigError("learning_rate: must be positive")

    bad = job(store)
    Worker(store, broken, train, lease_s=60).run_once()
    failed = store.job(bad["id"])
    assert failed["status"] == states.FAILED and failed["error"]["message"] == "learning_rate: must be positive"
    assert store.events(bad["id"])[-1]["level"] == "error"


def test_a_running_job_stops_at_its_next_event_once_cancelled(store):
    started = threading.Event()

    def train(ctx):
        started.set()
        for step in range(1000):
            time.sleep(0.01)
            ctx.report("info", f"step {step}", type="progress", step=step)
        return {}

    j = job(store)
    worker = Worker(store, lambda ctx: None, train, lease_s=0.4, name="w")
    worker.run_once()
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    started.wait(10)
    store.request_cancel(j["id"])
    runner.join(20)
    assert store.job(j["id"])["status"] == states.CANCELLED
    assert len(store.events(j["id"])) < 900


def test_events_page_both_ways_and_resume_drops_metrics_past_the_checkpoint(store):
    j = job(store)
    for step in (2, 4, 6, 8):
        store.add_event(j["id"], "info", f"step {step}", type="metrics", step=step, data={"step": step})
        store.add_checkpoint(j["id"], step, {"step": step})
    ids = [e["id"] for e in store.events(j["id"])]
    assert [e["id"] for e in store.events(j["id"], after=ids[1])] == ids[2:]
    assert [e["id"] for e in store.events(j["id"], after=ids[2], newest_first=True)] == ids[1::-1]
    store.drop_metrics_after(j["id"], 4)
    assert [e["step"] for e in store.events(j["id"])] == [2, 4]
    assert [c["step"] for c in store.checkpoints(j["id"])] == [4, 2]


def test_event_ids_are_never_reused_after_a_resume_drops_metrics(store):
    j = job(store)
    for step in (2, 4, 6):
        store.add_event(j["id"], "info", f"step {step}", type="metrics", step=step)
    last = max(e["id"] for e in store.events(j["id"]))
    store.drop_metrics_after(j["id"], 2)  # the resume goes back to step 2: the events of steps 4 and 6 are gone
    resumed = store.add_event(j["id"], "warning", "resuming from the checkpoint at step 2")
    assert resumed > last  # a browser that saw `last` (Last-Event-ID) still gets the resume warning


def test_a_database_made_by_the_first_revision_is_migrated(tmp_path):
    """A studio database written before revision 0002 keeps its events and stops reusing ids."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", "anchortune.jobs:migrations")
    with create_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    store = Store(url)
    assert store.revision() == "0003"
    j = job(store)
    first = store.add_event(j["id"], "info", "one", type="metrics", step=4)
    store.drop_metrics_after(j["id"], 2)
    assert store.add_event(j["id"], "info", "two") > first


def test_jobs_page_newest_first_with_filters_search_and_a_cursor(store):
    """The overview's and the API's listing: 60 jobs in a burst, every one reachable page by page."""
    made = []
    for i in range(60):
        row = store.create_job(model="m" if i % 2 else "other", task="support" if i % 3 else "legal",
                               training_file="file-1", validation_file=None, options={}, seed=1,
                               suffix="shop" if i == 7 else None)
        made.append(row["id"])
    store.move(made[7], states.CANCELLED)
    pages = [store.jobs(limit=25, offset=o) for o in (0, 25, 50)]
    assert [len(p) for p in pages] == [25, 25, 10] and {j["id"] for p in pages for j in p} == set(made)
    walked, after = [], None
    while True:
        chunk = store.jobs(limit=7, after=after)
        walked += [j["id"] for j in chunk]
        if len(chunk) < 7:
            break
        after = chunk[-1]["id"]
    assert walked == [j["id"] for p in pages for j in p]  # the cursor walks the same order, none twice
    assert store.count_jobs(statuses=(states.CANCELLED,)) == 1 and store.job_counts()[states.VALIDATING] == 59
    assert {j["id"] for j in store.jobs(task="legal", model="other")} == \
        {made[i] for i in range(60) if i % 3 == 0 and i % 2 == 0}
    assert [j["id"] for j in store.jobs(search="SHOP")] == [made[7]]
    assert [j["id"] for j in store.jobs(search=made[13][-10:])] == [made[13]]
    assert store.jobs(search="%") == [] and store.job_facets() == {"task": ["legal", "support"], "model": ["m", "other"]}
    assert store.delete_job(made[0]) and store.job(made[0]) is None and store.count_jobs() == 59
