"""Load run of the allocast service on loopback, beside a bare FastAPI endpoint (same rows).

    .venv/bin/python benchmarks/service_load.py [--seconds 5] [--clients 1,10,100]

What it does, in one run:

1. trains a model on data/samples/sales.parquet and registers it as champion (MLflow, SQLite)
   in a fresh work directory, creates keys and migrates the service database;
2. starts `allocast serve` as a subprocess (uvicorn, one worker) and times cold start to
   `/ready` = 200 with the champion loaded;
3. through the API: uploads a generated 100-SKU network (4 forward warehouses, 6 distributors:
   10 demand locations) and its stock, ingests the sales sample, times a 100-SKU x 10-location
   allocation (demand sent with the request) and approves that plan;
4. starts the bare endpoint (this file, `bare` mode: FastAPI + SQLAlchemy Core, no auth, no
   audit, no response model) that reads the same suggestion rows from the same SQLite file;
5. at each concurrency level runs, for `--seconds` each after a short warm-up: the bare read,
   the distributor suggestion read, a forecast read (one SKU at one location, 28 days) and a
   small allocation (5 SKUs x 10 locations, demand sent, a fresh Idempotency-Key each: a write
   with its audit entry), then counts the plans stored against the 201 answers (no lost writes).

Every request must answer its expected status; any other answer counts as an error and the run
exits non-zero. Clients are asyncio tasks sharing one aiohttp session (one connection each), in
this process, on the same two cores as the server: the numbers are for this machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SALES = REPO / "data" / "samples" / "sales.parquet"
DISTRIBUTOR = "D-001"  # the generated network's first distributor
SMALL_SKUS = 5  # SKUs of the small allocation (over all 10 demand locations)
FORECAST_SKU, FORECAST_LOCATION = "SKU-001", "D-N1"

Request = Callable[[aiohttp.ClientSession, int], Awaitable[int]]
"""Sends one request on the session and returns its status code (the body read in full)."""


# -- the bare endpoint ------------------------------------------------------------------------

BARE_QUERY = """
SELECT sku, quantity, origin, arrives, reason, details FROM plan_lines
WHERE plan_id = (SELECT id FROM plans WHERE status = 'approved'
                 ORDER BY decided_at DESC, id DESC LIMIT 1)
  AND kind = 'replenishment' AND destination = :distributor
ORDER BY sku, id
"""


def bare_app(database_url: str) -> Any:
    """FastAPI with one endpoint reading a distributor's suggestion rows: no auth, no models."""
    from fastapi import FastAPI
    from sqlalchemy import text

    from serving.db import connect

    database = connect(database_url)
    app = FastAPI()
    query = text(BARE_QUERY)

    @app.get("/bare/suggestions/{distributor}")
    def suggestions(distributor: str) -> list[dict[str, Any]]:
        with database.engine.connect() as connection:
            rows = connection.execute(query, {"distributor": distributor}).mappings().all()
        return [
            {**row, "arrives": str(row["arrives"]), "details": json.loads(row["details"])}
            for row in rows
        ]

    return app


def serve_bare(database_url: str, port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(database_url), host="127.0.0.1", port=port, log_level="info")


# -- measuring ------------------------------------------------------------------------------


@dataclass
class LevelResult:
    scenario: str
    clients: int
    requests: int
    errors: int
    seconds: float
    throughput: float  # requests per second
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    all_statuses: dict[str, int] = field(default_factory=dict)  # warm-up included


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values` by linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def run_level(
    scenario: str, base_url: str, request: Request, clients: int, seconds: float, expected: int
) -> LevelResult:
    """`clients` tasks send `request` back to back; each one's first request is a warm-up.

    The measured window opens when every client has had its warm-up answer and closes
    `seconds` later; requests started in it are waited for and counted.
    Any answer but `expected`, warm-ups included, is an error.
    """
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    every: Counter[str] = Counter()
    errors = 0
    warmed = 0
    opened = asyncio.Event()
    window = {"start": 0.0, "stop": 0.0, "last_end": 0.0}
    # aiohttp, not httpx, drives the load: at 100 connections httpx's pool spent more CPU on
    # these two cores than the server did (2.5 s of a 4 s window vs 0.14 s for aiohttp).
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=120.0)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client:
        sequence = iter(range(10**9))

        async def send(measured: bool) -> None:
            nonlocal errors
            began = time.perf_counter()
            try:
                code = str(await request(client, next(sequence)))
            except (aiohttp.ClientError, TimeoutError) as error:
                code = type(error).__name__
            ended = time.perf_counter()
            every[code] += 1
            if code != str(expected):
                errors += 1
            if measured:
                statuses[code] += 1
                latencies.append((ended - began) * 1000.0)
                window["last_end"] = max(window["last_end"], ended)

        async def worker() -> None:
            nonlocal warmed
            await send(measured=False)
            warmed += 1
            if warmed == clients:
                window["start"] = time.perf_counter()
                window["stop"] = window["start"] + seconds
                opened.set()
            # Keep sending (unmeasured) until every client is warm: a connection left idle
            # longer than uvicorn's keep-alive (5 s) would be closed under the client.
            while not opened.is_set() or time.perf_counter() < window["stop"]:
                await send(measured=opened.is_set())

        await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = max(window["last_end"] - window["start"], 1e-9)
    return LevelResult(
        scenario=scenario,
        clients=clients,
        requests=len(latencies),
        errors=errors,
        seconds=round(elapsed, 2),
        throughput=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(latencies, 0.50), 1),
        p95_ms=round(percentile(latencies, 0.95), 1),
        p99_ms=round(percentile(latencies, 0.99), 1),
        statuses=dict(statuses),
        all_statuses=dict(every),
    )


# -- the service under test ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float, process: subprocess.Popen[bytes]) -> float:
    """Seconds until GET `url` answers 200 (polling every 20 ms); raises after `timeout`."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return time.perf_counter() - start
        time.sleep(0.02)
    raise TimeoutError(f"{url} not 200 after {timeout} s")


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def prepare(workdir: Path, env: dict[str, str]) -> dict[str, str]:
    """Train and register the champion, migrate the database, create keys; returns the keys."""
    from forecasting.data import load_sales
    from forecasting.forecaster import ForecastConfig
    from forecasting.tracking import train_and_register
    from serving.auth import create_key
    from serving.db import connect, upgrade
    from serving.models import Role

    sales = load_sales(SAMPLE_SALES)
    started = time.perf_counter()
    outcome = train_and_register(
        sales,
        ForecastConfig(horizon=28, n_windows=2),
        tracking_uri=env["ALLOCAST_TRACKING_URI"],
        model_name=env["ALLOCAST_MODEL_NAME"],
    )
    print(
        f"trained version {outcome.version} on {SAMPLE_SALES.name} in "
        f"{time.perf_counter() - started:.1f} s (promoted: {outcome.promoted})",
        flush=True,
    )
    if not outcome.promoted:
        from forecasting.tracking import promote

        promote(env["ALLOCAST_TRACKING_URI"], env["ALLOCAST_MODEL_NAME"], str(outcome.version))
    database = connect(env["ALLOCAST_DATABASE_URL"])
    upgrade(database.engine)
    with database.session() as session:
        keys = {
            "planner": create_key(session, Role.planner)[0],
            "distributor": create_key(session, Role.distributor, DISTRIBUTOR)[0],
        }
    database.dispose()
    return keys


def instance_payloads() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The generated 100-SKU network, its stock rows and its demand rows (request shapes)."""
    from allocation.generate import example_network

    instance = example_network(skus=100, locations=4, distributors=6, seed=7)
    network = instance.network.model_dump(mode="json")
    stock = [
        {str(k): (None if v != v else v) for k, v in row.items()}  # NaN -> None
        for row in instance.stock.astype({"on_hand": float}).to_dict(orient="records")
    ]
    for row in stock:
        for key in ("arrival_date",):
            if row.get(key) is not None:
                row[key] = str(row[key])[:10]
    quantile_columns = [c for c in instance.demand.columns if c.startswith("q")]
    demand = [
        {
            "sku": row["sku"],
            "location": row["location"],
            "date": str(row["date"])[:10],
            "forecast": float(row["forecast"]),
            "quantiles": {c: float(row[c]) for c in quantile_columns},
        }
        for row in instance.demand.to_dict(orient="records")
    ]
    return network, stock, demand


def sales_batches(size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    import pandas as pd

    frame = pd.read_parquet(SAMPLE_SALES)
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    records = [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]
    for start in range(0, len(records), size):
        yield records[start : start + size]


def check(response: httpx.Response, expected: int, what: str) -> dict[str, Any]:
    if response.status_code != expected:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def populate(base: str, keys: dict[str, str]) -> dict[str, Any]:
    """Network, stock, sales through the API; times the 100 x 10 allocation; approves it."""
    planner = {"X-API-Key": keys["planner"]}
    network, stock, demand = instance_payloads()
    facts: dict[str, Any] = {}
    with httpx.Client(base_url=base, headers=planner, timeout=300.0) as client:
        check(client.put("/v1/network", json=network), 201, "network")
        check(client.put("/v1/stock", json={"positions": stock}), 201, "stock")
        for batch in sales_batches():
            check(client.post("/v1/sales", json={"rows": batch}), 201, "sales")
        series = len({(row["sku"], row["location"]) for row in demand})
        timings = []
        plan_id = None
        # Encoded once, before the clock starts: the client's json.dumps of 17k rows (0.2 s on
        # a loaded machine) is not the service's time.
        body = json.dumps({"demand": demand, "horizon": 28}).encode()
        json_type = {"Content-Type": "application/json"}
        for _ in range(3):
            started = time.perf_counter()
            plan = check(
                client.post("/v1/allocations", content=body, headers=json_type),
                201,
                "100 x 10 allocation",
            )
            timings.append(time.perf_counter() - started)
            plan_id = plan["id"]
        facts["large_allocation"] = {
            "skus": 100,
            "demand_locations": 10,
            "series": series,
            "demand_rows": len(demand),
            "seconds": [round(t, 3) for t in timings],
            "median_seconds": round(statistics.median(timings), 3),
            "solver": plan["solver"],
        }
        check(client.post(f"/v1/plans/{plan_id}/approve", json={}), 200, "approve")
        facts["approved_plan"] = plan_id
    small_skus = sorted({row["sku"] for row in demand})[:SMALL_SKUS]
    facts["small_demand"] = [row for row in demand if row["sku"] in small_skus]
    return facts


def count_plans(database_url: str) -> int:
    from sqlalchemy import func, select

    from serving.db import connect
    from serving.models import Plan

    database = connect(database_url)
    with database.sessions() as session:
        count = int(session.execute(select(func.count()).select_from(Plan)).scalar_one())
    database.dispose()
    return count


def scenarios(
    keys: dict[str, str], small_demand: list[dict[str, Any]]
) -> dict[str, tuple[Request, int]]:
    distributor = {"X-API-Key": keys["distributor"]}
    planner = {"X-API-Key": keys["planner"]}
    skus = sorted({row["sku"] for row in small_demand})
    small = {"demand": small_demand, "skus": skus, "horizon": 28}
    forecast_params = {"sku": FORECAST_SKU, "location": FORECAST_LOCATION, "horizon": "28"}

    async def status(response: aiohttp.ClientResponse) -> int:
        await response.read()
        return response.status

    async def bare(client: aiohttp.ClientSession, _n: int) -> int:
        async with client.get(f"/bare/suggestions/{DISTRIBUTOR}") as response:
            return await status(response)

    async def suggestions(client: aiohttp.ClientSession, _n: int) -> int:
        url = f"/v1/distributors/{DISTRIBUTOR}/suggestions"
        async with client.get(url, headers=distributor) as response:
            return await status(response)

    async def forecast(client: aiohttp.ClientSession, _n: int) -> int:
        async with client.get("/v1/forecasts", params=forecast_params, headers=planner) as response:
            return await status(response)

    async def allocation(client: aiohttp.ClientSession, _n: int) -> int:
        headers = {**planner, "Idempotency-Key": uuid.uuid4().hex}
        async with client.post("/v1/allocations", json=small, headers=headers) as response:
            return await status(response)

    return {
        "bare suggestion read (no auth)": (bare, 200),
        "distributor suggestion read": (suggestions, 200),
        "forecast read (1 SKU x 1 location, 28 d)": (forecast, 200),
        "small allocation (5 SKUs x 10 locations)": (allocation, 201),
    }


def _find(results: list[LevelResult], prefix: str, clients: int) -> LevelResult | None:
    return next(
        (r for r in results if r.scenario.startswith(prefix) and r.clients == clients), None
    )


def verdicts(results: list[LevelResult], facts: dict[str, Any]) -> list[str]:
    """The issue's targets, each with the measured number and met / missed."""
    lines = []
    read10 = _find(results, "distributor", 10)
    if read10:
        met = read10.p95_ms < 50
        lines.append(
            f"- suggestion read at 10 clients, p95 < 50 ms: {read10.p95_ms:.1f} ms "
            f"({'met' if met else 'missed'})"
        )
    read100, bare100 = _find(results, "distributor", 100), _find(results, "bare", 100)
    if read100 and bare100:
        met = read100.throughput >= bare100.throughput
        lines.append(
            f"- suggestion read at 100 clients, at least the bare endpoint's throughput: "
            f"{read100.throughput:.0f} vs {bare100.throughput:.0f} req/s "
            f"({'met' if met else 'missed'})"
        )
    large = facts["large_allocation"]["median_seconds"]
    lines.append(
        f"- 100-SKU x 10-location allocation under 1 s: {large:.2f} s "
        f"({'met' if large < 1 else 'missed'})"
    )
    lines.append(
        f"- no errors: {sum(r.errors for r in results)} errors; no lost writes: "
        f"{facts['allocations_answered_201'] - facts['plans_written']} lost"
    )
    return lines


def _solver_share(large: dict[str, Any]) -> str:
    """What the plan's own solver facts say of the allocation's time (the rest is the service)."""
    solver = large["solver"]
    parts = {
        "building the LP": solver.get("build_seconds"),
        "solving it": solver.get("solve_seconds"),
        "rounding to packs / MOQ": solver.get("repair_seconds"),
    }
    known = {name: float(value) for name, value in parts.items() if value is not None}
    spent = sum(known.values())
    listed = ", ".join(f"{value:.2f} s {name}" for name, value in known.items())
    rest = large["seconds"][-1] - spent
    return (
        f"The last plan's solver facts: {listed} ({solver.get('rounding', 'n/a')} rounding); "
        f"the other {rest:.2f} s of that request are the service (parsing the rows, the demand "
        "frame, storing the plan, HTTP)."
    )


def markdown(results: list[LevelResult], facts: dict[str, Any]) -> str:
    lines = [
        f"Machine load average (1 min) before / after the run: {facts['load_before']:.1f} / "
        f"{facts['load_after']:.1f} on {os.cpu_count()} cores.",
        "",
        f"Cold start to ready (champion loaded): {facts['cold_start_seconds']:.2f} s "
        f"(`/health` answered after {facts['health_seconds']:.2f} s).",
        "",
        f"100-SKU x 10-location allocation ({facts['large_allocation']['series']} series, "
        f"{facts['large_allocation']['demand_rows']} demand rows sent): "
        f"{facts['large_allocation']['median_seconds']:.2f} s median of "
        f"{facts['large_allocation']['seconds']} (request to 201, plan stored). "
        f"{_solver_share(facts['large_allocation'])}",
        "",
        "| scenario | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.clients} | {r.requests} | {r.errors} | {r.throughput:.0f} "
            f"| {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} |"
        )
    lines += [
        "",
        f"Plans stored by the small allocations: {facts['plans_written']} for "
        f"{facts['allocations_answered_201']} answers 201 (lost writes: "
        f"{facts['allocations_answered_201'] - facts['plans_written']}).",
        "",
        "Targets:",
        *verdicts(results, facts),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per level")
    parser.add_argument("--clients", default="1,10,100", help="concurrency levels")
    parser.add_argument("--workdir", type=Path, default=REPO / ".allocast" / "bench")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    sub = parser.add_subparsers(dest="mode")
    bare = sub.add_parser("bare", help="serve the bare endpoint only")
    bare.add_argument("--database-url", required=True)
    bare.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.mode == "bare":
        serve_bare(args.database_url, args.port)
        return 0

    workdir: Path = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    database_url = f"sqlite:///{workdir / 'allocast.db'}"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "ALLOCAST_DATABASE_URL": database_url,
        "ALLOCAST_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "ALLOCAST_MODEL_NAME": "allocast-forecaster",
        "ALLOCAST_SYNC_ALLOCATION_LIMIT": "5000",
        "ALLOCAST_MAX_BODY_BYTES": str(50 * 1024 * 1024),
    }
    os.environ.update({k: env[k] for k in ("OMP_NUM_THREADS",)})
    facts: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    keys = prepare(workdir, env)
    port, bare_port = free_port(), free_port()
    base, bare_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
    allocast = str(Path(sys.executable).with_name("allocast"))
    serve = [allocast, "serve", "--host", "127.0.0.1", "--port", str(port)]
    bare_command = [sys.executable, __file__, "bare", "--database-url", database_url]
    bare_command += ["--port", str(bare_port)]
    results: list[LevelResult] = []
    with running(serve, env, workdir / "serve.log") as server:
        started = time.perf_counter()
        facts["health_seconds"] = wait_for(f"{base}/health", 120, server)
        facts["cold_start_seconds"] = facts["health_seconds"] + wait_for(
            f"{base}/ready", 120, server
        )
        ready = httpx.get(f"{base}/ready").json()
        facts["ready"] = ready
        print(f"cold start to ready: {time.perf_counter() - started:.2f} s; {ready}", flush=True)
        facts.update(populate(base, keys))
        small_demand = facts.pop("small_demand")
        with running(bare_command, env, workdir / "bare.log") as bare_server:
            wait_for(f"{bare_base}/bare/suggestions/{DISTRIBUTOR}", 60, bare_server)
            plans_before = count_plans(database_url)
            answered = 0
            for clients in [int(c) for c in args.clients.split(",")]:
                for name, (request, expected) in scenarios(keys, small_demand).items():
                    url = bare_base if name.startswith("bare") else base
                    result = asyncio.run(
                        run_level(name, url, request, clients, args.seconds, expected)
                    )
                    if expected == 201:
                        answered += result.all_statuses.get("201", 0)
                    results.append(result)
                    print(json.dumps(asdict(result)), flush=True)
            facts["plans_written"] = count_plans(database_url) - plans_before
            facts["allocations_answered_201"] = answered
    facts["load_after"] = os.getloadavg()[0]
    text = markdown(results, facts)
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps({"facts": facts, "results": [asdict(r) for r in results]}, indent=2)
        )
    failed = sum(r.errors for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
