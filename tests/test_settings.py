import datetime as dt
from pathlib import Path

import pytest

from hiddennet.errors import SettingsError
from hiddennet.settings import Settings, load_settings, settings_reference

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_defaults_are_those_of_method_md():
    s = Settings()
    assert (s.gap_half_life, s.recency_half_life) == (365, 1825)
    assert s.max_log_nominals == 30 and s.min_shared_cell_days == 30
    assert s.max_group_size == 50 and s.harm_window_days == 1826
    assert s.dismantle_fraction == 0.1 and s.exact_dismantle_max == 16
    assert s.priority_measure == "cchi" and s.profile == "cse"
    # cooffend and place: layers built only when their setting is on (docs/all-age.md).
    assert s.layer_weight.model_dump() == {"victim": 1, "intel": 1, "custody": 1, "soc": 1, "cooffend": 1, "place": 1}


def test_unknown_keys_are_named_all_at_once(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('foo = 1\nmax_group_size = "big"\n[layer_weight]\nintel = 0.5\nbar = 2\n')
    with pytest.raises(SettingsError) as e:
        load_settings(cfg)
    msg = str(e.value)
    assert "foo: unknown setting" in msg and "layer_weight.bar: unknown setting" in msg
    assert "max_group_size" in msg and "big" not in msg  # the value is never echoed


def test_toml_round_trip_and_overrides(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('as_of = 2020-01-31\ngap_half_life = 100\n[layer_weight]\nintel = 0\n')
    s = load_settings(cfg, engine="duckdb")
    assert s.as_of == dt.date(2020, 1, 31) and s.gap_half_life == 100 and s.layer_weight.intel == 0
    assert load_settings(cfg, as_of=dt.date(2021, 1, 1)).as_of == dt.date(2021, 1, 1)


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("x = = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad)
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_every_setting_is_documented():
    """docs/settings.md is generated; regenerate with `python -m hiddennet.settings > docs/settings.md`."""
    assert DOCS.read_text(encoding="utf-8") == settings_reference()
    for name in Settings.model_fields:
        assert f"`{name}`" in DOCS.read_text(encoding="utf-8")


def test_spark_settings_from_toml_numbers_and_booleans_become_text(tmp_path):
    """Spark takes text; a TOML number or boolean in `[spark]` is accepted and passed as text."""
    from hiddennet.settings import load_settings

    p = tmp_path / "s.toml"
    p.write_text('[spark]\n"spark.executor.cores" = 4\n"spark.sql.adaptive.enabled" = false\n"spark.master" = "local[2]"\n')
    s = load_settings(p)
    assert s.spark == {"spark.executor.cores": "4", "spark.sql.adaptive.enabled": "false", "spark.master": "local[2]"}


def test_memory_share_divides_a_limit_in_its_own_unit():
    """Stability workers each get limit / workers: 4GB over 2 is 2GB, 80% over 2 is 40%, 1.5GB over 2 is
    0.75GB (DuckDB takes decimals), no limit stays none; every share is itself a valid limit."""
    from hiddennet.settings import memory_share

    assert memory_share("4GB", 2) == "2GB"
    assert memory_share("80%", 2) == "40%"
    assert memory_share("1.5GB", 2) == "0.75GB"
    assert memory_share("512MiB", 4) == "128MiB"
    assert memory_share(None, 2) is None
    for share in ("2GB", "40%", "0.75GB", "128MiB"):
        assert Settings(duckdb_memory_limit=share).duckdb_memory_limit == share
