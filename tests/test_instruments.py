"""Instrument categories by name (tracecert.instruments): one catalogue, every spelling of a regulation number."""

from __future__ import annotations

import pytest

from tracecert.instruments import category_label, category_name


@pytest.mark.parametrize(
    ("code", "zh", "en"),
    [
        ("JJG443", "JJG443 燃油加油机", "JJG443 fuel dispenser"),
        ("JJG 443", "JJG 443 燃油加油机", "JJG 443 fuel dispenser"),
        ("JJG 443-2023", "JJG 443-2023 燃油加油机", "JJG 443-2023 fuel dispenser"),
        ("jjg52", "jjg52 弹性元件式一般压力表、压力真空表和真空表", "jjg52 elastic-element pressure and vacuum gauge"),
        ("MASS", "MASS 质量", "MASS mass"),
        ("0201", "0201（未收录的器具类别）", "0201 (category not in the catalogue)"),
        ("JJG4430", "JJG4430（未收录的器具类别）", "JJG4430 (category not in the catalogue)"),
    ],
)
def test_a_category_is_shown_by_its_name(code: str, zh: str, en: str) -> None:
    assert (category_label(code, zh=True), category_label(code, zh=False)) == (zh, en)


def test_every_demo_category_has_a_name() -> None:
    from tracecert_app.story import LABS

    assert [c for lab in LABS for c in lab.scope if category_name(c) is None] == []
