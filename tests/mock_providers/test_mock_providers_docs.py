"""docs/faults.md is generated from the catalogue; keep the committed page in sync."""

from __future__ import annotations

from mockprov_support import REPO

from mock_providers.core.faults import CATALOGUE
from mock_providers.faultdoc import render


def test_faults_md_matches_catalogue() -> None:
    page = (REPO / "docs" / "faults.md").read_text(encoding="utf-8")
    assert page == render(), "regenerate: python -m mock_providers.faultdoc docs/faults.md"
    for name in CATALOGUE:
        assert f"### {name}\n" in page
