"""The studio's tracking settings: the backend a new job is tracked in unless it names one, and an MLflow tracking
server; a job reads them when it is created (app/jobs.py). Runs compared and traced are app/compare.py's.

The studio's tracking URI is a server's (http or https) or none: a job's options never name one, so no request can
point MLflow at a path on the studio's machine; the default store lies under the data folder (MLFLOW_TRACKING_URI
where the studio starts overrides it).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from anchortune import tracking
from anchortune.config import RunConfig
from anchortune.errors import ConfigError
from anchortune.messages import say
from anchortune.tracking import require  # noqa: F401  (a new job's backend, checked at creation)

DEFAULTS = {"track": "none", "tracking_uri": ""}


def settings(ws) -> dict:
    """The studio's tracking settings (defaults where none was saved)."""
    stored = ws.store.settings()
    return {key: stored.get(key, value) for key, value in DEFAULTS.items()}


def save_settings(ws, track: str, tracking_uri: str = "") -> dict:
    """Check and store the studio's tracking backend and MLflow tracking server."""
    uri = (tracking_uri or "").strip()
    if track not in tracking.BACKENDS:
        raise ConfigError(say("e_track_choice", text=track), param="track")
    if uri and urlsplit(uri).scheme not in ("http", "https"):
        raise ConfigError(say("e_tracking_uri_server"), param="tracking_uri")
    tracking.require(RunConfig.build(data="-", track=track, tracking_uri=uri if track == "mlflow" and uri else None))
    ws.store.put_settings({"track": track, "tracking_uri": uri})
    return settings(ws)


def job_options(ws, options: dict) -> dict:
    """A new job's options with the studio's backend where they name none."""
    if options.get("track") in (None, "") and settings(ws)["track"] != "none":
        return {**options, "track": settings(ws)["track"]}
    return options


def tracking_uri(ws, track: str) -> str | None:
    """Where a job tracked in MLflow writes: the studio's server, else MLFLOW_TRACKING_URI, else DATA/mlflow/."""
    if track != "mlflow":
        return None
    return settings(ws)["tracking_uri"] or tracking.mlflow_uri(None, ws.data)
