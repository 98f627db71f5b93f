"""The studio's store over SQLAlchemy: files, jobs, events, checkpoints and settings as plain dicts.

SQLite (WAL, busy timeout) by default, any SQLAlchemy URL otherwise (PostgreSQL via psycopg). The
schema is brought to the newest Alembic revision when a store opens. Claiming a job is one
conditional UPDATE, so two workers never take the same job; a running job whose heartbeat is older
than the lease is orphaned and may be claimed again (its worker died).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, delete, event, func, or_, select, update
from sqlalchemy.orm import sessionmaker

from anchortune.errors import ConfigError
from anchortune.jobs import states
from anchortune.jobs.schema import CheckpointRow, EventRow, FileRow, JobRow, SettingRow


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _plain(row) -> dict:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns} if row is not None else None


class Store:
    """One database: open it with a URL; every method is one short transaction."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = create_engine(url, **_engine_options(url))
        except Exception as exc:  # a malformed URL or a missing driver
            raise ConfigError(f"cannot open the database '{_redact(url)}': {exc}") from None
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.session = sessionmaker(self.engine, expire_on_commit=False)
        self.migrate()

    @classmethod
    def sqlite(cls, path: Path) -> "Store":
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic, scripts packaged with anchortune)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", "anchortune.jobs:migrations")
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    # files -------------------------------------------------------------------------------------------
    def add_file(self, **fields) -> dict:
        row = FileRow(id=fields.pop("id", None) or new_id("file"), created_at=int(time.time()), deleted=False,
                      **fields)
        with self.session.begin() as s:
            s.add(row)
        return _plain(row)

    def file(self, file_id: str) -> dict | None:
        with self.session() as s:
            row = s.get(FileRow, file_id)
            return _plain(row) if row is not None and not row.deleted else None

    def files(self, purpose: str | None = None) -> list[dict]:
        query = select(FileRow).where(FileRow.deleted.is_(False)).order_by(FileRow.created_at.desc(), FileRow.id)
        if purpose:
            query = query.where(FileRow.purpose == purpose)
        with self.session() as s:
            return [_plain(r) for r in s.scalars(query)]

    def delete_file(self, file_id: str) -> bool:
        with self.session.begin() as s:
            done = s.execute(update(FileRow).where(FileRow.id == file_id, FileRow.deleted.is_(False))
                             .values(deleted=True))
            return done.rowcount == 1

    # jobs --------------------------------------------------------------------------------------------
    def create_job(self, **fields) -> dict:
        row = JobRow(id=new_id("ftjob"), status=states.VALIDATING, created_at=int(time.time()),
                     cancel_requested=False, attempts=0, **fields)
        with self.session.begin() as s:
            s.add(row)
        return _plain(row)

    def job(self, job_id: str) -> dict | None:
        with self.session() as s:
            return _plain(s.get(JobRow, job_id))

    def jobs(self, limit: int | None = None, statuses: tuple[str, ...] = (), offset: int = 0, task: str | None = None,
             model: str | None = None, search: str | None = None, after: str | None = None) -> list[dict]:
        """Jobs newest first, filtered (status, task, base model, text in id, model, tuned model or suffix), a page
        of them (`offset`, `limit`, or the ones after the job `after`)."""
        query = self._filtered(select(JobRow), statuses, task, model, search)
        if after:
            with self.session() as s:
                anchor = s.get(JobRow, after)
            if anchor is None:
                return []
            query = query.where(or_(JobRow.created_at < anchor.created_at,
                                    (JobRow.created_at == anchor.created_at) & (JobRow.id < anchor.id)))
        query = query.order_by(JobRow.created_at.desc(), JobRow.id.desc())
        if offset:
            query = query.offset(offset)
        if limit:
            query = query.limit(limit)
        with self.session() as s:
            return [_plain(r) for r in s.scalars(query)]

    def count_jobs(self, statuses: tuple[str, ...] = (), task: str | None = None, model: str | None = None,
                   search: str | None = None) -> int:
        query = self._filtered(select(func.count()).select_from(JobRow), statuses, task, model, search)
        with self.session() as s:
            return s.scalar(query) or 0

    def job_counts(self) -> dict[str, int]:
        """How many jobs each status has."""
        with self.session() as s:
            return {status: n for status, n in s.execute(select(JobRow.status, func.count()).group_by(JobRow.status))}

    def disk_bytes(self) -> int:
        """The bytes finished jobs keep, as recorded when they finished (what the overview shows without walking
        the data folder)."""
        with self.session() as s:
            return int(s.scalar(select(func.coalesce(func.sum(JobRow.disk_bytes), 0))) or 0)

    def job_facets(self) -> dict[str, list[str]]:
        """The tasks and base models jobs were made with (what the overview's filters offer)."""
        with self.session() as s:
            return {"task": sorted(s.scalars(select(JobRow.task).distinct())),
                    "model": sorted(s.scalars(select(JobRow.model).distinct()))}

    @staticmethod
    def _filtered(query, statuses, task, model, search):
        if statuses:
            query = query.where(JobRow.status.in_(statuses))
        if task:
            query = query.where(JobRow.task == task)
        if model:
            query = query.where(JobRow.model == model)
        if search:
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(*(column.ilike(like, escape="\\") for column in
                                      (JobRow.id, JobRow.model, JobRow.fine_tuned_model, JobRow.suffix))))
        return query

    def delete_job(self, job_id: str) -> bool:
        """Remove a job with its events and checkpoints."""
        with self.session.begin() as s:
            s.execute(delete(EventRow).where(EventRow.job_id == job_id))
            s.execute(delete(CheckpointRow).where(CheckpointRow.job_id == job_id))
            return s.execute(delete(JobRow).where(JobRow.id == job_id)).rowcount == 1

    def move(self, job_id: str, target: str, **fields) -> bool:
        """Change a job's status if its life cycle allows it (atomic); other fields change with it."""
        allowed = [s for s, nxt in states.NEXT.items() if target in nxt]
        if target in states.FINAL:
            fields.setdefault("finished_at", int(time.time()))
            fields.setdefault("worker", None)
        with self.session.begin() as s:
            done = s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(allowed))
                             .values(status=target, **fields))
            return done.rowcount == 1

    def change(self, job_id: str, **fields) -> None:
        with self.session.begin() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id).values(**fields))

    def request_cancel(self, job_id: str) -> dict | None:
        """Cancel a job: at once when no worker holds it, otherwise by flag the worker sees at its next beat."""
        job = self.job(job_id)
        if job is None or job["status"] in states.FINAL:
            return job
        self.change(job_id, cancel_requested=True)
        if job["worker"] is None or job["status"] != states.RUNNING:
            self.move(job_id, states.CANCELLED)
        return self.job(job_id)

    def claim(self, worker: str, lease_s: float) -> dict | None:
        """The oldest job waiting for a worker (validating, queued, or running but orphaned), now this worker's."""
        now = time.time()
        waiting = or_(JobRow.status.in_((states.VALIDATING, states.QUEUED)) & JobRow.worker.is_(None),
                      (JobRow.status == states.RUNNING) & or_(JobRow.worker.is_(None),
                                                              JobRow.heartbeat_at < now - lease_s))
        with self.session() as s:
            candidates = list(s.scalars(select(JobRow.id).where(waiting, JobRow.cancel_requested.is_(False))
                                        .order_by(JobRow.created_at, JobRow.id).limit(5)))
        for job_id in candidates:
            with self.session.begin() as s:
                done = s.execute(update(JobRow).where(JobRow.id == job_id, waiting)
                                 .values(worker=worker, heartbeat_at=now, attempts=JobRow.attempts + 1))
            if done.rowcount == 1:
                return self.job(job_id)
        return None

    def heartbeat(self, job_id: str, worker: str) -> dict:
        """Renew this worker's lease; the job as stored (its cancel flag, or another worker now holding it)."""
        with self.session.begin() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.worker == worker)
                      .values(heartbeat_at=time.time()))
        return self.job(job_id)

    def release(self, job_id: str, worker: str) -> None:
        with self.session.begin() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.worker == worker).values(worker=None))

    def orphan_running(self) -> int:
        """Jobs marked running with no live worker on record (used after a whole-store restart)."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(JobRow).where(JobRow.status == states.RUNNING)) or 0

    # events and checkpoints --------------------------------------------------------------------------
    def add_event(self, job_id: str, level: str, message: str, type: str = "message", step: int = 0,
                  data: dict | None = None) -> int:
        row = EventRow(job_id=job_id, created_at=time.time(), level=states.event_level(level), type=type,
                       message=message, step=step,
                       data=data)
        with self.session.begin() as s:
            s.add(row)
        return row.id

    def events(self, job_id: str, after: int | None = None, limit: int | None = None,
               newest_first: bool = False, skip_types: tuple[str, ...] = ()) -> list[dict]:
        """Events of a job; `after` is an event id (older ones when newest first, newer ones otherwise)."""
        query = select(EventRow).where(EventRow.job_id == job_id)
        if skip_types:
            query = query.where(EventRow.type.not_in(skip_types))
        if after is not None:
            query = query.where(EventRow.id < after if newest_first else EventRow.id > after)
        query = query.order_by(EventRow.id.desc() if newest_first else EventRow.id)
        if limit:
            query = query.limit(limit)
        with self.session() as s:
            return [_plain(r) for r in s.scalars(query)]

    def drop_metrics_after(self, job_id: str, step: int) -> None:
        """Forget metrics past a checkpoint a resumed job goes back to, so its curve has no duplicates."""
        with self.session.begin() as s:
            s.execute(delete(EventRow).where(EventRow.job_id == job_id, EventRow.type == "metrics",
                                             EventRow.step > step))
            s.execute(delete(CheckpointRow).where(CheckpointRow.job_id == job_id, CheckpointRow.step > step))

    def drop_progress(self, job_id: str) -> None:
        """Forget a job's progress events (a restart from step 0 reports its own)."""
        with self.session.begin() as s:
            s.execute(delete(EventRow).where(EventRow.job_id == job_id, EventRow.type == "progress"))

    def drop_checkpoints(self, job_id: str, steps: list[int]) -> None:
        """Forget checkpoints whose files were removed (retention), so every listed one can be loaded."""
        with self.session.begin() as s:
            s.execute(delete(CheckpointRow).where(CheckpointRow.job_id == job_id, CheckpointRow.step.in_(steps)))

    def add_checkpoint(self, job_id: str, step: int, metrics: dict) -> None:
        with self.session.begin() as s:
            s.add(CheckpointRow(job_id=job_id, step=step, created_at=int(time.time()), metrics=metrics))

    def checkpoints(self, job_id: str) -> list[dict]:
        query = select(CheckpointRow).where(CheckpointRow.job_id == job_id).order_by(CheckpointRow.step.desc())
        with self.session() as s:
            return [_plain(r) for r in s.scalars(query)]


    # settings ----------------------------------------------------------------------------------------------
    def settings(self) -> dict:
        with self.session() as s:
            return {row.key: row.value for row in s.scalars(select(SettingRow))}

    def put_settings(self, values: dict) -> None:
        with self.session.begin() as s:
            for key, value in values.items():
                s.merge(SettingRow(key=key, value=value))


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
