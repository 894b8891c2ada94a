"""The safeguarding inputs a force maintains (`sharing_basis`, `referral_outcomes`): optional, typed,
normalised, and every bad row quarantined with file, line, column and reason (docs/ingest.md)."""

from __future__ import annotations

import datetime as dt

from test_ingest import force, quarantine

from hiddennet import ingest, safeguard, select
from hiddennet.settings import Settings

S = Settings(as_of=dt.date(2021, 3, 15))


def test_optional_inputs_absent_are_empty_tables(duck, tmp_path):
    out = ingest.run(duck, S, force(tmp_path))
    for name in ("sharing_basis", "referral_outcomes"):
        assert duck.count(name) == 0 and out.facts["tables"][name]["file"] is None
    assert duck.columns("sharing_basis")[:5] == ["nominal_id", "basis", "recorded_date", "recorded_by", "expires"]


def test_sharing_basis_rows_are_normalised_and_bad_ones_quarantined(engine, tmp_path):
    """Line 2 `Consent` -> consent; line 3 `Vital Interests` -> vital_interests; line 4 `maybe`: not a basis,
    rejected (bad_sharing_basis); line 5 no date: rejected (missing_required); line 6 names nobody in nominals:
    orphan_nominal; line 7 a bad expiry date is cleared (value_cleared) and the row kept; lines 8 and 9 are two
    different bases for N2 on one day: a conflict, both rejected (the person then has no basis: the safe side).
    Run on every engine (the normalising SQL is transpiled for Spark)."""
    basis = ("nominal_id,basis,recorded_date,recorded_by,expires\n"
             "N1,Consent,2021-01-01,PC 1,\n"
             "N2,Vital Interests,2020-01-01,,2022-01-01\n"
             "N1,maybe,2021-01-02,,\n"
             "N1,consent,,,\n"
             "N9,consent,2021-01-01,,\n"
             "N1,consent_withdrawn,2021-02-01,,31/12/2021\n"
             "N2,consent,2021-03-01,,\n"
             "N2,consent_refused,2021-03-01,,\n")
    out = ingest.run(engine, S, force(tmp_path, sharing_basis__csv=basis))
    assert sorted(engine.fetch_rows("SELECT nominal_id, basis, recorded_date, expires FROM sharing_basis")) == [
        ("N1", "consent", dt.date(2021, 1, 1), None),
        ("N1", "consent_withdrawn", dt.date(2021, 2, 1), None),
        ("N2", "vital_interests", dt.date(2020, 1, 1), dt.date(2022, 1, 1)),
    ]
    assert [q for q in quarantine(engine) if q[0] == "sharing_basis"] == [
        ("sharing_basis", 4, "basis", "bad_sharing_basis", "row_rejected"),
        ("sharing_basis", 5, "recorded_date", "missing_required", "row_rejected"),
        ("sharing_basis", 6, "nominal_id", "orphan_nominal", "row_rejected"),
        ("sharing_basis", 7, "expires", "bad_date", "value_cleared"),
        ("sharing_basis", 8, None, "conflicting_duplicate", "row_rejected"),
        ("sharing_basis", 9, None, "conflicting_duplicate", "row_rejected"),
    ]
    t = out.facts["tables"]["sharing_basis"]
    assert (t["rows_read"], t["accepted"], t["rejected"]) == (8, 3, 5)


def test_referral_outcomes_are_read_and_shown_on_the_safeguarding_table(duck, tmp_path):
    """`Strategy discussion`, `NFA` and `Outcome 22` are outcome codes; `arrested` is not (bad_outcome). N2 (a
    child victim of C1) gets the latest outcome on or before as_of: outcome_22 on 2021-03-01 (the one dated
    after as_of is not yet known to this run)."""
    outcomes = ("nominal_id,outcome,outcome_date,area,recorded_by\n"
                "N2,Strategy discussion,2021-02-01,North,\n"
                "N2,Outcome 22,2021-03-01,North,\n"
                "N2,NFA,2021-04-01,North,\n"
                "N2,arrested,2021-03-02,,\n")
    ingest.run(duck, S, force(tmp_path, referral_outcomes__csv=outcomes))
    assert sorted(duck.fetch_rows("SELECT outcome FROM referral_outcomes")) == [
        ("no_further_action",), ("outcome_22",), ("strategy_discussion",)]
    assert [q for q in quarantine(duck) if q[0] == "referral_outcomes"] == [
        ("referral_outcomes", 5, "outcome", "bad_outcome", "row_rejected")]
    select.run(duck, S)
    duck.create_table("network_nominals", "SELECT CAST(NULL AS VARCHAR) AS nominal_id, CAST(NULL AS VARCHAR) AS group_id WHERE false")
    safeguard.run(duck, S)
    assert duck.fetch_rows("SELECT nominal_id, last_outcome, last_outcome_date FROM safeguarding") == [
        ("N2", "outcome_22", dt.date(2021, 3, 1))]
