"""The report renders in headless Chromium: every plot drawn, no script errors, a screenshot.

In CI (`CI` set) a missing Chromium fails the test; locally it is skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from modelroute.limits.budget import Budget
from modelroute.report import build_report
from modelroute.report.browser import dump_dom, find_chromium, screenshot
from modelroute.report.html import SECTIONS
from report_helpers import write_log


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if find_chromium() is None:
        message = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("report")
    write_log(folder / "decisions.jsonl", 300, seed=2)
    budgets = [Budget("team", 0.05)]
    return build_report(
        folder / "decisions.jsonl", folder / "report.html", budgets=budgets
    ).html_path


def test_every_plot_renders_without_script_errors(report: Path) -> None:
    rendered = dump_dom(report)
    root = re.search(r"<html[^>]*>", rendered.dom)
    assert root is not None
    tag = root.group(0)
    assert "data-js-errors" not in tag, tag
    assert f'data-plots="{len(SECTIONS)}"' in tag, tag
    assert f'data-plots-expected="{len(SECTIONS)}"' in tag, tag
    for key in SECTIONS:
        assert f'id="plot-{key}"' in rendered.dom
    assert rendered.dom.count('class="main-svg"') >= len(SECTIONS)
    assert "Uncaught" not in rendered.log  # console errors Chromium logged


def test_screenshot(report: Path) -> None:
    png = screenshot(report, report.with_name("report.png"), height=1600)
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 50_000
