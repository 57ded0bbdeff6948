"""A light Streamlit client: one browser session without a browser (bench_load.py, tests).

It does on the wire what the Streamlit frontend does: an HTTP GET of the page (through the
proxy this also yields the ``registry_route`` affinity cookie), ``/_stcore/health`` (the XSRF
cookie), then the WebSocket ``/_stcore/stream`` with the cookies, ``Origin`` and the
``streamlit`` subprotocol, and ``BackMsg.rerun_script`` messages carrying the client state:
page (script hash from ``new_session``), query string (echoed from ``page_info_changed``,
as the browser's URL would) and widget states. A run ends with ``script_finished``.

It decodes every ForwardMsg (protobufs from ``streamlit.proto``) but renders nothing, so it
costs the server exactly what a browser session costs and the client a fraction of a
Chromium context (which needs ~100-200 MB and a core of its own on a 2-core machine).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

N_OF_M = re.compile(r"\*\*([\d,]+) of ([\d,]+) patients\*\*")
SEED = re.compile(r"Seed (\d+),")


@dataclass
class Run:
    """What one script run sent: timings, sizes, and the text a test checks."""

    seconds: float
    msgs: int = 0
    bytes: int = 0
    markdown: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    widgets: dict[str, object] = field(default_factory=dict)  # user key -> element proto
    status: int | None = None

    @property
    def n_of_m(self) -> tuple[int, int] | None:
        for body in self.markdown:
            m = N_OF_M.search(body)
            if m:
                return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
        return None

    @property
    def seed(self) -> int | None:
        for body in self.markdown:
            m = SEED.search(body)
            if m:
                return int(m.group(1))
        return None


class StreamlitSession:
    """One session through ``base_url`` (the proxy or one replica)."""

    def __init__(self, base_url: str, *, cafile: str | None = None, timeout: float = 120,
                 cookies: dict[str, str] | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.ssl = ssl.create_default_context(cafile=cafile) if self.base.startswith("https") else None
        self.http = httpx.AsyncClient(verify=self.ssl if self.ssl else True, timeout=timeout)
        for name, value in (cookies or {}).items():  # e.g. a registry_route known to reach one replica
            self.http.cookies.set(name, value, domain=urlsplit(self.base).hostname)
        self.timeout = timeout
        self.ws = None
        self.pages: dict[str, str] = {}  # url path ("" = entry page) -> page script hash
        self.page_hash = ""
        self.query = ""
        self.widget_ids: dict[str, str] = {}  # user key -> widget id
        self.widget_states: dict[str, list[str]] = {}  # widget id -> string array value

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.http.cookies.jar if c.name == name), None)

    async def open(self, path: str = "") -> Run:
        """First load: HTTP requests of the page, the WebSocket, and the first run."""
        t = time.perf_counter()
        r = await self.http.get(f"{self.base}/{path}")
        r.raise_for_status()
        (await self.http.get(f"{self.base}/_stcore/health")).raise_for_status()
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)
        parts = urlsplit(self.base)
        ws_url = ("wss" if parts.scheme == "https" else "ws") + f"://{parts.netloc}/_stcore/stream"
        self.ws = await connect(ws_url, ssl=self.ssl, subprotocols=["streamlit"], max_size=None,
                                origin=f"{parts.scheme}://{parts.netloc}", open_timeout=self.timeout,
                                additional_headers={"Cookie": cookies} if cookies else None)
        run = await self._rerun(page_name=path)
        run.seconds = time.perf_counter() - t
        return run

    def _client_state(self, msg: BackMsg, page_name: str = "") -> None:
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash
        cs.page_name = page_name
        cs.context_info.timezone = "UTC"
        cs.context_info.locale = "en-GB"
        cs.context_info.url = f"{self.base}/"
        for wid, value in self.widget_states.items():
            w = cs.widget_states.widgets.add()
            w.id = wid
            w.string_array_value.data.extend(value)

    async def _rerun(self, page_name: str = "") -> Run:
        msg = BackMsg()
        self._client_state(msg, page_name)
        t = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        run = Run(0.0)
        await asyncio.wait_for(self._receive(run), self.timeout)
        run.seconds = time.perf_counter() - t
        return run

    async def _receive(self, run: Run) -> None:
        early = ForwardMsg.FINISHED_EARLY_FOR_RERUN
        while True:
            data = await self.ws.recv()
            run.msgs += 1
            run.bytes += len(data)
            fm = ForwardMsg.FromString(data)
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                ns = fm.new_session
                self.pages.update({p.url_pathname: p.page_script_hash for p in ns.app_pages})
                self.page_hash = ns.page_script_hash
            elif kind == "navigation":  # the page this run is on, and every page of the app
                nav = fm.navigation
                self.pages.update({p.url_pathname: p.page_script_hash for p in nav.app_pages})
                if nav.page_script_hash:
                    self.page_hash = nav.page_script_hash
            elif kind == "page_info_changed":
                self.query = fm.page_info_changed.query_string
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                et = el.WhichOneof("type")
                if et == "markdown":
                    run.markdown.append(el.markdown.body)
                elif et == "exception":
                    run.exceptions.append(f"{el.exception.type}: {el.exception.message}"[:300])
                elif et == "multiselect":
                    key = el.multiselect.id.rsplit("-", 1)[-1]
                    self.widget_ids[key] = el.multiselect.id
                    run.widgets[key] = el.multiselect
            elif kind == "session_event" and fm.session_event.WhichOneof("type") == "script_compilation_exception":
                run.exceptions.append("script compilation exception")
            elif kind == "script_finished":
                if fm.script_finished != early:
                    run.status = fm.script_finished
                    return

    async def goto(self, path: str) -> Run:
        """Open another page, as a click in the sidebar menu does (by its script hash once
        ``new_session`` has listed it, else by its URL path, as a first load does)."""
        self.page_hash = self.pages.get(path, "")
        return await self._rerun(page_name=path)

    async def select(self, key: str, labels: list[str], **more: list[str]) -> Run:
        """Set the multiselect with user key ``key`` to ``labels`` (its displayed option
        texts), and any further ``key=labels``, in one rerun."""
        for k, v in {key: labels, **more}.items():
            wid = self.widget_ids.get(k)
            if wid is None:
                raise KeyError(f"no multiselect {k!r} seen yet")
            self.widget_states[wid] = list(v)
        return await self._rerun()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.aclose()
