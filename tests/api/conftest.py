"""A live studio server on a free loopback port, over a fresh data folder, serving the tiny model."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from anchortune.app.workspace import StudioConfig, Workspace

FAST = {"batch_size": 4, "max_length": 256, "precision": "fp32", "learning_rate": 3e-3, "eval_every": 3,
        "val_fraction": 0.25}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, workspace: Workspace, workers: int = 1):
        import uvicorn

        from anchortune.api.app import create_app

        self.workspace = workspace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(workspace, workers=workers), host="127.0.0.1", port=self.port,
                                log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("studio server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def make_studio(tmp_path, tiny_model_dir):
    def make(token: str | None = None, **overrides) -> Workspace:
        config = StudioConfig(data_dir=tmp_path / "studio", token=token, models={"tiny": str(tiny_model_dir)},
                              lease_s=overrides.pop("lease_s", 30.0), **overrides)
        return Workspace(config)

    return make


@pytest.fixture
def live_server(make_studio):
    with LiveServer(make_studio()) as server:
        yield server
