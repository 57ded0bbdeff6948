"""Hand-built registries for rule tests: a few patients written out in full."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import duckdb
import polars as pl

from dashboard.derive import build_analysis_tables
from dashboard.schema import TABLES_BY_NAME
from dashboard.store import create_source_tables, insert_frame


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


class Registry:
    """Collects rows per source table; ``patient()`` adds a patient with defaults."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def patient(
        self,
        sid: str,
        *,
        t0: str = "2022-01-01",
        ici_end: str = "2022-06-01",
        response: str | None = "CCR",
        restaging: str = "2022-06-15",
        site: str = "RECTUM",
        eligibility: str = "ELIGIBLE",
        last_contact: str = "2025-01-01",
        death: str | None = None,
        cohort: str = "RETRO",
        regimen: str = "PD1",
        **subject: Any,
    ) -> "PatientBuilder":
        self.rows["subject"].append(
            dict(
                subject_id=sid, cohort=cohort, centre="PKU", registration_date=d(t0 or "2022-01-01") - dt.timedelta(days=7),
                eligibility=eligibility, age=subject.pop("age", 55), sex=subject.pop("sex", "F"),
                tumour_site=site, biomarker_basis=subject.pop("biomarker_basis", "DMMR_IHC"), **subject,
            )
        )
        if t0 is not None:
            self.rows["ici_exposure"].append(
                dict(subject_id=sid, exposure_no=1, regimen_class=regimen, drugs="dostarlimab",
                     start_date=d(t0), end_date=d(ici_end), cycles=9, stop_reason="COMPLETED")
            )
        pb = PatientBuilder(self, sid)
        if response is not None:
            pb.assessment(restaging, "RESTAGING", "ENDOSCOPY", response=response)
        self.rows["follow_up"].append(
            dict(subject_id=sid, last_contact_date=d(death or last_contact),
                 vital_status="DEAD" if death else "ALIVE", death_date=d(death) if death else None,
                 death_cause="CANCER" if death else None)
        )
        return pb

    def connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        create_source_tables(con)
        for name, rows in self.rows.items():
            t = TABLES_BY_NAME[name]
            schema = {c.name: _pl_type(c.type) for c in t.columns}
            df = pl.DataFrame(rows, schema={k: v for k, v in schema.items() if any(k in r for r in rows)})
            insert_frame(con, name, df)
        build_analysis_tables(con)
        return con


def _pl_type(t: str):
    return {"str": pl.String, "code": pl.String, "int": pl.Int64, "float": pl.Float64,
            "date": pl.Date, "bool": pl.Boolean}[t]


class PatientBuilder:
    def __init__(self, reg: Registry, sid: str) -> None:
        self.reg, self.sid = reg, sid
        self.n = defaultdict(int)

    def _next(self, key: str) -> int:
        self.n[key] += 1
        return self.n[key]

    def assessment(self, date: str, timepoint: str = "SURVEILLANCE", modality: str = "ENDOSCOPY",
                   result: str = "NED", response: str | None = None) -> "PatientBuilder":
        self.reg.rows["assessment"].append(
            dict(subject_id=self.sid, assessment_no=self._next("a"), assessment_date=d(date), timepoint=timepoint,
                 modality=modality, result=result, overall_response=response))
        return self

    def episode(self, strategy: str, decision: str, start: str | None = None, trigger: str | None = None) -> "PatientBuilder":
        no = self._next("e")
        self.reg.rows["strategy_episode"].append(
            dict(subject_id=self.sid, episode_no=no, strategy=strategy, decision_date=d(decision),
                 start_date=d(start or decision), trigger=trigger or ("INITIAL" if no == 1 else "REGROWTH")))
        return self

    def procedure(self, ptype: str, date: str, intent: str = "PRIMARY", r: str = "R0",
                  episode: int | None = None, **extra: Any) -> "PatientBuilder":
        no = self._next("p")
        self.reg.rows["procedure"].append(
            dict(subject_id=self.sid, procedure_no=no, episode_no=episode or self.n["e"], procedure_date=d(date),
                 procedure_type=ptype, intent=intent, r_status=r, **extra))
        return self

    def pathology(self, procedure_no: int, ypt: str, ypn: str, residual: float | None = None) -> "PatientBuilder":
        self.reg.rows["pathology"].append(
            dict(subject_id=self.sid, procedure_no=procedure_no, ypt=ypt, ypn=ypn, residual_viable_pct=residual))
        return self

    def event(self, etype: str, date: str, salvage_procedure_no: int | None = None, **extra: Any) -> "PatientBuilder":
        self.reg.rows["onc_event"].append(
            dict(subject_id=self.sid, event_no=self._next("o"), event_type=etype, event_date=d(date),
                 confirmation="BIOPSY", salvage_procedure_no=salvage_procedure_no, **extra))
        return self


def served_demo(tmp_path_factory, name: str, n_patients: int, seed: int):
    """Generator for a module-scoped fixture: a synthetic store served through
    ``$DASHBOARD_DB`` while the module runs (the previous value is restored)."""
    import os

    from dashboard.synth import build_demo

    path = tmp_path_factory.mktemp(name) / "registry.duckdb"
    build_demo(path, n_patients, seed, progress=False)
    old = os.environ.get("DASHBOARD_DB")
    os.environ["DASHBOARD_DB"] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("DASHBOARD_DB", None)
        else:
            os.environ["DASHBOARD_DB"] = old


class ConStore:
    """The one Store method the queries use (``sql``), over any DuckDB connection:
    lets query functions run on a hand-built in-memory registry."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def sql(self, query, params=None) -> pl.DataFrame:
        return self.con.cursor().sql(query, params=params or None).pl()


def plotly_values(v) -> list:
    """A trace array from a figure's JSON spec as a list: plotly 6 writes numpy arrays as
    ``{"dtype": "f8", "bdata": <base64>}`` (typed arrays), Python lists as lists."""
    import base64

    import numpy as np

    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape(v["shape"]).tolist() if "shape" in v else a.tolist()
    return list(v)


# Streamlit's [auth] secrets for AppTest sessions that sign in (at.secrets = SIGN_IN_SECRETS;
# the identity provider is never contacted: AppTest's at.user stands in for it).
SIGN_IN_SECRETS = {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 40,
                            "client_id": "dashboard", "client_secret": "s",
                            "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}}


def use_access_file(tmp_path, monkeypatch, text: str):
    """Write ``text`` as the site's access file and point the app at it, with an audit
    trail of the test's own (``tmp_path/audit.sqlite3``); returns the access file."""
    cfg = tmp_path / "access.toml"
    cfg.write_text(text)
    monkeypatch.setenv("DASHBOARD_ACCESS_CONFIG", str(cfg))
    monkeypatch.setenv("DASHBOARD_AUDIT_DB", str(tmp_path / "audit.sqlite3"))
    return cfg


def free_ports(n: int = 1) -> list[int]:
    """``n`` distinct free loopback ports below the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` lies in the ephemeral range, where any outgoing
    connection (a browser, a replica talking to its proxy) can take it between our check and the
    server's own bind: that race once left nginx unable to listen in CI. Ports are drawn at random
    from 20000-32767 instead and each is checked by binding it."""
    import random
    import socket

    lo, hi = 20000, 32767
    try:
        eph_lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
        hi = min(hi, eph_lo - 1)
    except (OSError, ValueError, IndexError):
        pass
    rng, ports = random.Random(), []
    while len(ports) < n:
        p = rng.randint(lo, hi)
        if p in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
        ports.append(p)
    return ports


def small_fill(n_patients: int):
    """A ``build_store`` fill of ``n_patients`` Watch & Wait patients with one assessment each."""
    reg = Registry()
    for i in range(n_patients):
        reg.patient(f"S{i:03d}").episode("WW", "2022-07-01").assessment("2022-12-01")

    def fill(con):
        for name, rows in reg.rows.items():
            insert_frame(con, name, pl.DataFrame(rows))

    return fill
