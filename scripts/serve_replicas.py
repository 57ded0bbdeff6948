"""N app processes behind Debian's nginx on loopback, with cookie-based session affinity.

    python scripts/serve_replicas.py [--replicas 3] [--port 8443] [--app-port 8601] [--db PATH]
    make serve REPLICAS=3                      # the same, after `make install` and the demo store

Starts ``--replicas`` ``streamlit run app.py`` processes on 127.0.0.1 ports ``--app-port``,
``--app-port + 1``, ... all reading the same DuckDB file (``$DASHBOARD_DB`` or ``--db``:
each opens it read-only; an import, from the command line or any replica's Data page,
swaps the file and every replica serves the new version on its next page run). In front
of them runs nginx as the current user (no root), with the shipped site configuration
``deploy/nginx/registry.conf`` rendered for loopback: only the lines marked SITE are
replaced (listen addresses, a throw-away self-signed certificate, one upstream ``server``
line per replica). The app is then at https://127.0.0.1:PORT/ (the browser warns about the
self-signed certificate); port PORT + 1 redirects plain HTTP to it. Ctrl-C (SIGINT) or
SIGTERM stops nginx and every replica.

Sign-in: pass ``--secrets FILE`` (a ``.streamlit/secrets.toml`` with ``[auth]``; every replica
reads the same file, so a sign-in cookie signed by one replica is valid on all) and set
``DASHBOARD_ACCESS_CONFIG``. Without a site access file the app runs in open demo mode,
which it allows only because both the replicas and the proxy listen on loopback.

Used by tests/test_replicas.py and bench/bench_load.py (``Replicas`` below).
"""

from __future__ import annotations

import argparse
import atexit
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "deploy" / "nginx" / "registry.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = "127.0.0.1"


def render_site_config(app_ports: list[int], tls_port: int, http_port: int, cert: Path, key: Path,
                       text: str | None = None, listen: tuple[str, ...] = ("127.0.0.1",)) -> str:
    """The shipped site configuration with its SITE lines set for these ports and files."""
    text = SHIPPED.read_text() if text is None else text
    servers = "\n    ".join(f"server 127.0.0.1:{p};" for p in app_ports)
    subs = [
        (r"server 127\.0\.0\.1:8501;", servers),
        (r"listen 80;", " ".join(f"listen {a}:{http_port};" for a in listen)),
        (r"listen 443 ssl;", " ".join(f"listen {a}:{tls_port} ssl;" for a in listen)),
        (r"ssl_certificate     /etc/ssl/certs/registry\.pem;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key /etc/ssl/private/registry\.key;", f"ssl_certificate_key {key};"),
    ]
    for pattern, repl in subs:
        text, n = re.subn(pattern, repl, text)
        if n != 1:
            raise ValueError(f"{SHIPPED} no longer has exactly one {pattern!r}")
    return text


def nginx_main_config(tmp: Path, site: Path, worker_connections: int = 4096) -> str:
    """A main nginx.conf that runs as the current user with every path under ``tmp``; the
    access log names, per request, the affinity cookie and the replica that answered."""
    # Started as root (containers, CI), nginx's workers would switch to `nobody`, who cannot
    # write request bodies (uploads) into this private folder: keep them as the current user.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    return (f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/logs/error.log;\ndaemon off;\n"
            f"events {{ worker_connections {worker_connections}; }}\n"
            f"http {{\n log_format routes '$cookie_registry_route $upstream_addr $status $request_method $uri';\n"
            f" access_log {tmp}/logs/access.log routes;\n client_body_temp_path {tmp}/body;\n proxy_temp_path {tmp}/proxy;\n"
            f" fastcgi_temp_path {tmp}/fastcgi;\n uwsgi_temp_path {tmp}/uwsgi;\n scgi_temp_path {tmp}/scgi;\n"
            f" include {site};\n}}\n")


def self_signed(tmp: Path, host: str = HOST) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}"],
                   check=True, capture_output=True)
    return cert, key


def _healthy(url: str, timeout: float, context=None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass


class Replicas:
    """``n`` app processes and nginx in front; a context manager that always stops them all."""

    def __init__(self, n: int, *, db: Path | None = None, port: int = 8443, app_port: int = 8601, app_port_step: int = 1,
                 env: dict[str, str | None] | None = None, secrets: Path | None = None,
                 allowed_hosts: str | None = None, tmp: Path | None = None, quiet: bool = True,
                 app_ports: list[int] | None = None, http_port: int | None = None) -> None:
        if n < 1:
            raise ValueError("at least one replica")
        self.n, self.port, self.http_port = n, port, http_port or port + 1
        self.app_ports = list(app_ports) if app_ports else [app_port + i * app_port_step for i in range(n)]
        if len(self.app_ports) != n:
            raise ValueError(f"{n} replicas need {n} ports, not {self.app_ports}")
        self.url = f"https://{HOST}:{port}"
        self.db = Path(db).resolve() if db else None
        self.env, self.secrets, self.allowed_hosts, self.quiet = env or {}, secrets, allowed_hosts, quiet
        self._own_tmp = tmp is None
        self.tmp = Path(tmp or tempfile.mkdtemp(prefix="registry-serve-"))
        self.apps: list[subprocess.Popen] = []
        self.proxy: subprocess.Popen | None = None

    # -- lifecycle
    def __enter__(self) -> "Replicas":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _app_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        if self.db is not None:
            env["DASHBOARD_DB"] = str(self.db)
        return {k: v for k, v in env.items() if v is not None}

    def start(self) -> None:
        atexit.register(self.stop)  # also when the caller dies of an exception it does not handle
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            (self.tmp / d).mkdir(parents=True, exist_ok=True)
        env = self._app_env()
        for i, p in enumerate(self.app_ports):
            args = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1",
                    "--server.port", str(p), "--server.headless", "true", "--server.fileWatcherType", "none",
                    "--browser.gatherUsageStats", "false"]
            if self.secrets:
                args += ["--secrets.files", str(self.secrets)]
            if self.allowed_hosts:
                args += ["--server.allowedHosts", self.allowed_hosts]
            log = open(self.tmp / "logs" / f"replica-{i + 1}.log", "wb")
            self.apps.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
            log.close()
        cert, key = self_signed(self.tmp)
        site = self.tmp / "registry.conf"
        site.write_text(render_site_config(self.app_ports, self.port, self.http_port, cert, key))
        main = self.tmp / "nginx.conf"
        main.write_text(nginx_main_config(self.tmp, site))
        check = subprocess.run([NGINX, "-t", "-p", str(self.tmp), "-c", str(main)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refuses the rendered configuration:\n{check.stderr}")
        for p, proc in zip(self.app_ports, self.apps):
            if not _healthy(f"http://127.0.0.1:{p}/_stcore/health", 90) or proc.poll() is not None:
                raise RuntimeError(f"replica on port {p} did not start (log: {self.tmp / 'logs'})")
        self.proxy = subprocess.Popen([NGINX, "-p", str(self.tmp), "-c", str(main)], stdout=subprocess.DEVNULL,
                                      stderr=open(self.tmp / "logs" / "nginx.stderr", "wb"), start_new_session=True)
        import ssl

        ctx = ssl.create_default_context(cafile=str(cert))
        if not _healthy(f"{self.url}/_stcore/health", 30, context=ctx) or self.proxy.poll() is not None:
            log = (self.tmp / "logs" / "nginx.stderr").read_text(errors="replace").strip()
            raise RuntimeError(f"nginx did not answer on {self.url} (exit code {self.proxy.poll()}; "
                               f"log: {self.tmp / 'logs'}): {log[-2000:] or 'nginx wrote nothing'}")
        self.cafile = cert

    def stop(self) -> None:
        if self.proxy is not None:
            _stop(self.proxy)
            self.proxy = None
        threads = [threading.Thread(target=_stop, args=(p,)) for p in self.apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.apps = []
        if self._own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def pids(self) -> list[int]:
        return [p.pid for p in self.apps]

    def access_log(self) -> list[tuple[str, str, str, str, str]]:
        """(route cookie or "-", replica address, status, method, path) per request so far."""
        path = self.tmp / "logs" / "access.log"
        rows = []
        for line in (path.read_text().splitlines() if path.exists() else []):
            parts = line.split(" ", 4)
            if len(parts) == 5:
                rows.append(tuple(parts))
        return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--port", type=int, default=8443, help="HTTPS port of the proxy (PORT + 1: HTTP redirect)")
    ap.add_argument("--app-port", type=int, default=8601, help="first replica's port (loopback)")
    ap.add_argument("--app-port-step", type=int, default=1, help="distance between two replicas' ports")
    ap.add_argument("--db", type=Path, default=None, help="the served store (default: $DASHBOARD_DB)")
    ap.add_argument("--secrets", type=Path, default=None, help="secrets.toml with [auth] for sign-in")
    ap.add_argument("--allowed-hosts", default=None, help="server.allowedHosts of every replica")
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Replicas(args.replicas, db=args.db, port=args.port, app_port=args.app_port, app_port_step=args.app_port_step, secrets=args.secrets,
                  allowed_hosts=args.allowed_hosts) as r:
        print(f"{r.n} replicas on 127.0.0.1:{', '.join(map(str, r.app_ports))} behind nginx: {r.url}/ "
              f"(self-signed certificate; logs in {r.tmp / 'logs'}). Ctrl-C stops all.", flush=True)
        while not stop.wait(1):
            dead = [p for p, proc in zip(r.app_ports, r.apps) if proc.poll() is not None]
            if dead or (r.proxy is not None and r.proxy.poll() is not None):
                print(f"stopped: {'replica(s) on ' + ', '.join(map(str, dead)) if dead else 'nginx'} exited",
                      file=sys.stderr)
                return 1
    print("stopped nginx and every replica", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
