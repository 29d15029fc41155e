#!/usr/bin/env python3
"""Loads av1relay's status pages in headless Chromium with JavaScript off, as a person would.

Opens a device's page without a token (the relay answers with its sign-in form), signs in with
the token, then reloads the device page until it shows the device in a call with a quality grade
and the robot's signal chart, and keeps screenshots (desktop and phone widths) and the pages'
HTML in --out. Prints one JSON object with what it saw; exits 0 when the page showed it all,
1 when it did not within --timeout, 2 for bad arguments, 3 when Chromium or Selenium is missing.

Debian's chromium and chromium-driver, driven by Selenium (PyPI); nothing is downloaded at run
time: the driver path is given, Selenium Manager is off.
"""

import argparse
import json
import os
import sys
import tempfile
import time


def fail(message, code):
    print(json.dumps({"error": message}))
    sys.exit(code)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="the admin API's base URL, e.g. http://127.0.0.1:9478")
    p.add_argument("--token", required=True, help="an admin API token (read or admin scope)")
    p.add_argument("--device", required=True, help="the device whose page to load")
    p.add_argument("--out", required=True, help="directory for the screenshots and page sources")
    p.add_argument("--timeout", type=float, default=60, help="seconds to wait for the call to show (default 60)")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium binary (Debian's chromium)")
    p.add_argument("--driver", default="/usr/bin/chromedriver", help="ChromeDriver (Debian's chromium-driver)")
    args = p.parse_args()
    os.environ["SE_MANAGER_PATH"] = "/bin/false"  # never let Selenium fetch a driver
    for path, package in ((args.chromium, "chromium"), (args.driver, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            fail(f"{path} not found: install Debian's {package} (make deps-test does)", 3)
    try:
        from selenium import webdriver
        from selenium.common.exceptions import NoSuchElementException, WebDriverException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        fail("python3 cannot import selenium: pip install selenium (make deps-test does)", 3)
    os.makedirs(args.out, exist_ok=True)

    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",  # we run as root
        f"--user-data-dir={tempfile.mkdtemp(prefix='status-page-')}",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-domain-reliability",
        "--disable-default-apps",
        "--no-pings",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    # The pages must work without script: the page's own JavaScript is off.
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})

    seen = {"refused_without_token": False, "signed_in": False, "online": False, "in_call": False, "grade": None,
            "chart_points": 0, "phone_overflow_px": None, "screenshots": []}
    try:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=args.driver))
    except WebDriverException as err:
        fail(f"Chromium did not start: {err.msg or err}", 3)
    try:
        device_url = f"{args.base}/status/devices/{args.device}"
        driver.get(device_url)
        seen["refused_without_token"] = driver.title.startswith("Sign in") and bool(driver.find_elements(By.ID, "token"))
        with open(os.path.join(args.out, "status-login.html"), "w") as f:
            f.write(driver.page_source)

        driver.find_element(By.ID, "token").send_keys(args.token)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        seen["signed_in"] = driver.find_elements(By.TAG_NAME, "h1")[0].text == "Relay status" and not driver.find_elements(By.ID, "token")

        # Keeps the first load that shows the call (grade, chart), then a richer one if it comes
        # before the deadline: two signal reports and a round trip measured. A slow machine that
        # sees the call late still has what it saw, not a load after the call ended.
        deadline = time.monotonic() + args.timeout
        shot = os.path.join(args.out, "status-device.png")
        kept = False
        while True:
            driver.get(device_url)
            badges = [b.text for b in driver.find_elements(By.CSS_SELECTOR, ".state .badge")]
            grades = [b.text for b in driver.find_elements(By.CSS_SELECTOR, ".card .badge")]
            points = len(driver.find_elements(By.CSS_SELECTOR, "svg circle"))
            rtt = [v.text for v in driver.find_elements(By.CSS_SELECTOR, ".card .v")][1:2]
            now = {"online": "online" in badges or "in call" in badges, "in_call": "in call" in badges,
                   "grade": grades[0] if grades else None, "chart_points": points, "rtt": rtt[0] if rtt else None}
            shown = now["in_call"] and now["grade"] in ("good", "fair", "poor") and points > 0
            if shown or not kept:
                seen.update(now)
                with open(os.path.join(args.out, "status-device.html"), "w") as f:
                    f.write(driver.page_source)
                driver.save_screenshot(shot)
                kept = kept or shown
            if (shown and points >= 2 and now["rtt"] not in (None, "–")) or time.monotonic() > deadline:
                break
            time.sleep(2)
        seen["screenshots"].append(shot)

        driver.get(f"{args.base}/status")
        with open(os.path.join(args.out, "status.html"), "w") as f:
            f.write(driver.page_source)
        seen["overview_lists_device"] = bool(driver.find_elements(By.LINK_TEXT, args.device))
        shot = os.path.join(args.out, "status.png")
        driver.save_screenshot(shot)
        seen["screenshots"].append(shot)

        # A phone's width: nothing wider than the screen but the tables, which scroll on their own.
        driver.set_window_size(390, 844)
        driver.get(device_url)
        seen["phone_overflow_px"] = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        shot = os.path.join(args.out, "status-device-phone.png")
        driver.save_screenshot(shot)
        seen["screenshots"].append(shot)
    except (WebDriverException, NoSuchElementException, IndexError) as err:
        seen["error"] = str(getattr(err, "msg", None) or err)
    finally:
        driver.quit()
    print(json.dumps(seen))
    ok = seen["refused_without_token"] and seen["signed_in"] and seen["in_call"] and seen["chart_points"] > 0 and "error" not in seen
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
