"""The real thing over TCP: `allocast serve` (uvicorn) in its own process, killed with SIGKILL.

A plan answered 201 is committed before the answer leaves, so it survives `kill -9` and a
restart; a job queued by the API survives it too, and `allocast worker` (another process) runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from serving.config import Settings
from tests.serving.conftest import Keys, allocation_body, free_port, small_network, small_stock

ALLOCAST = str(Path(sys.executable).parent / "allocast")


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "ALLOCAST_DATABASE_URL": settings.database_url,
        "ALLOCAST_TRACKING_URI": settings.tracking_uri,
        "ALLOCAST_LOAD_MODEL_ON_STARTUP": "false",
        "ALLOCAST_SYNC_ALLOCATION_LIMIT": "10",  # the 18-series request below becomes a job
        "ALLOCAST_WORKER_POLL_SECONDS": "0.2",
    }


@contextmanager
def serving(settings: Settings, cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    process = subprocess.Popen(
        [ALLOCAST, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(settings),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"allocast serve did not come up: {stderr[-2000:]}")
            time.sleep(0.2)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.slow
def test_plans_and_jobs_survive_kill_9_and_the_worker_runs_the_job(
    settings: Settings, keys: Keys, tmp_path: Path
) -> None:
    planner = keys.headers("planner")
    with (
        serving(settings, tmp_path) as (process, url),
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        assert http.put("/v1/network", json=small_network(), headers=planner).status_code == 201
        stock = {"positions": small_stock()}
        assert http.put("/v1/stock", json=stock, headers=planner).status_code == 201
        small = allocation_body(demand=allocation_body()["demand"][: 14 * 6])  # SKU-001 only
        answered = http.post("/v1/allocations", json=small, headers=planner)
        assert answered.status_code == 201, answered.text
        queued = http.post("/v1/allocations", json=allocation_body(), headers=planner)
        assert queued.status_code == 202, queued.text
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
    plan, job = answered.json(), queued.json()
    with serving(settings, tmp_path) as (_, url), httpx.Client(base_url=url, timeout=60) as http:
        assert http.get(f"/v1/plans/{plan['id']}", headers=planner).json() == plan
        assert http.get(f"/v1/jobs/{job['id']}", headers=planner).json()["status"] == "queued"
        worker = subprocess.run(
            [ALLOCAST, "worker", "--once"],
            env=_env(settings),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert worker.returncode == 0, worker.stderr[-2000:]
        assert "ran 1 job(s)" in worker.stdout
        done = http.get(f"/v1/jobs/{job['id']}", headers=planner).json()
        assert done["status"] == "succeeded", done
        made = http.get(f"/v1/plans/{done['result']['plan_id']}", headers=planner).json()
        assert made["lines"] > 0 and made["status"] == "draft"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_exits_non_zero_when_its_workers_cannot_start(
    settings: Settings, workers: int, tmp_path: Path
) -> None:
    # Nothing listens on the database's port: every worker fails its startup migration. With
    # two workers uvicorn stopped them all and `allocast serve` exited 0, as after a clean stop.
    port = free_port()
    env = {**_env(settings), "ALLOCAST_DATABASE_URL": f"postgresql+psycopg://x@127.0.0.1:{port}/x"}
    served = subprocess.run(
        [ALLOCAST, "serve", "--port", str(free_port()), "--workers", str(workers)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 3, served.stderr[-2000:]
    assert "Application startup failed" in served.stderr


@pytest.mark.slow
def test_serve_stopped_with_ctrl_c_exits_zero(settings: Settings, tmp_path: Path) -> None:
    # Run without uvicorn.run's own handler, one worker's Ctrl-C ended in a traceback, exit 130.
    with serving(settings, tmp_path) as (process, _url):
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
