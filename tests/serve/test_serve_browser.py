"""End to end in a real headless browser: Debian's Chromium driven through its chromedriver (Selenium).

Load the page, change the dose and see the plotted peak change, overlay a pinned run with a mechanism
switched off, download the series as CSV and check every number against ``ks.simulate``, run a small
trial, and check the page's labels and its width on a phone. The browser comes from the system's package
manager: where it is missing and this process may run ``apt-get`` (root, as in CI), the test installs
``chromium`` and ``chromium-driver`` first; where it cannot, the test is skipped with a warning that says
so (``KETASIM_NO_BROWSER_INSTALL=1`` forbids the install).
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

import ketasim as ks  # noqa: E402
from ketasim.serve import Limits, create_app  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _find() -> tuple[str | None, str | None]:
    browser = next((p for p in map(shutil.which, BROWSERS) if p), None)
    return browser, shutil.which("chromedriver")


def _install() -> str:
    """Install Debian's Chromium and its driver if allowed; returns what happened, for the skip message."""
    if os.environ.get("KETASIM_NO_BROWSER_INSTALL"):
        return "KETASIM_NO_BROWSER_INSTALL is set"
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root with apt-get (install chromium and chromium-driver from your package manager)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, timeout=600, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"],
                       check=True, capture_output=True, timeout=900, env=env)  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        return f"apt-get install chromium chromium-driver failed ({exc})"
    return "installed"


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    browser, chromedriver = _find()
    if browser is None or chromedriver is None:
        how = _install()
        browser, chromedriver = _find()
        if browser is None or chromedriver is None:
            message = f"NO BROWSER: the end-to-end browser test did not run ({how})"
            warnings.warn(message, stacklevel=1)
            pytest.skip(message)
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,800",
                f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}"):  # fmt: skip
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})  # fmt: skip
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for a driver online
    drv = webdriver.Chrome(service=Service(chromedriver), options=opts)
    drv.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    drv.downloads = downloads
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Limits(trial_patients=200, trial_days=14, trial_patient_days=200 * 14))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(10)


def _until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _plotted_peak(drv: Any, name: str) -> float:
    return drv.execute_script("const t = document.getElementById('chain').data.find(t => t.name === arguments[0]);"
                              "return t ? Math.max(...t.y) : null;", name)  # fmt: skip


def _set(drv: Any, element_id: str, value: str) -> None:
    el = drv.find_element("id", element_id)
    el.clear()
    el.send_keys(value)


def test_the_page_end_to_end(driver: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    drv = driver
    drv.get(server)
    _until(lambda: drv.find_element(By.ID, "status").text.startswith("updated"), "the first simulation")

    def cell(element_id: str) -> str:  # one script call: the table is rebuilt on every update
        return drv.execute_script("const e = document.getElementById(arguments[0]); return e ? e.textContent : ''",
                                  element_id)  # fmt: skip

    cmax_cell = lambda: cell("m-cmax_ng_ml")  # noqa: E731
    first = float(cmax_cell())
    peak0 = _plotted_peak(drv, "ketamine_plasma")
    assert first == pytest.approx(143.7, abs=0.1)  # the default protocol's venous peak (zarate-2006-iv)

    # build a regimen: 1.0 mg/kg over 40 min, twice the protocol's dose
    drv.find_element(By.CSS_SELECTOR, "input[name=mode][value=doses]").click()
    _set(drv, "amount", "1.0")
    _until(lambda: cmax_cell() != f"{first:.1f}" and cmax_cell(), "the summary to change")
    _until(lambda: abs(_plotted_peak(drv, "ketamine_plasma") / peak0 - 2) < 1e-6, "the plotted peak to double")
    assert float(cmax_cell()) == pytest.approx(2 * first, abs=0.15)

    # pin it, switch disinhibition off: both runs are drawn; without it the pulse no longer reaches AMPA
    # receptors, so less BDNF is released
    drv.find_element(By.ID, "pin").click()
    drv.find_element(By.ID, "h-disinhibition").click()
    _until(lambda: drv.execute_script("return document.getElementById('chain').data"
                                      ".some(t => t.name === 'pinned: bdnf')"), "the pinned overlay")  # fmt: skip
    _until(lambda: _plotted_peak(drv, "bdnf") < _plotted_peak(drv, "pinned: bdnf") - 0.1, "the BDNF peak to fall")
    assert cell("p-cmax_ng_ml") == cmax_cell()  # same dose, same PK in both runs
    label = drv.find_element(By.ID, "pinned-label").text
    assert label == "solid: ketamine 1 mg/kg iv [disinhibition off]; dotted (pinned): ketamine 1 mg/kg iv", label

    # the series as CSV, checked against the Python API
    drv.find_element(By.ID, "csv").click()
    path = Path(_until(lambda: next(iter(drv.downloads.glob("ketasim-series*.csv")), None), "the CSV download"))
    _until(lambda: path.stat().st_size > 0 and not list(drv.downloads.glob("*.crdownload")), "the download to end")
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], np.array(rows[1:], dtype=float)
    ref = ks.simulate(ks.Regimen([ks.Dose("ketamine", "iv", "1.0 mg/kg", duration="40 min")]), ks.Patient(),
                      duration="7 d", output_step="10 min", hypotheses=ks.Hypotheses(disinhibition=False))  # fmt: skip
    ds = ref.dataset
    np.testing.assert_array_equal(data[:, 0], ds["time"].values)
    for name in ("ketamine_plasma", "glutamate", "bdnf", "synapse_density", "madrs", "cadss"):
        col = next(i for i, h in enumerate(header) if h.split(" (")[0] == name)
        np.testing.assert_allclose(data[:, col], ds[name].values[0], rtol=1e-12, atol=0, err_msg=name)

    # a small trial with its progress bar and response rates
    _set(drv, "t-patients", "40")
    drv.find_element(By.ID, "t-run").click()
    _until(lambda: drv.find_element(By.ID, "t-status").text == "done", "the trial", timeout=120)
    assert drv.find_element(By.ID, "t-progress").get_attribute("value") == "1"
    cells = drv.find_elements(By.CSS_SELECTOR, "#t-table td[data-endpoint=response_24h]")
    assert len(cells) == 2 and all("%" in c.text for c in cells)

    # the trial as a scenario file that `ketasim trial` reads
    from ketasim.trials.scenario import parse_scenario

    drv.find_element(By.ID, "t-toml").click()
    toml = Path(_until(lambda: next(iter(drv.downloads.glob("ketasim-trial*.toml")), None), "the TOML download"))
    _until(lambda: toml.stat().st_size > 0, "the TOML file")
    sc = parse_scenario(toml.read_text())
    assert sc.population.n == 40 and sc.arms["B"].control == "midazolam" and sc.hypotheses.disinhibition is False
    assert sc.arms["A"].doses[0]["amount"] == "1.0 mg/kg"

    # accessible: every control has a label; nothing wider than a phone's screen
    unlabelled = drv.execute_script("return [...document.querySelectorAll('input, select, button')]"
                                    ".filter(e => !e.hidden && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
                                    " && !(e.tagName === 'BUTTON' && e.textContent.trim())).map(e => e.id || e.name)")  # fmt: skip
    assert unlabelled == []
    drv.set_window_size(390, 844)
    time.sleep(0.5)
    assert drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
