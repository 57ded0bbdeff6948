"""Many concurrent sessions through nginx, for 1 and 3 app replicas in the same run (issue 18).

    python bench/bench_load.py --patients 100000 --sessions 10,25,50,75 [--replicas 1,3]
                               [--think 10] [--duration 60] [--port 8718] [--app-port 8818]

For each replica count it starts ``scripts/serve_replicas.py``'s stack (N ``streamlit run``
processes on loopback behind Debian's nginx with the shipped configuration, cookie
affinity, TLS) on the same synthetic store (bench/.stores/, as bench_pages.py builds it),
then for each session count drives that many sessions at once with bench/st_client.py: a
client that speaks Streamlit's WebSocket protocol (BackMsg / ForwardMsg protobufs) the way
the browser does, without rendering. Why not Playwright: a Chromium context costs
~100-200 MB and most of a core to render these pages, so 50 of them would measure the
browsers, not the servers, on a 2-core machine. What the client does not do is the
browser's rendering time (bench_browser.py measures that, per page).

Each session opens the Overview, then acts every ``--think`` seconds (uniform between 0.5x
and 1.5x, after the previous action has finished): two actions in three change the
sidebar filter (tumour site and sex, a different random cohort each time; never
narrowed cumulatively), one in three opens another page (every page but the Data page's
upload). Sessions start spread over the first ``--think`` seconds; the statistics count
the actions that start after that ramp and within ``--duration`` seconds.

Reports per (replicas, sessions): sessions held to the end, actions per second, latency
(BackMsg sent -> script_finished received) p50 / p95 / max, first loads (HTTP + WebSocket +
first run), errors (failed connections, timeouts, exceptions shown by the app), the load
average and the CPU the client itself used; and per replica count the first session
count at which p95 passes 2 s. Writes JSON to bench/results/. Not a test: nothing here
asserts. Target (issue 18, 2 cores, 100k patients): 50 sessions acting every 10 s, p95
under 2 s, no error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_pages import RESULTS, store_for  # noqa: E402
from serve_replicas import Replicas  # noqa: E402
from st_client import StreamlitSession  # noqa: E402

PAGES = ["", "Cohort", "Survival", "Organ_preservation", "Safety", "Quality_of_life", "Patient_timeline", "Data"]
SITES = ["Rectum", "Colon", "Stomach", "Gastro-oesophageal junction"]
SEXES = ["Female", "Male"]
P95_LIMIT_S = 2.0


def random_filter(rng: random.Random, current: tuple) -> tuple[list[str], list[str]]:
    """A random one- or two-field cohort, different from the current one."""
    while True:
        sites = rng.sample(SITES, rng.choice([0, 1, 1, 2]))
        sexes = rng.sample(SEXES, rng.choice([0, 0, 1]))
        if (sites or sexes) and (sorted(sites), sorted(sexes)) != current:
            return sites, sexes


async def session(i: int, url: str, cafile: str, rng: random.Random, think: float, t_start: float, t_stop: float,
                  out: dict) -> None:
    await asyncio.sleep(rng.uniform(0, think))  # ramp: sessions start spread over one think time
    s = StreamlitSession(url, cafile=cafile, timeout=120)
    current: tuple = ([], [])
    try:
        run = await s.open("")
        out["first_loads"].append(run.seconds)
        if run.exceptions:
            out["errors"].append(f"s{i} open: {run.exceptions[0]}")
        while time.monotonic() < t_stop:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            if time.monotonic() >= t_stop:
                break
            t0 = time.monotonic()
            if rng.random() < 1 / 3:
                kind = "page"
                run = await s.goto(rng.choice(PAGES))
            else:
                kind = "filter"
                sites, sexes = random_filter(rng, current)
                current = (sorted(sites), sorted(sexes))
                run = await s.select("flt_site", sites, flt_sex=sexes)  # one rerun with the new cohort
            if t_start <= t0 < t_stop:
                out["actions"].append((kind, run.seconds, t0))
            if run.exceptions:
                out["errors"].append(f"s{i} {kind}: {run.exceptions[0]}")
        out["held"] += 1
    except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
        out["errors"].append(f"s{i}: {type(exc).__name__}: {str(exc)[:160]}")
    finally:
        try:
            await s.close()
        except Exception:  # noqa: BLE001
            pass


async def level(url: str, cafile: str, n: int, think: float, duration: float, seed: int) -> dict:
    out: dict = {"first_loads": [], "actions": [], "errors": [], "held": 0}
    now = time.monotonic()
    t_start, t_stop = now + think, now + think + duration
    rng = random.Random(seed)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(session(i, url, cafile, random.Random(rng.random()), think, t_start, t_stop, out)
                           for i in range(n)))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    lat = sorted(a[1] for a in out["actions"])

    def q(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(round(p * (len(lat) - 1))))] if lat else None

    return {
        "sessions": n, "held": out["held"], "actions": len(lat), "actions_per_s": len(lat) / duration,
        "p50_s": q(0.5), "p95_s": q(0.95), "max_s": lat[-1] if lat else None,
        "filter_p95_s": _p95([a[1] for a in out["actions"] if a[0] == "filter"]),
        "page_p95_s": _p95([a[1] for a in out["actions"] if a[0] == "page"]),
        "first_load_median_s": statistics.median(out["first_loads"]) if out["first_loads"] else None,
        "first_load_max_s": max(out["first_loads"]) if out["first_loads"] else None,
        "errors": len(out["errors"]), "error_samples": out["errors"][:5],
        "client_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "load_avg_after": os.getloadavg()[0],
    }


def _p95(vals: list[float]) -> float | None:
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(round(0.95 * (len(vals) - 1))))] if vals else None


def run_replicas(n_rep: int, db: Path, sessions: list[int], args) -> dict:
    rows = []
    with Replicas(n_rep, db=db, port=args.port, app_port=args.app_port, app_port_step=args.app_port_step,
                  env={"DASHBOARD_ACCESS_CONFIG": None, "DASHBOARD_EXPORT_WARMUP": "0"}) as r:
        print(f"  {n_rep} replica(s) up at {r.url}", file=sys.stderr, flush=True)
        for n in sessions:
            print(f"  {n_rep} replica(s), {n} sessions ...", file=sys.stderr, flush=True)
            row = asyncio.run(level(r.url, str(r.cafile), n, args.think, args.duration, args.seed + n))
            rows.append(row)
            print(f"    p50 {row['p50_s']}, p95 {row['p95_s']}, errors {row['errors']}", file=sys.stderr, flush=True)
            if row["p95_s"] is not None and row["p95_s"] > 3 * P95_LIMIT_S and n != sessions[-1]:
                print("    p95 far past the limit: higher session counts skipped", file=sys.stderr)
                break
    return {"replicas": n_rep, "levels": rows, "p95_passes_2s_at": passes_at(rows)}


def passes_at(rows: list[dict]) -> int | None:
    """The smallest session count from which p95 stays above the limit at every higher count
    (a small level has few actions, so one cold page visit can lift its p95 alone)."""
    over = [r["p95_s"] is None or r["p95_s"] > P95_LIMIT_S for r in rows]
    for i, r in enumerate(rows):
        if all(over[i:]):
            return r["sessions"]
    return None


def print_results(res: dict) -> None:
    print(f"\n{res['patients']:,} patients, think time {res['think_s']} s (x0.5..1.5), {res['duration_s']} s measured "
          f"per level; latency = BackMsg sent -> script_finished (seconds)")
    print(f"{'replicas':>8} {'sessions':>8} {'held':>5} {'act/s':>6} {'p50':>6} {'p95':>6} {'max':>6} "
          f"{'filt p95':>8} {'page p95':>8} {'1st load':>8} {'errors':>6} {'load':>5} {'client cpu':>10}")
    f = lambda v, w=6, d=2: f"{v:{w}.{d}f}" if v is not None else f"{'-':>{w}}"  # noqa: E731
    for rep in res["runs"]:
        for row in rep["levels"]:
            print(f"{rep['replicas']:>8} {row['sessions']:>8} {row['held']:>5} {f(row['actions_per_s'])} "
                  f"{f(row['p50_s'])} {f(row['p95_s'])} {f(row['max_s'])} {f(row['filter_p95_s'], 8)} "
                  f"{f(row['page_p95_s'], 8)} {f(row['first_load_median_s'], 8)} {row['errors']:>6} "
                  f"{row['load_avg_after']:5.1f} {row['client_cpu_s']:9.1f}s")
        lim = rep["p95_passes_2s_at"] = passes_at(rep["levels"])
        print(f"{'':>8} p95 passes {P95_LIMIT_S:g} s at: "
              f"{'not reached in this run' if lim is None else f'{lim} sessions'}")
        for row in rep["levels"]:
            for e in row["error_samples"][:2]:
                print(f"{'':>8} error ({row['sessions']} sessions): {e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--sessions", default="10,25,50,75")
    ap.add_argument("--replicas", default="1,3")
    ap.add_argument("--think", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=8718, help="the proxy's HTTPS port (port + 1: HTTP)")
    ap.add_argument("--app-port", type=int, default=8818)
    ap.add_argument("--app-port-step", type=int, default=100)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the replicas and nginx are stopped
    db = store_for(args.patients, args.seed)
    sessions = [int(x) for x in args.sessions.split(",") if x]
    res = {"patients": args.patients, "think_s": args.think, "duration_s": args.duration,
           "load_avg_before": os.getloadavg(), "runs": []}
    for n_rep in [int(x) for x in args.replicas.split(",") if x]:
        res["runs"].append(run_replicas(n_rep, db, sessions, args))
    print_results(res)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"load-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               **res}, indent=2))
    print(f"\nwritten {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
