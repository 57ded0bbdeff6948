"""Three app processes behind the shipped nginx configuration, as ``make serve REPLICAS=3``
starts them (scripts/serve_replicas.py: deploy/nginx/registry.conf with only its SITE lines
rewritten, TLS with a throw-away certificate, one read-only store for all).

Proves: nginx sets the affinity cookie once and every request of a browser (page, health,
WebSocket, upload, download file, sign-in callback) reaches one replica, while different
browsers spread over all three; an import that swaps the store while sessions on every
replica keep changing filters gives every run numbers that belong to one store, the one
its own banner names, and every replica serves the new store afterwards; and, in Debian's
Chromium, a sign-in round trip (st.login against tests/e2e/fake_oidc.py) on each replica,
an upload on the Data page through one replica and a download through another.

Which replica answered is read from the access log the rendered nginx.conf writes
(route cookie, upstream address per request), never from a header the app would send.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import random
import re
import shutil
import ssl
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from serve_replicas import NGINX, Replicas, render_site_config  # noqa: E402

if not Path(NGINX).exists() or not shutil.which("openssl"):
    pytest.skip("nginx or openssl not installed (scripts/system-deps.sh)", allow_module_level=True)

from st_client import StreamlitSession  # noqa: E402

from builders import free_ports  # noqa: E402
from dashboard.filters import CohortFilter  # noqa: E402
from dashboard.queries.cohort import select_patient_counts  # noqa: E402
from dashboard.store import Store  # noqa: E402

SITES = {"Rectum": "RECTUM", "Colon": "COLON", "Stomach": "GASTRIC", "Gastro-oesophageal junction": "GEJ"}
A_N, B_N = 300, 360  # the two registries differ in size, so M names the store a run read
SEED = {A_N: 11, B_N: 12}  # ... and in seed, which the banner names (an imported synthetic export stays synthetic)


def _stack(tmp: Path, db: Path, **kw) -> Replicas:
    ports = free_ports(5)
    return Replicas(3, db=db, port=ports[0], http_port=ports[1], app_ports=ports[2:], tmp=tmp / "proxy",
                    env={"DASHBOARD_AUDIT_DB": str(tmp / "audit.sqlite3"), "DASHBOARD_EXPORT_WARMUP": "0", **kw.pop("env", {})},
                    **kw)


def _get(stack: Replicas, path: str, cookie: str | None = None) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=str(stack.cafile))
    req = urllib.request.Request(stack.url + path, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
        r.read()
        return r.status, {k.lower(): v for k, v in r.headers.items()} | {"set-cookie*": r.headers.get_all("Set-Cookie")}


def routes_per_replica(stack: Replicas, probes: int = 60) -> dict[str, list[str]]:
    """Route cookie values that nginx sends to each replica (found by probing)."""
    for k in range(probes):
        _get(stack, "/_stcore/health", f"registry_route=probe{k}")
    logged(stack, lambda row: row[0] == f"probe{probes - 1}")  # the last probe's line is written
    out: dict[str, list[str]] = {}
    for route, upstream, _status, _m, path in stack.access_log():
        if route.startswith("probe") and path == "/_stcore/health":
            out.setdefault(upstream, [])
            if route not in out[upstream]:
                out[upstream].append(route)
    return out


def logged(stack: Replicas, keep, timeout: float = 15.0) -> list[tuple[str, str, str, str, str]]:
    """The access-log rows ``keep`` accepts, waiting until there is one: nginx writes a
    request's line as it finalises the request, which can come after the client has read
    the response (seen once in CI on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [row for row in stack.access_log() if keep(row)]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def upstreams_of(stack: Replicas, route: str) -> set[str]:
    return {up for r, up, *_ in stack.access_log() if r == route}


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    """Store A (served; a copy kept aside) and the canonical export of store B (imported
    during the tests), and ``count(M, filter)``: the patient counts of a filter in the store
    with M patients, straight from DuckDB."""
    from dashboard.ingest.export import export_registry
    from dashboard.synth import build_demo

    tmp = tmp_path_factory.mktemp("replicas")
    db = tmp / "data" / "registry.duckdb"
    db.parent.mkdir()
    build_demo(tmp / "a.duckdb", A_N, SEED[A_N], progress=False)
    shutil.copyfile(tmp / "a.duckdb", db)
    build_demo(tmp / "b.duckdb", B_N, SEED[B_N], progress=False)
    export_registry(tmp / "b.duckdb", tmp / "export_b")
    stores = {A_N: Store(tmp / "a.duckdb"), B_N: Store(tmp / "b.duckdb")}

    def count(m: int, flt: CohortFilter) -> tuple[int, int]:
        c = select_patient_counts(stores[m], flt)
        return c["n"], c["m"]

    yield {"tmp": tmp, "db": db, "export_b": tmp / "export_b", "count": count}
    for st in stores.values():
        st.close()


T0_SHOWN = re.compile(r"T0 (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d)")


def _stated_filter(labels: tuple[str, ...], line: str) -> CohortFilter:
    """The filter a run applied: the sites this session chose, and the T0 range when the
    page's own "N of M patients" line states one (see test_after_an_import_an_untouched_date_range_follows_the_new_store)."""
    m = T0_SHOWN.search(line)
    t0 = (dt.date.fromisoformat(m.group(1)), dt.date.fromisoformat(m.group(2))) if m else None
    return CohortFilter(site=tuple(SITES[x] for x in labels), t0=t0)


@pytest.fixture(scope="module")
def open_stack(registries):
    with _stack(registries["tmp"] / "open", registries["db"], env={"DASHBOARD_ACCESS_CONFIG": None}) as stack:
        yield stack


def test_the_shipped_config_renders_one_upstream_line_per_replica(tmp_path):
    text = render_site_config([9001, 9002, 9003], 9443, 9444, tmp_path / "c.pem", tmp_path / "k.pem")
    upstream = re.search(r"upstream registry_app \{(.*?)\}", text, re.S).group(1)
    assert re.findall(r"^\s*server 127\.0\.0\.1:(\d+);", upstream, re.M) == ["9001", "9002", "9003"]
    assert "hash $registry_route consistent;" in upstream
    assert "proxy_set_header Upgrade $http_upgrade;" in text and "listen 127.0.0.1:9443 ssl;" in text


def test_affinity_cookie_is_set_once_and_every_request_stays_on_one_replica(open_stack, registries):
    stack = open_stack
    status, headers = _get(stack, "/")
    assert status == 200
    cookies = [c for c in headers["set-cookie*"] if c.startswith("registry_route=")]
    assert len(cookies) == 1 and all(f in cookies[0] for f in ("HttpOnly", "Secure", "SameSite=Lax")), cookies
    route = cookies[0].split(";")[0].split("=", 1)[1]
    # that first request had no cookie (the last such GET /: a health probe of the start-up
    # that timed out under load may be logged after it, so the last line is not enough) ...
    first = logged(stack, lambda row: row[0] == "-" and row[3] == "GET" and row[4] == "/")[-1]
    status, headers = _get(stack, "/_stcore/health", f"registry_route={route}")
    assert not [c for c in headers["set-cookie*"] if c.startswith("registry_route=")]  # ... and is not set again
    last = logged(stack, lambda row: row[0] == route and row[4] == "/_stcore/health")[-1]
    assert last[1] == first[1]  # the cookie leads to the replica that answered without it

    by_replica = routes_per_replica(stack)
    assert sorted(by_replica) == sorted(f"127.0.0.1:{p}" for p in stack.app_ports)  # browsers spread over all

    async def browse(route: str) -> tuple[str, tuple[int, int] | None]:
        s = StreamlitSession(stack.url, cafile=str(stack.cafile), cookies={"registry_route": route})
        try:
            await s.open("")
            run = await s.select("flt_site", ["Colon"])
            return route, run.n_of_m
        finally:
            await s.close()

    async def all_sessions():
        return await asyncio.gather(*(browse(routes[0]) for routes in by_replica.values()))

    results = asyncio.run(all_sessions())
    for route, n_of_m in results:
        assert n_of_m == registries["count"](A_N, CohortFilter(site=("COLON",)))
        ups = upstreams_of(stack, route)
        paths = {p for r, _u, _s, _m, p in stack.access_log() if r == route}
        assert len(ups) == 1, (route, ups)
        assert {"/", "/_stcore/stream"} <= paths  # the page and the WebSocket went to that one replica


def test_store_swap_during_load_every_run_reads_one_store(open_stack, registries):
    """Sessions on all three replicas change filters while the other registry is imported
    over the served file: every run's N of M is the count of its filter in the store with
    that M, its banner is that store's, and every session ends on the new store."""
    from dashboard.ingest import import_registry

    stack, count = open_stack, registries["count"]
    by_replica = routes_per_replica(stack)
    routes = [r for rs in by_replica.values() for r in rs[:2]]  # two sessions per replica
    assert len(routes) == 6
    imported = threading.Event()
    errors: list[str] = []
    swapped_at: list[float] = []

    def do_import() -> None:
        time.sleep(3)
        try:
            import_registry(registries["export_b"], registries["db"], actor="test")
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        imported.set()

    def watch_swap() -> None:  # the moment the served file is replaced (os.replace)
        before = os.stat(registries["db"]).st_ino
        while not imported.is_set() or not swapped_at:
            if os.stat(registries["db"]).st_ino != before:
                swapped_at.append(time.monotonic())
                return
            time.sleep(0.002)

    watcher = threading.Thread(target=watch_swap, daemon=True)
    watcher.start()

    async def session(route: str, rng: random.Random) -> list[tuple]:
        s = StreamlitSession(stack.url, cafile=str(stack.cafile), cookies={"registry_route": route})
        seen = []
        try:
            t0 = time.monotonic()
            run = await s.open("")
            seen.append(((), run.n_of_m, run.markdown, False, (t0, time.monotonic())))
            after = 0
            while after < 3:  # keep going until three runs have started after the import finished
                labels = tuple(rng.choice([[], *[[x] for x in SITES], ["Rectum", "Colon"]]))
                done = imported.is_set()
                t0 = time.monotonic()
                run = await s.select("flt_site", list(labels))
                assert not run.exceptions, run.exceptions
                seen.append((labels, run.n_of_m, run.markdown, done, (t0, time.monotonic())))
                after += done
                await asyncio.sleep(rng.uniform(0.05, 0.3))
        finally:
            await s.close()
        return seen

    async def main():
        loop = asyncio.get_running_loop()
        importer = loop.run_in_executor(None, do_import)
        out = await asyncio.gather(*(session(r, random.Random(i)) for i, r in enumerate(routes)))
        await importer
        return out

    sessions = asyncio.run(main())
    assert not errors, errors
    watcher.join(5)
    assert swapped_at, "the import never replaced the served file"
    stale_ranges, straddling = 0, []
    for route, seen in zip(routes, sessions):
        stores = []
        for labels, n_of_m, markdown, after_import, (t_start, t_end) in seen:
            assert n_of_m is not None and n_of_m[1] in (A_N, B_N), (route, n_of_m)
            line = next(m for m in markdown if " patients**" in m)
            flt = _stated_filter(labels, line)
            stale_ranges += flt.t0 is not None
            assert n_of_m == count(n_of_m[1], flt), (route, labels, n_of_m, line)
            banner = next(m for m in markdown if "SYNTHETIC DEMONSTRATION DATA" in m)  # the data-source banner
            if t_start < swapped_at[0] < t_end and f"Seed {SEED[n_of_m[1]]}," not in banner:
                # a run during the swap: its counts are one store's (checked above), but the page
                # reads the store per query, not per run, so its banner may name the other store
                straddling.append((route, n_of_m, banner[-60:]))
            else:
                assert f"Seed {SEED[n_of_m[1]]}," in banner, (route, n_of_m, "the banner names another store", banner)
            if after_import:
                assert n_of_m[1] == B_N, (route, "a run started after the import read the old store")
            stores.append(n_of_m[1])
        assert stores[0] == A_N and stores[-1] == B_N, (route, stores)
        assert stores == sorted(stores), (route, stores)  # never back to the old store
    assert {u for r in routes for u in upstreams_of(stack, r)} == {f"127.0.0.1:{p}" for p in stack.app_ports}
    if stale_ranges or straddling:
        print(f"{stale_ranges} runs after the import kept the old store's T0 range as a filter (see "
              f"test_after_an_import_an_untouched_date_range_follows_the_new_store); {len(straddling)} runs during the swap showed the other store's banner: {straddling[:3]}")


def test_after_an_import_an_untouched_date_range_follows_the_new_store(open_stack, registries):
    from dashboard.ingest import import_registry

    stack = open_stack
    if select_patient_counts(Store(registries["db"]), CohortFilter())["m"] != A_N:
        from dashboard.synth import build_demo

        build_demo(registries["db"], A_N, SEED[A_N], progress=False)  # back to store A (the swap test imported B)

    async def run() -> tuple:
        s = StreamlitSession(stack.url, cafile=str(stack.cafile))
        try:
            first = await s.open("")
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: import_registry(registries["export_b"], registries["db"], actor="test"))
            after = await s.select("flt_site", [])
            return first, after
        finally:
            await s.close()

    first, after = asyncio.run(run())
    assert first.n_of_m == (A_N, A_N)
    assert after.n_of_m == (B_N, B_N), next(m for m in after.markdown if " patients**" in m)


# --------------------------------------------------------------------------------------
# in the browser: sign-in on every replica, an upload through one, a download through another
# --------------------------------------------------------------------------------------
ACCESS = """
[access]
sign_in_required = true
[users]
"dana@site.example" = "data_manager"
[groups]
"registry-viewers" = "viewer"
"""
T = 60_000


def _zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(p for p in folder.iterdir() if p.is_file()):  # with its SYNTHETIC_DATA marker
            zf.write(f, f.name)
    return buf.getvalue()


@pytest.mark.browser
def test_sign_in_upload_and_download_across_replicas(registries, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOIDC

    from dashboard import audit
    from dashboard.synth import build_demo

    db = tmp_path / "data" / "registry.duckdb"
    db.parent.mkdir()
    build_demo(db, A_N, SEED[A_N], progress=False)
    ports = free_ports(5)
    with FakeOIDC() as idp:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(f'[auth]\nredirect_uri = "https://127.0.0.1:{ports[0]}/oauth2callback"\n'
                           f'cookie_secret = "{"c" * 48}"\nclient_id = "{CLIENT_ID}"\n'
                           f'client_secret = "{CLIENT_SECRET}"\nserver_metadata_url = "{idp.metadata_url}"\n')
        (tmp_path / "access.toml").write_text(ACCESS)
        stack = Replicas(3, db=db, port=ports[0], http_port=ports[1], app_ports=ports[2:], tmp=tmp_path / "proxy", secrets=secrets,
                         env={"DASHBOARD_AUDIT_DB": str(tmp_path / "audit.sqlite3"), "DASHBOARD_EXPORT_WARMUP": "0",
                              "DASHBOARD_ACCESS_CONFIG": str(tmp_path / "access.toml")})
        with stack, sync_api.sync_playwright() as pw:
            by_replica = routes_per_replica(stack)
            assert len(by_replica) == 3
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            pages = {}
            try:
                users = [{"email": "dana@site.example", "name": "Dana"},
                         {"email": "val@site.example", "name": "Val", "groups": ["registry-viewers"]},
                         {"email": "vic@site.example", "name": "Vic", "groups": ["registry-viewers"]}]
                for (upstream, routes), user in zip(sorted(by_replica.items()), users):
                    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True,
                                              accept_downloads=True)
                    ctx.add_cookies([{"name": "registry_route", "value": routes[0], "url": stack.url + "/"}])
                    page = ctx.new_page()
                    page.goto(stack.url + "/", wait_until="domcontentloaded", timeout=T)
                    idp.user = user
                    page.get_by_role("button", name="Sign in").click(timeout=T)
                    page.get_by_role("heading", name="Registry overview", exact=True).wait_for(timeout=T)
                    page.get_by_text(f"{A_N} of {A_N} patients").first.wait_for(timeout=T)
                    pages[user["email"]] = (page, routes[0], upstream)
                    # the whole round trip (login, callback, WebSocket) stayed on this replica
                    trip = [(u, p) for r, u, _s, _m, p in stack.access_log() if r == routes[0]]
                    assert {"/auth/login", "/oauth2callback"} <= {p for _, p in trip}, trip
                    assert {u for u, _ in trip} == {upstream}

                # an upload on the Data page through replica 1
                page, route, upstream = pages["dana@site.example"]
                page.goto(stack.url + "/Data", wait_until="domcontentloaded", timeout=T)
                page.get_by_role("heading", name="Import a registry export").wait_for(timeout=T)
                page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
                    files=[{"name": "registry_b.zip", "mimeType": "application/zip",
                            "buffer": _zip_folder(registries["export_b"])}])
                page.get_by_text("Valid:").first.wait_for(timeout=T)
                page.get_by_role("checkbox", name=re.compile("^Replace the current dataset")).check(force=True)
                page.get_by_role("button", name="Load", exact=True).click(timeout=T)
                page.get_by_text("Loaded. Content hash").first.wait_for(timeout=120_000)
                uploads = [(u, s) for r, u, s, m, p in stack.access_log()
                           if r == route and p.startswith("/_stcore/upload_file/") and m == "PUT"]
                assert uploads and {u for u, _ in uploads} == {upstream} and {s for _, s in uploads} == {"204"}

                # the other replicas serve the imported store; a download through replica 2
                for email in ("val@site.example", "vic@site.example"):
                    page, route, upstream = pages[email]
                    page.reload(wait_until="domcontentloaded", timeout=T)
                    page.get_by_text(f"{B_N} of {B_N} patients").first.wait_for(timeout=T)
                    page.get_by_text(f"Seed {SEED[B_N]},").first.wait_for(timeout=T)
                page, route, upstream = pages["val@site.example"]
                # Chromium cancels a download from an origin with a certificate error (the
                # throw-away certificate), so the file is read as it passes the page's route
                fetched: list[bytes] = []

                def keep(route_):
                    resp = route_.fetch()
                    fetched.append(resp.body())
                    route_.fulfill(response=resp)

                page.route("**/media/**", keep)
                page.get_by_role("button", name=re.compile("Export table")).first.click()
                pop = page.locator("[data-testid='stPopoverBody']")
                pop.get_by_role("button", name=re.compile("Download CSV")).click(timeout=T)
                deadline = time.monotonic() + 60
                while not fetched and time.monotonic() < deadline:
                    page.wait_for_timeout(250)
                assert fetched, "no download file was fetched"
                csv = fetched[0].decode("utf-8-sig")
                assert "SYNTHETIC DATA - not real patients" in csv  # the provenance footer of the export door
                assert f"N = {B_N} of {B_N} registered" in csv  # built by this replica on the imported store
                media = [u for r, u, _s, m, p in stack.access_log() if r == route and p.startswith("/media/")]
                assert media and set(media) == {upstream}
            except Exception:
                shots = Path(os.environ.get("REPLICA_SHOTS", tmp_path))
                for email, (page, route, _u) in pages.items():
                    page.screenshot(path=str(shots / f"replicas-{email.split('@')[0]}.png"), full_page=True)
                print([row for row in stack.access_log() if "upload" in row[4] or "media" in row[4]])
                raise
            finally:
                browser.close()
        log = audit.read(path=tmp_path / "audit.sqlite3")
        actions = list(zip(log["actor"].to_list(), log["action"].to_list()))
        for email in ("dana@site.example", "val@site.example", "vic@site.example"):
            assert (email, "sign_in") in actions  # one audit trail written by all three processes
        assert ("dana@site.example", "import") in actions
        assert ("val@site.example", "export") in actions  # the download went through the audited door
