"""CohortFilter: SQL with bound values only, URL round trip, untrusted URL values."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest

from dashboard.filters import (
    CHOICE_FIELDS,
    FILTER_COLUMNS,
    FILTER_FIELDS,
    MISSING,
    CohortFilter,
    PageOption,
    build_query_params,
    parse_query_params,
)
from dashboard.schema import SUBJECT

FULL = CohortFilter(
    cohort=("PROSP",), site=("RECTUM", "COLON"), histology=("ADENO", MISSING), biomarker=("POLE",), lynch=("YES",),
    ct=("T3",), cn=("N1", "N2"), ecog=("0",), sex=("F",), regimen=("PD1",), response=("CCR", MISSING),
    strategy=("WW",), age=(30, 70), t0=(dt.date(2020, 1, 1), dt.date(2022, 6, 30)),
)
VIEW = PageOption("view", "View", (("combined", "Combined"), ("split", "Split")), "combined")


def test_empty_filter_is_true():
    assert CohortFilter().where_sql() == ("TRUE", {})
    assert CohortFilter().is_empty and not FULL.is_empty


def test_sql_holds_no_values_and_only_whitelisted_columns():
    sql, params = FULL.where_sql()
    stripped = re.sub(r"\$f_\w+", "", sql)
    for name, v in params.items():
        assert f"${name}" in sql
        assert not re.search(rf"\b{re.escape(str(v))}\b", stripped)
    assert "'" not in sql
    # every identifier in the SQL is a whitelisted adsl column
    words = {w for w in sql.replace("(", " ").replace(")", " ").replace(",", " ").split()
             if w.isidentifier() and w.upper() not in {"IN", "OR", "AND", "IS", "NULL", "BETWEEN", "TRUE"}}
    assert words <= FILTER_COLUMNS


def test_sql_selects_the_right_rows():
    con = duckdb.connect()
    con.execute("CREATE TABLE adsl (tumour_site VARCHAR, histology VARCHAR, age INTEGER, t0 DATE)")
    con.execute("""INSERT INTO adsl VALUES ('RECTUM','ADENO',40,'2021-01-01'), ('RECTUM',NULL,40,'2021-01-01'),
                   ('COLON','SRCC',40,'2021-01-01'), ('GASTRIC','ADENO',40,'2021-01-01'),
                   ('RECTUM','ADENO',80,'2021-01-01'), ('RECTUM','ADENO',40,'2023-01-01'), ('RECTUM','ADENO',40,NULL)""")
    flt = CohortFilter(site=("RECTUM", "COLON"), histology=("ADENO", MISSING), age=(30, 70),
                       t0=(dt.date(2020, 1, 1), dt.date(2022, 1, 1)))
    sql, params = flt.where_sql("a")
    assert "a.tumour_site" in sql
    n = con.sql(f"SELECT count(*) FROM adsl a WHERE {sql}", params=params).fetchall()[0][0]
    assert n == 2  # rows 1 and 2


def test_codes_are_validated_and_ordered():
    assert CohortFilter(site=("COLON", "RECTUM", "COLON")).site == ("RECTUM", "COLON")
    with pytest.raises(ValueError):
        CohortFilter(site=("MARS",))
    with pytest.raises(TypeError):
        CohortFilter(site="RECTUM")
    with pytest.raises(ValueError):
        CohortFilter(age=(70, 30))
    with pytest.raises(ValueError):
        CohortFilter(sex=(MISSING,))  # sex is required: no "not recorded" choice


def test_url_round_trip():
    qp = build_query_params(FULL, {"view": "split"}, (VIEW,))
    assert qp["site"] == ["RECTUM", "COLON"] and qp["age"] == ["30", "70"] and qp["view"] == ["split"]
    back, opts, notices = parse_query_params(qp, (VIEW,))
    assert back == FULL and opts == {"view": "split"} and notices == []
    assert build_query_params(CohortFilter(), {"view": "combined"}, (VIEW,)) == {}


def test_every_field_has_a_widget_key_and_a_label():
    assert set(FILTER_FIELDS) == {f.name for f in CohortFilter.__dataclass_fields__.values()}
    for f in CHOICE_FIELDS:
        for code in f.codes:
            assert f.label_of(code) and f.label_of(code) != MISSING
    assert FILTER_FIELDS["age"].lo == SUBJECT.column("age").min


@pytest.mark.parametrize(
    "raw, kept, bad",
    [
        ({"site": ["RECTUM", "MARS"]}, CohortFilter(site=("RECTUM",)), ["site=MARS"]),
        ({"site": "x' OR 1=1; DROP TABLE adsl; --"}, CohortFilter(), ["site=x' OR 1=1"]),
        ({"age": ["30"]}, CohortFilter(), ["age=30"]),
        ({"age": ["thirty", "70"]}, CohortFilter(), ["age=thirty&70"]),
        ({"age": ["10", "70"]}, CohortFilter(), ["age=10&70"]),
        ({"age": ["70", "30"]}, CohortFilter(), ["age=70&30"]),
        ({"t0": ["2021-02-30", "2022-01-01"]}, CohortFilter(), ["t0=2021-02-30"]),
        ({"nonsense": "1"}, CohortFilter(), ["nonsense=1"]),
        ({"view": "sideways"}, CohortFilter(), ["view=sideways"]),
        ({"embed": "true", "sex": ""}, CohortFilter(), []),
    ],
)
def test_untrusted_url_values_are_dropped_with_a_notice(raw, kept, bad):
    flt, _, notices = parse_query_params(raw, (VIEW,))
    assert flt == kept
    assert len(notices) == len(bad)
    for n, b in zip(notices, bad):
        assert str(n).startswith("`" + b[:40])


def test_t0_range_is_clipped_to_the_data():
    bounds = (dt.date(2019, 1, 1), dt.date(2024, 12, 31))
    flt, _, notices = parse_query_params({"t0": ["2010-01-01", "2020-01-01"]}, t0_bounds=bounds)
    assert flt.t0 == (dt.date(2019, 1, 1), dt.date(2020, 1, 1)) and not notices
    flt, _, notices = parse_query_params({"t0": ["2000-01-01", "2001-01-01"]}, t0_bounds=bounds)
    assert flt.t0 is None and len(notices) == 1


def test_long_and_many_values_do_not_explode():
    flt, _, notices = parse_query_params({"site": ["A" * 10_000] * 1000})
    assert flt == CohortFilter() and len(notices) <= 50 and len(str(notices[0])) < 200


def test_describe_uses_labels():
    text = " ".join(FULL.describe())
    assert "Rectum" in text and "Not assessed" in text and "RECTUM" not in text
