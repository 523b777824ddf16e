"""Settings from OD_* variables: typed, errors naming the variable, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from od.config import Settings


def test_variables_become_typed_settings() -> None:
    settings = Settings.from_env(
        {
            "OD_DATA_DIR": "/var/lib/od",
            "OD_MAX_CLOCK_SKEW_S": "60",
            "OD_CORS_ORIGINS": "https://a.example, https://b.example,",
            "OD_NAMESPACE": "",  # empty means unset
            "HOME": "/root",  # not ours
        }
    )
    assert settings.data_dir == Path("/var/lib/od")
    assert settings.max_clock_skew_s == 60.0
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.namespace == Settings().namespace


def test_a_bad_value_names_its_variable() -> None:
    with pytest.raises(SystemExit, match="OD_MAX_CLOCK_SKEW_S"):
        Settings.from_env({"OD_MAX_CLOCK_SKEW_S": "soon"})


def test_redacted_masks_every_secret() -> None:
    settings = Settings(
        api_token="t0ken",
        homenet_token="h0me",
        rebrandly_api_key="reb",
        database_url="postgresql://od:pa55@db:5432/od",
    )
    shown = repr(settings.redacted())
    for secret in ("t0ken", "h0me", "reb'", "pa55"):
        assert secret not in shown
    assert "postgresql://od:***@db:5432/od" in shown
