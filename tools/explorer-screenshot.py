"""Take the README's screenshot of the explorer (docs/img/explorer.png).

    ketasim serve --port 8765 &          # in another terminal
    python tools/explorer-screenshot.py [http://127.0.0.1:8765/] [docs/img/explorer.png]

Needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver). Shows the Zarate
infusion on the log time axis, pinned with both hypotheses on, then disinhibition switched off.
"""

from __future__ import annotations

import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import Select

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8765/"
out = sys.argv[2] if len(sys.argv) > 2 else "docs/img/explorer.png"
os.environ.setdefault("SE_OFFLINE", "true")
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars",
            "--window-size=1280,1250"):  # fmt: skip
    opts.add_argument(arg)
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
try:
    drv.get(url)
    time.sleep(3)
    Select(drv.find_element("id", "xscale")).select_by_value("log")
    time.sleep(1)
    drv.find_element("id", "pin").click()
    drv.find_element("id", "h-disinhibition").click()
    time.sleep(1.5)
    drv.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    drv.save_screenshot(out)
    print(f"{out}: {drv.find_element('id', 'status').text}")
finally:
    drv.quit()
