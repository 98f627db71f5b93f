"""What a browser tab on the same machine must not be able to do to a loopback studio, and input that must be refused
with the field named: DNS rebinding (a foreign Host), cross-site form posts, CSV uploads read as JSONL, numbers that
are not numbers, unknown tasks, one event-level vocabulary, stale upload parts."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from anchortune.errors import ConfigError
from anchortune.jobs import states
from anchortune.app import datasets, jobs

CSV = "prompt,answer\n" + "".join(f"Where is order {n}?,Order {n} left the warehouse today.\n" for n in range(12))


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True),
                                           ("[::1]:8000", True), ("localhost", True), ("localhost:9", True),
                                           ("127.evil.example", False), ("0.0.0.0", False), ("10.0.0.5", False),
                                           ("attacker.example", False)])
def test_loopback_is_decided_by_the_address_not_its_text(host, loopback):
    from anchortune.api.app import is_loopback

    assert is_loopback(host) is loopback


def test_host_names_lose_port_and_brackets():
    from anchortune.api.app import host_allowed, host_name

    assert host_name("Studio.Example:8000") == "studio.example"
    assert host_name("[::1]:8000") == "::1"
    assert host_allowed("studio.example:8000", ("studio.example",))
    assert not host_allowed("attacker.example", ("studio.example",))
    assert host_allowed("anything.example", ("*",))


def test_a_foreign_host_header_is_refused_before_any_data(live_server):
    refused = httpx.get(f"{live_server.url}/v1/files", headers={"Host": "attacker.example"})
    assert refused.status_code == 400 and "attacker.example" in refused.json()["error"]["message"]
    assert httpx.get(f"{live_server.url}/v1/files").status_code == 200
    assert httpx.get(f"{live_server.url}/v1/files", headers={"Host": f"localhost:{live_server.port}"}).status_code == 200


def test_an_allowed_host_is_served(make_studio):
    from .conftest import LiveServer

    with LiveServer(make_studio(allowed_hosts=("studio.example",))) as server:
        assert httpx.get(f"{server.url}/v1/files", headers={"Host": "studio.example"}).status_code == 200
        assert httpx.get(f"{server.url}/v1/files", headers={"Host": "other.example"}).status_code == 400


@pytest.mark.parametrize("path", ["/jobs", "/datasets", "/jobs/ftjob-x/cancel", "/v1/files"])
def test_cross_site_posts_are_refused(live_server, path):
    for header in ({"Origin": "https://attacker.example"}, {"Referer": "https://attacker.example/page"},
                   {"Origin": "null"}):
        response = httpx.post(f"{live_server.url}{path}", headers=header, data={"model": "tiny"})
        assert response.status_code == 403, (path, header, response.text)
        assert "cross-site" in response.json()["error"]["message"]
    assert not live_server.workspace.store.jobs()


def test_same_origin_posts_pass_the_guard(live_server):
    files = {"file": ("orders.csv", CSV.encode(), "text/csv")}
    response = httpx.post(f"{live_server.url}/v1/files", headers={"Origin": live_server.url},
                          data={"purpose": "fine-tune"}, files=files)
    assert response.status_code == 200, response.text


def test_a_csv_upload_is_read_as_csv(make_studio):
    studio = make_studio()
    row = datasets.upload(studio, "orders.csv", [CSV.encode()])
    assert row["examples"] == 12
    assert not list((studio.data / "files").glob(".*part*"))


@pytest.mark.parametrize("hyper,field", [({"learning_rate_multiplier": "abc"}, "learning_rate_multiplier"),
                                         ({"n_epochs": float("inf")}, "n_epochs"), ({"n_epochs": -1}, "n_epochs"),
                                         ({"batch_size": 2.5}, "batch_size"), ({"batch_size": True}, "batch_size")])
def test_hyperparameters_are_checked_at_creation_with_the_field_named(make_studio, hyper, field):
    studio = make_studio()
    file_id = datasets.upload(studio, "orders.csv", [CSV.encode()])["id"]
    with pytest.raises(ConfigError, match=field):
        jobs.create_job(studio, "tiny", file_id, hyperparameters=hyper)
    assert not studio.store.jobs()


def test_an_unknown_task_is_refused_at_creation(make_studio):
    studio = make_studio()
    file_id = datasets.upload(studio, "orders.csv", [CSV.encode()])["id"]
    with pytest.raises(ConfigError, match="script"):
        jobs.create_job(studio, "tiny", file_id, options={"task": "<script>"})
    assert not studio.store.jobs()


def test_the_api_answers_400_for_a_bad_hyperparameter(live_server):
    file_id = datasets.upload(live_server.workspace, "orders.csv", [CSV.encode()])["id"]
    response = httpx.post(f"{live_server.url}/v1/fine_tuning/jobs", json={
        "model": "tiny", "training_file": file_id, "hyperparameters": {"learning_rate_multiplier": "abc"}})
    assert response.status_code == 400 and "learning_rate_multiplier" in response.json()["error"]["message"]


def test_events_have_one_level_vocabulary(make_studio):
    studio = make_studio()
    file_id = datasets.upload(studio, "orders.csv", [CSV.encode()])["id"]
    job = jobs.create_job(studio, "tiny", file_id)
    studio.store.add_event(job["id"], "warning", "resuming from the checkpoint")
    levels = {row["level"] for row in studio.store.events(job["id"], limit=None)}
    assert levels <= set(states.LEVELS) and "warn" in levels
    with pytest.raises(ValueError):
        states.event_level("loud")


def test_stale_upload_parts_are_cleared_at_start_up(make_studio):
    studio = make_studio()
    stale = studio.data / "files" / ".file-old.part.csv"
    fresh = studio.data / "files" / ".file-new.part.csv"
    for part in (stale, fresh):
        part.write_text(CSV)
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    make_studio()
    assert not stale.exists() and fresh.exists()  # a part another process may be writing now stays


def test_a_chunked_upload_over_the_limit_is_answered_at_the_limit(make_studio):
    """The 413 comes while the client is still sending (raw socket, chunked, no Content-Length): the server stopped
    reading at the limit instead of spooling the whole body first."""
    import socket

    from .conftest import LiveServer

    limit = 256 * 1024
    with LiveServer(make_studio(max_upload_bytes=limit)) as server:
        boundary = "xyz"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n\r\n"
                ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall((f"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nTransfer-Encoding: chunked\r\n"
                          f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode())
            try:
                for piece in [head] + [b"x" * 65536] * 8:  # 512 KiB of a body that would go on: twice the limit
                    sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and closed while the body was still coming: what is tested
            sock.settimeout(10)
            answer = b""
            while b"upload limit" not in answer and (chunk := sock.recv(65536)):
                answer += chunk  # the head and the body may come in separate reads
            answer = answer.decode(errors="replace")
        assert answer.startswith("HTTP/1.1 413"), answer[:200]
        assert "upload limit" in answer
        assert not server.workspace.store.files()
