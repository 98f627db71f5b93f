"""`anchortune serve` as a person starts it: loopback needs no token; any other address gets one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx

from .conftest import free_port


def serve(tmp_path, host: str, model_dir) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "anchortune", "serve", "--host", host, "--port", str(port),
                                "--data", str(tmp_path / "studio"), "--workers", "0", "--model", f"tiny={model_dir}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", "ANCHORTUNE_TOKEN": ""})
    banner = ""
    while "anchortune studio on" not in banner or (host != "127.0.0.1" and "served under" not in banner):
        line = process.stdout.readline()
        if not line:
            raise AssertionError(banner)
        banner += line
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process, port, banner
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(process.stdout.read())


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    out, _ = process.communicate(timeout=20)
    return out


def test_loopback_serves_without_a_token(tmp_path, tiny_model_dir):
    process, port, banner = serve(tmp_path, "127.0.0.1", tiny_model_dir)
    assert "bearer token" not in banner
    try:
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["data"]
        assert "tiny" in [m["id"] for m in models]
        assert httpx.get(f"http://127.0.0.1:{port}/", headers={"accept": "text/html"}).status_code == 200
    finally:
        stop(process)
    assert (tmp_path / "studio" / "anchortune.db").is_file()


def test_any_other_address_requires_the_printed_token(tmp_path, tiny_model_dir):
    process, port, banner = serve(tmp_path, "0.0.0.0", tiny_model_dir)
    token = re.search(r"bearer token (\S+)", banner).group(1)
    try:
        url = f"http://127.0.0.1:{port}/v1/models"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/new", headers={"accept": "text/html"}).status_code == 303
        import socket

        own = socket.gethostname()  # a wildcard bind serves the machine's own name, and says which names it serves
        assert "served under these names" in banner and own in banner and "--allowed-host" in banner
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}", "Host": f"{own}:{port}"}).status_code == 200
        assert httpx.get(url, headers={"Authorization": f"Bearer {token}", "Host": "other.example"}).status_code == 400
    finally:
        stop(process)
    process, port, banner = serve(tmp_path, "0.0.0.0", tiny_model_dir)  # each start makes a new one
    stop(process)
    fresh = re.search(r"bearer token (\S+)", banner).group(1)
    assert fresh != token and len(fresh) >= 24
