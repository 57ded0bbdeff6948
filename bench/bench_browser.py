"""Perceived latency in a real browser: every page, against the framework floor (issue 18).

    python bench/bench_browser.py --patients 10000,100000[,1000000] [--repeats 6] [--port 8518]

For each size it builds (or reuses, in bench/.stores/, the same stores as bench_pages.py)
a synthetic store and starts ``streamlit run app.py`` on it (a fresh server per size, so
each page's first load misses the page's own caches), plus a *floor*: a trivial Streamlit
app with one sidebar filter (written to a temporary folder; no data), in the same run.
Debian's Chromium (Playwright) then opens every page in a fresh browser context:

- **first load**: from navigation start to the page being quiet, in a fresh context
  (empty HTTP cache: a first-time visitor downloads and compiles Streamlit's JavaScript);
- **return**: the same for a returning visitor, measured last: a new tab in the same
  context (Streamlit's static files are served ``immutable`` and come from the HTTP
  cache), a new Streamlit session and script run;
- **filter change**: the median of ``--repeats`` clicks on a sidebar filter option, each
  one a different cohort (Tumour site = Rectum, Colon, Stomach, GEJ; Sex = Female,
  Male; the filter is cleared again between two measured clicks, unmeasured, so the
  cohort is never narrowed cumulatively). Measured from the option's pointerdown to quiet.

*Quiet* means: the server's ``script_finished`` message has arrived, no status widget,
and neither a DOM mutation nor a websocket message for 300 ms; the end time is the last
mutation (or the script_finished message, whichever is later). All times are taken in
the page with ``performance.now()`` (an init script wraps ``WebSocket`` and watches the DOM
with a MutationObserver), never around Playwright calls.

Where the time goes, per filter change (medians):
- ``input->send``: the browser's widget handling until the rerun BackMsg is sent;
- ``server``: BackMsg sent -> ``script_finished`` received (the script run; loopback);
- ``render``: ``script_finished`` -> quiet (what the browser still does after the last delta);
- ``ws_kb``: bytes of ForwardMsgs received for the run, and ``msgs`` their number;
- ``main_ms``: Chromium main-thread busy time (CDP ``Performance.getMetrics`` TaskDuration);
- ``srv_cpu``: CPU seconds the server process used (/proc/<pid>/stat, all threads).

Prints one table per size with each page's ratio to the floor and writes JSON to
bench/results/. The machine's load average is recorded before and after every size.
Not a test: nothing here asserts. Targets (issue 18, ratios in the same run, 2 cores):
filter change <= 3x the floor at 100k patients and <= 6x at 1M; first load < 2 s at 100k.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_pages import RESULTS, store_for  # noqa: E402
from serve_replicas import _healthy  # noqa: E402

CHROMIUM = os.environ.get("BROWSER_PATH", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = [  # (name, URL path)
    ("Overview", ""), ("Cohort", "Cohort"), ("Survival", "Survival"), ("Organ preservation", "Organ_preservation"),
    ("Safety", "Safety"), ("Quality of life", "Quality_of_life"), ("Patient timeline", "Patient_timeline"),
    ("Data", "Data"),
]
# (widget key, option label): each a different one-filter cohort
STEPS = [("flt_site", "Rectum"), ("flt_site", "Colon"), ("flt_site", "Stomach"),
         ("flt_site", "Gastro-oesophageal junction"), ("flt_sex", "Female"), ("flt_sex", "Male")]
TARGETS = {"change_ratio": {100_000: 3.0, 1_000_000: 6.0}, "first_load_s": {100_000: 2.0}}
QUIET_MS = 300
TIMEOUT_S = 120
UI_TIMEOUT_MS = 60_000  # a loaded 2-core machine can take tens of seconds to open a dropdown
PICK_TIMEOUT_MS = 10_000
OPEN_TIMEOUT_MS = 5_000  # a dropdown not open by then after its click: open it with the keyboard

FLOOR_APP = '''"""The framework floor: a trivial Streamlit app with one sidebar filter (bench_browser.py)."""
import streamlit as st

OPTIONS = ["Rectum", "Colon", "Stomach", "Gastro-oesophageal junction", "Female", "Male"]
st.set_page_config(page_title="floor", layout="wide")
with st.sidebar.expander("Patient and tumour"):
    chosen = st.multiselect("Filter", OPTIONS, key="flt_site", placeholder="All")
st.title("Floor")
st.markdown(f"**{1000 - 100 * len(chosen)} of 1000 patients**")
st.dataframe({"option": OPTIONS, "chosen": [o in chosen for o in OPTIONS]})
'''

INIT_JS = """
(() => {
  window.__ws = []; window.__sent = []; window.__mut = 0; window.__input = null;
  const Orig = window.WebSocket;
  class Watched extends Orig {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => {
        const d = e.data;
        window.__ws.push([performance.now(), d.byteLength ?? d.size ?? d.length ?? 0]);
      });
    }
    send(d) { window.__sent.push([performance.now(), d.byteLength ?? d.length ?? 0]); return super.send(d); }
  }
  window.WebSocket = Watched;
  new MutationObserver(() => { window.__mut = performance.now(); })
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  for (const kind of ['pointerdown', 'keydown']) {
    window.addEventListener(kind, (e) => { if (window.__input === null) window.__input = performance.now(); }, true);
  }
})();
"""
STATE_JS = """() => ({now: performance.now(), ws: window.__ws, sent: window.__sent.length,
  sentLog: window.__sent, mut: window.__mut, input: window.__input,
  status: !!document.querySelector('[data-testid="stStatusWidget"]')})"""


# --------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------
class Server:
    """``streamlit run`` in its own process group on 127.0.0.1:port; always stopped."""

    def __init__(self, script: Path, port: int, env: dict[str, str | None], cwd: Path) -> None:
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=cwd, env={k: v for k, v in {**os.environ, **env}.items() if v is not None}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        if _healthy(self.url + "/_stcore/health", 60):
            return
        self.stop()
        raise RuntimeError(f"streamlit on port {port} did not become healthy")

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# --------------------------------------------------------------------------------------
# one browser session
# --------------------------------------------------------------------------------------
def _kind(payload: bytes) -> tuple[str, int | None]:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg.FromString(payload)
    kind = msg.WhichOneof("type") or "?"
    return kind, (msg.script_finished if kind == "script_finished" else None)


class Session:
    """One page in a fresh browser context, with the page-side clocks of INIT_JS."""

    def __init__(self, browser, server: Server) -> None:
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        self.ctx.add_init_script(INIT_JS)
        self.server = server
        self._open_page()

    def _open_page(self) -> None:
        self.page = self.ctx.new_page()
        self.frames: list[bytes] = []
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        self.cdp = self.ctx.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")

    def revisit(self, url: str) -> dict:
        """A returning visitor's first load: a new tab in the same browser context (its
        HTTP cache holds Streamlit's static files, served ``immutable``), a new Streamlit
        session (new WebSocket, new script run), measured from navigation start to quiet."""
        self.page.close()
        self._open_page()
        return self.measure(lambda: self.page.goto(url), t0_from_navigation=True)

    def _frame(self, payload) -> None:
        self.frames.append(payload if isinstance(payload, bytes) else payload.encode())

    def main_thread_s(self) -> float:
        metrics = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return metrics.get("TaskDuration", 0.0)

    def close(self) -> None:
        self.ctx.close()

    def wait_quiet(self, ws_from: int, sent_from: int, t0: float | None) -> dict:
        """Poll until the run that started after message ``ws_from`` is finished and the page
        is quiet; return its timings (ms, page clock)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        deadline = time.monotonic() + TIMEOUT_S
        early = ForwardMsg.FINISHED_EARLY_FOR_RERUN
        while True:
            s = self.page.evaluate(STATE_JS)
            ws = s["ws"]
            if len(self.frames) >= len(ws):  # Playwright has delivered every frame the page has seen
                kinds = [_kind(p) for p in self.frames[ws_from:len(ws)]]
                fin = [i for i, (k, st) in enumerate(kinds) if k == "script_finished" and st != early]
                if fin:
                    last_fin = ws_from + fin[-1]
                    t_fin = ws[last_fin][0]
                    later = [t for (t, _), (k, _) in zip(ws[last_fin + 1:], kinds[fin[-1] + 1:]) if k != "heartbeat_ack"]
                    end = max([s["mut"], t_fin, *later])
                    if not s["status"] and s["now"] - end >= QUIET_MS:
                        start = t0 if t0 is not None else (s["input"] or 0.0)
                        sent = s["sentLog"][sent_from:]
                        t_send = sent[0][0] if sent else start
                        run = [(i, k) for i, (k, _) in enumerate(kinds[: fin[-1] + 1])]
                        return {
                            "total_ms": end - start,
                            "input_to_send_ms": t_send - start,
                            "server_ms": t_fin - t_send,
                            "render_ms": end - t_fin,
                            "ws_bytes": sum(ws[ws_from + i][1] for i, _ in run),
                            "msgs": len(run),
                            "deltas": sum(1 for _, k in run if k == "delta"),
                        }
            if time.monotonic() > deadline:
                raise TimeoutError("the page did not become quiet")
            time.sleep(0.05)

    def measure(self, action, t0_from_navigation: bool = False) -> dict:
        s = self.page.evaluate(STATE_JS) if not t0_from_navigation else {"ws": [], "sent": 0}
        ws_from, sent_from = len(s["ws"]), s["sent"]
        if not t0_from_navigation:
            self.page.evaluate("() => { window.__input = null; }")
        cpu0, main0 = self.server.cpu_s(), (0.0 if t0_from_navigation else self.main_thread_s())
        action()
        r = self.wait_quiet(ws_from, sent_from, 0.0 if t0_from_navigation else None)
        r["server_cpu_s"] = self.server.cpu_s() - cpu0
        r["main_thread_ms"] = (self.main_thread_s() - main0) * 1000
        return r


def _select(page, key: str, label: str) -> None:
    """Open the sidebar multiselect ``key`` (its expander first) and pick ``label``: the
    measured click is the option's (the dropdown is opened before the clock starts)."""
    box = page.locator(f".st-key-{key}")
    if not box.is_visible():
        page.locator("[data-testid='stExpander']").filter(has=box).locator("summary").click(timeout=UI_TIMEOUT_MS)
        box.wait_for(state="visible", timeout=UI_TIMEOUT_MS)
    # the box near the top of the sidebar, so its menu opens below it inside the viewport:
    # a menu past the bottom edge made Playwright scroll the sidebar to reach the option,
    # which moved the menu away from it, until the click timed out (the retries on Sex)
    box.evaluate("e => e.scrollIntoView({block: 'start'})")
    box.locator("input").click(timeout=UI_TIMEOUT_MS)
    option = page.locator("[role=listbox] [role=option]").filter(has_text=label).first
    try:
        option.wait_for(timeout=OPEN_TIMEOUT_MS)
    except Exception:  # noqa: BLE001
        # the click focused the box (red outline) but the menu stayed closed (a screenshot
        # under bench/results/retry-*.png); the keyboard opens it
        box.locator("input").press("ArrowDown")
        option.wait_for(timeout=UI_TIMEOUT_MS)


def _pick(page, label: str) -> None:
    # the option is on screen by now: a click that cannot land within 10 s means the menu
    # closed in between (seen on a page's first change after its first load), and the
    # change is retried rather than waited for
    page.locator("[role=listbox] [role=option]").filter(has_text=label).first.click(timeout=PICK_TIMEOUT_MS)


def _clear(page, key: str) -> None:
    page.locator(f".st-key-{key} input").click(timeout=UI_TIMEOUT_MS)
    page.keyboard.press("Backspace")
    page.keyboard.press("Escape")


def bench_page(browser, server: Server, path: str, steps, repeats: int) -> dict:
    sess = Session(browser, server)
    errors: list[str] = []
    try:
        first = sess.measure(lambda: sess.page.goto(f"{server.url}/{path}"), t0_from_navigation=True)
        changes, clears = [], []
        for key, label in steps[:repeats]:
            try:
                for attempt in range(3):  # a rerun finishing just then can close the dropdown
                    try:
                        _select(sess.page, key, label)
                        changes.append(sess.measure(lambda: _pick(sess.page, label)))
                        break
                    except Exception as exc:  # noqa: BLE001
                        shot = RESULTS / f"retry-{path or 'Overview'}-{label[:12].replace(' ', '_')}-{attempt}.png"
                        try:  # what the page showed when the dropdown did not open (for the note)
                            RESULTS.mkdir(parents=True, exist_ok=True)
                            sess.page.screenshot(path=str(shot))
                        except Exception:  # noqa: BLE001
                            shot = None
                        if attempt == 2:
                            raise
                        sess.page.keyboard.press("Escape")
                        errors.append(f"retry {label} ({shot.name if shot else 'no screenshot'}): {str(exc)[:300]}")
                sess.page.keyboard.press("Escape")
                clears.append(sess.measure(lambda: _clear(sess.page, key)))
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{label}: {str(exc)[:160]}")
        text = sess.page.locator("[data-testid='stMain']").inner_text()[:4000]
        if "Traceback" in text or "Error" in text.split("\n")[0]:
            errors.append("the page shows an error")
        try:
            again = sess.revisit(f"{server.url}/{path}")
        except Exception as exc:  # noqa: BLE001
            again = None
            errors.append(f"return visit: {str(exc)[:160]}")
    finally:
        sess.close()
    return {"first_load": first, "return_load": again, "changes": changes, "clears": clears, "errors": errors}


def _median(rows: list[dict], field: str) -> float | None:
    vals = [r[field] for r in rows]
    return statistics.median(vals) if vals else None


def summarize(raw: dict) -> dict:
    again = raw.get("return_load")
    out = {"first_load_s": raw["first_load"]["total_ms"] / 1000, "first_load_ws_kb": raw["first_load"]["ws_bytes"] / 1024,
           "first_load_server_ms": raw["first_load"]["server_ms"],
           "return_load_s": again["total_ms"] / 1000 if again else None,
           "return_load_server_ms": again["server_ms"] if again else None, "errors": raw["errors"]}
    for field in ("total_ms", "input_to_send_ms", "server_ms", "render_ms", "ws_bytes", "msgs", "deltas",
                  "server_cpu_s", "main_thread_ms"):
        out[f"change_{field}"] = _median(raw["changes"], field)
    out["change_s"] = out["change_total_ms"] / 1000 if out["change_total_ms"] is not None else None
    out["change_max_s"] = max(r["total_ms"] for r in raw["changes"]) / 1000 if raw["changes"] else None
    out["n_changes"] = len(raw["changes"])
    out["clear_s"] = _median(raw["clears"], "total_ms") / 1000 if raw["clears"] else None
    return out


def run_size(browser, n: int, seed: int, repeats: int, port: int, floor: Server, tmp: Path) -> dict:
    db = store_for(n, seed)
    load_before = os.getloadavg()
    floor_raw = bench_page(browser, floor, "", [("flt_site", label) for _, label in STEPS], repeats)
    env = {"DASHBOARD_DB": str(db), "DASHBOARD_AUDIT_DB": str(tmp / f"audit-{n}.sqlite3"),
           "DASHBOARD_ACCESS_CONFIG": None}  # no access file: open demo mode (loopback only)
    app = Server(ROOT / "app.py", port, env, ROOT)
    pages = []
    try:
        for name, path in PAGES:
            print(f"  {n:,} {name}", file=sys.stderr, flush=True)
            raw = bench_page(browser, app, path, STEPS, repeats)
            pages.append({"page": name, **summarize(raw), "raw": raw})
    finally:
        app.stop()
    floor_after = bench_page(browser, floor, "", [("flt_site", label) for _, label in STEPS], repeats)
    return {"patients": n, "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
            "floor": {**summarize(floor_raw), "raw": floor_raw},
            "floor_after": {**summarize(floor_after), "raw": floor_after}, "pages": pages}


def print_results(results: list[dict]) -> None:
    for r in results:
        n, fl = r["patients"], r["floor"]
        floor_s = statistics.mean([fl["change_s"], r["floor_after"]["change_s"]])
        floor_first = statistics.mean([fl["first_load_s"], r["floor_after"]["first_load_s"]])
        la = r["load_avg_before"], r["load_avg_after"]
        print(f"\n{n:,} patients: floor (trivial one-filter app) filter change {floor_s:.3f} s "
              f"(before {fl['change_s']:.3f}, after {r['floor_after']['change_s']:.3f}), first load {floor_first:.2f} s; "
              f"load average {la[0][0]:.2f} before, {la[1][0]:.2f} after (1-min)")
        tgt, ftgt = TARGETS["change_ratio"].get(n), TARGETS["first_load_s"].get(n)
        print(f"{'page':20} {'first s':>7} {'return':>6} {'change s':>8} {'x floor':>7} {'max s':>6} {'in>send':>7} {'server':>7} "
              f"{'render':>7} {'ws kB':>7} {'msgs':>5} {'main ms':>7} {'srv cpu':>7}  target")
        for p in r["pages"]:
            ratio = p["change_s"] / floor_s if p["change_s"] is not None else None
            p["change_ratio"] = ratio
            flag = []
            if tgt is not None and ratio is not None:
                flag.append("ok" if ratio <= tgt else f"MISS (<= {tgt:g}x)")
            if ftgt is not None:
                flag.append("first ok" if p["first_load_s"] < ftgt else f"first MISS (< {ftgt:g} s)")
                if p.get("return_load_s") is not None:
                    flag.append("return ok" if p["return_load_s"] < ftgt else "return MISS")
            if p["errors"]:
                flag.append(f"errors: {'; '.join(p['errors'])[:60]}")
            f = lambda v, w, d=0: f"{v:{w}.{d}f}" if v is not None else f"{'-':>{w}}"  # noqa: E731
            print(f"{p['page']:20} {p['first_load_s']:7.2f} {f(p.get('return_load_s'), 6, 2)} {f(p['change_s'], 8, 3)} {f(ratio, 7, 1)} "
                  f"{f(p['change_max_s'], 6, 2)} {f(p['change_input_to_send_ms'], 7)} {f(p['change_server_ms'], 7)} "
                  f"{f(p['change_render_ms'], 7)} {f((p['change_ws_bytes'] or 0) / 1024, 7, 1)} "
                  f"{f(p['change_msgs'], 5)} {f(p['change_main_thread_ms'], 7)} {f(p['change_server_cpu_s'], 7, 2)}  "
                  f"{', '.join(flag)}")
        rl = fl.get("return_load_s")
        print(f"{'(floor)':20} {fl['first_load_s']:7.2f} {rl if rl is not None else float('nan'):6.2f} {fl['change_s']:8.3f} {1.0:7.1f} {fl['change_max_s']:6.2f} "
              f"{fl['change_input_to_send_ms']:7.0f} {fl['change_server_ms']:7.0f} {fl['change_render_ms']:7.0f} "
              f"{fl['change_ws_bytes'] / 1024:7.1f} {fl['change_msgs']:5.0f} {fl['change_main_thread_ms']:7.0f} "
              f"{fl['change_server_cpu_s']:7.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", default="10000,100000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=len(STEPS), help=f"filter changes per page (5..{len(STEPS)})")
    ap.add_argument("--port", type=int, default=8518, help="the app's port; the floor uses port + 100")
    ap.add_argument("--pages", default=None, help="comma-separated page names (default: every page)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.pages:
        wanted = {p.strip() for p in args.pages.split(",")}
        PAGES[:] = [p for p in PAGES if p[0] in wanted]
    from playwright.sync_api import sync_playwright

    sizes = [int(x.replace("_", "")) for x in args.patients.split(",") if x]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmpdir, sync_playwright() as pw:
        tmp = Path(tmpdir)
        (tmp / "floor_app.py").write_text(FLOOR_APP)
        floor = Server(tmp / "floor_app.py", args.port + 100, {}, tmp)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for n in sizes:
                results.append(run_size(browser, n, args.seed, args.repeats, args.port, floor, tmp))
        finally:
            browser.close()
            floor.stop()
    print_results(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"browser-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               "targets": {k: {str(n): v for n, v in t.items()} for k, t in TARGETS.items()},
                               "quiet_ms": QUIET_MS, "results": results}, indent=2))
    print(f"\nwritten {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
