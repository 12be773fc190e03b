"""Fixtures the browser tests share (imported by name into each test
module): the page templates built once per module, one headless Chromium
per module, a fresh page per test."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import mt_browser  # noqa: E402
import mt_pages  # noqa: E402


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    if not mt_browser.find_chromium():
        pytest.fail("chromium is not installed: run tests/html/setup.sh")
    return mt_pages.build_templates(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = mt_browser.Browser(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


@pytest.fixture
def page(browser):
    p = browser.new_page()
    yield p
    p.close()
