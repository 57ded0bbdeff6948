"""What one filter change sends to the browser, per page and element kind (issue 18 profile).

    python bench/bench_deltas.py --patients 100000 [--pages Survival,Organ_preservation] [--port 8518]

Starts ``streamlit run app.py`` on the bench store of that size (bench/.stores/), opens each
page with bench/st_client.py (Streamlit's own protocol, no browser), changes the Tumour
site filter three times (Rectum, Colon, Stomach: each a new cohort) and tallies the
ForwardMsgs of the last change: number and bytes per element kind (``plotly_chart``,
``arrow_data_frame``, ``markdown``, widgets, blocks ...), plus the server's CPU seconds and
the wall time of the run. The browser must parse and reconcile every one of these
messages on every run, whether or not the element changed, which is where the browser's
main-thread time goes (bench_browser.py measures that). Prints a table; writes JSON to
bench/results/. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_browser import Server  # noqa: E402
from bench_pages import RESULTS, store_for  # noqa: E402
from st_client import StreamlitSession  # noqa: E402

PAGES = ["", "Cohort", "Survival", "Organ_preservation", "Safety", "Quality_of_life", "Patient_timeline", "Data"]


def tally(session: StreamlitSession) -> tuple[dict, dict]:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    counts: collections.Counter = collections.Counter()
    sizes: collections.Counter = collections.Counter()
    orig = session._receive

    async def spy(run):
        real_recv = session.ws.recv

        async def recv():
            data = await real_recv()
            fm = ForwardMsg.FromString(data)
            kind = fm.WhichOneof("type")
            if kind == "delta":
                d = fm.delta
                dk = d.WhichOneof("type")
                kind = d.new_element.WhichOneof("type") if dk == "new_element" else dk
            counts[kind] += 1
            sizes[kind] += len(data)
            return data

        session.ws.recv = recv
        try:
            await orig(run)
        finally:
            session.ws.recv = real_recv

    session._receive = spy
    return counts, sizes


async def profile_page(url: str, path: str, server: Server) -> dict:
    s = StreamlitSession(url, timeout=300)
    try:
        await s.open(path)
        for label in ("Rectum", "Colon"):
            await s.select("flt_site", [label])
        counts, sizes = tally(s)
        cpu0 = server.cpu_s()
        run = await s.select("flt_site", ["Stomach"])
        cpu = server.cpu_s() - cpu0
    finally:
        await s.close()
    return {"page": path or "Overview", "wall_s": run.seconds, "server_cpu_s": cpu, "msgs": run.msgs,
            "bytes": run.bytes, "by_kind": {k: {"msgs": counts[k], "bytes": sizes[k]} for k in counts}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pages", default=None, help="comma-separated URL paths (Overview = '')")
    ap.add_argument("--port", type=int, default=8518)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    pages = [p if p != "Overview" else "" for p in args.pages.split(",")] if args.pages else PAGES
    db = store_for(args.patients, args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(ROOT / "app.py", args.port, {"DASHBOARD_DB": str(db), "DASHBOARD_ACCESS_CONFIG": None,
                                                      "DASHBOARD_AUDIT_DB": f"{tmp}/audit.sqlite3"}, ROOT)
        try:
            for p in pages:
                rows.append(asyncio.run(profile_page(server.url, p, server)))
        finally:
            server.stop()
    print(f"\n{args.patients:,} patients: one Tumour-site change (a new cohort), what the server sends")
    for r in rows:
        print(f"\n{r['page']}: {r['msgs']} messages, {r['bytes'] / 1024:.1f} kB, run {r['wall_s']:.2f} s wall, "
              f"server CPU {r['server_cpu_s']:.2f} s")
        for kind, v in sorted(r["by_kind"].items(), key=lambda kv: -kv[1]["bytes"]):
            print(f"  {kind:28} {v['msgs']:4d} msgs {v['bytes'] / 1024:8.1f} kB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"deltas-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"patients": args.patients, "pages": rows}, indent=2))
    print(f"\nwritten {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
