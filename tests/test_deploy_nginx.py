"""The shipped reverse-proxy configuration (deploy/nginx/registry.conf), run for real:
Debian's nginx on loopback, with TLS (a throw-away self-signed certificate), in front of
``streamlit run app.py`` with sign-in configured.

Only the site-specific lines are rewritten (listen ports, certificate paths, the app's
port); everything else is the shipped file. The client that must be refused connects
from 127.0.0.2 (another loopback address), so "this machine only" rules can be seen to
refuse a client that is not 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from serve_replicas import nginx_main_config, render_site_config  # noqa: E402
from builders import free_ports  # noqa: E402
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "registry.hospital.example"

if not Path(NGINX).exists() or not shutil.which("openssl"):
    pytest.skip("nginx or openssl not installed (scripts/system-deps.sh)", allow_module_level=True)


def _free_port() -> int:
    return free_ports(1)[0]


def _wait(port: int, path: str = "/_stcore/health", tls: bool = False, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if tls:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def site_config(app_port: int, http_port: int, tls_port: int, cert: Path, key: Path) -> str:
    """The shipped file with its SITE lines set (the same rendering as ``make serve``),
    listening on two loopback addresses."""
    return render_site_config([app_port], tls_port, http_port, cert, key, listen=("127.0.0.1", "127.0.0.2"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from dashboard.synth import build_demo

    tmp = tmp_path_factory.mktemp("nginx")
    db = tmp / "registry.duckdb"
    build_demo(db, 100, 5, progress=False)
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", f"/CN={HOST}"], check=True, capture_output=True)
    secrets = tmp / "secrets.toml"
    secrets.write_text(f'[auth]\nredirect_uri = "https://{HOST}/oauth2callback"\ncookie_secret = "{"c" * 48}"\n'
                       'client_id = "dashboard"\nclient_secret = "s"\n'
                       'server_metadata_url = "http://127.0.0.1:1/.well-known/openid-configuration"\n')
    access = tmp / "access.toml"
    access.write_text('[access]\nsign_in_required = true\n[users]\n"dm@site.example" = "data_manager"\n')
    app_port, http_port, tls_port = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "DASHBOARD_DB": str(db), "DASHBOARD_ACCESS_CONFIG": str(access),
           "DASHBOARD_AUDIT_DB": str(tmp / "audit.sqlite3")}
    app = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(app_port), "--server.headless", "true", "--server.fileWatcherType", "none",
         "--secrets.files", str(secrets), "--server.allowedHosts", HOST],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (tmp / d).mkdir()
    (tmp / "registry.conf").write_text(site_config(app_port, http_port, tls_port, cert, key))
    (tmp / "nginx.conf").write_text(nginx_main_config(tmp, tmp / "registry.conf", worker_connections=64))
    check = subprocess.run([NGINX, "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proxy = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait(app_port)
        _wait(tls_port, tls=True)
        yield {"app": app_port, "http": http_port, "tls": tls_port}
    finally:
        _stop(proxy)
        _stop(app)


def _request(stack, method: str, path: str, *, source: str = "127.0.0.1", headers: dict | None = None,
             body: bytes | None = None, tls: bool = True):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    port = stack["tls"] if tls else stack["http"]
    target = "127.0.0.1" if source == "127.0.0.1" else "127.0.0.2"
    conn = (http.client.HTTPSConnection(target, port, context=ctx, timeout=20, source_address=(source, 0)) if tls
            else http.client.HTTPConnection(target, port, timeout=20, source_address=(source, 0)))
    conn.request(method, path, body=body, headers={"Host": HOST, **(headers or {})})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.getheaders(), data


def test_the_app_is_served_over_tls_with_secure_cookies(stack):
    status, headers, body = _request(stack, "GET", "/_stcore/health", source="127.0.0.2")
    assert status == 200 and body == b"ok"
    cookies = [v for k, v in headers if k.lower() == "set-cookie"]
    assert cookies, "Streamlit sets its XSRF cookie on this route"
    assert all("secure" in c.lower() for c in cookies), cookies
    status, _, body = _request(stack, "GET", "/", source="127.0.0.2")
    assert status == 200 and b"<html" in body.lower()
    status, headers, _ = _request(stack, "GET", "/", source="127.0.0.2", tls=False)
    assert status == 301 and dict(headers)["Location"].startswith("https://")


@pytest.mark.parametrize("path", ["/_stcore/metrics", "/_stcore/script-health-check", "/_stcore/agent/openapi.json"])
def test_operational_endpoints_are_closed_to_other_clients(stack, path):
    assert _request(stack, "GET", path, source="127.0.0.2")[0] == 403
    assert _request(stack, "GET", path + "?x=1", source="127.0.0.2")[0] == 403


def test_metrics_stay_open_to_this_machine_and_the_app_itself_serves_them(stack):
    with urllib.request.urlopen(f"http://127.0.0.1:{stack['app']}/_stcore/metrics", timeout=5) as r:
        assert r.status == 200  # what the proxy closes: the app alone would answer anyone who reaches it
    assert _request(stack, "GET", "/_stcore/metrics", source="127.0.0.1")[0] == 200


def test_uploads_and_download_files_need_a_sign_in_cookie(stack):
    assert _request(stack, "PUT", "/_stcore/upload_file/s/f", source="127.0.0.2", body=b"x" * 10)[0] == 403
    assert _request(stack, "GET", "/media/abc.csv", source="127.0.0.2")[0] == 403
    # with a cookie the request reaches the app, which decides (an unknown file id: not found)
    assert _request(stack, "GET", "/media/abc.csv", source="127.0.0.2", headers={"Cookie": "_streamlit_user=x"})[0] == 404


def test_oversized_bodies_are_refused_at_the_proxy(stack):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.2", stack["tls"], context=ctx, timeout=20,
                                       source_address=("127.0.0.2", 0))
    conn.putrequest("PUT", "/_stcore/upload_file/s/f", skip_host=True)
    conn.putheader("Host", HOST)
    conn.putheader("Cookie", "_streamlit_user=x")
    conn.putheader("Content-Length", str(201 * 1024 * 1024))  # declared only: nginx refuses before the body
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413
    conn.close()
