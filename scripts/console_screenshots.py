"""Take the README's screenshots of the console: ``.venv/bin/python scripts/console_screenshots.py``.

Starts an openclb in this process, makes a CLB with two listeners and a real backend through the
page itself (the API Explorer's CreateListener example, the console's register form), and saves
docs/images/console-explorer.png and docs/images/console-resources.png. Needs the dev extras and
the system Chromium (``make provision-test``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests"), str(REPO)]

from backends import NamedBackend  # noqa: E402
from clb_support import create_clb_with_vip  # noqa: E402
from conftest import REGION, SECRET_ID, SECRET_KEY, make_settings, sdk_client, start_server  # noqa: E402
from console_support import Console, make_browser  # noqa: E402

IMAGES = REPO / "docs" / "images"


def main() -> None:
    server = start_server(make_settings(Path(tempfile.mkdtemp())))
    driver = make_browser()
    backend = NamedBackend("web-1")
    try:
        lb_id, _ = create_clb_with_vip(sdk_client(server.url), "shop-frontend")
        console = Console(driver, server.url).open()
        console.login(SECRET_ID, SECRET_KEY, REGION)
        console.choose("CreateListener")
        example = next(e for e in console.all_by_test_id_prefix("example-") if "Two TCP" in e.get_attribute("title"))
        example.click()
        console.type("param-LoadBalancerId", lb_id)
        console.click("send")
        console.wait(lambda: console.by_test_id("task-status").get_attribute("data-status") == "success")
        listener_ids = json.loads(console.text("response"))["Response"]["ListenerIds"]
        driver.execute_script("window.scrollTo(0, 0)")
        driver.set_window_size(1500, 2300)
        driver.save_screenshot(str(IMAGES / "console-explorer.png"))
        driver.set_window_size(1500, 1000)
        console.click("tab-resources")
        console.wait(lambda: console.exists(f"listener-{listener_ids[0]}"))
        from selenium.webdriver.support.ui import Select

        Select(console.by_test_id("register-listener")).select_by_index(0)
        console.type("register-ip", "127.0.0.1")
        console.type("register-port", str(backend.port))
        console.click("register-target")
        console.wait(lambda: console.all_by_test_id_prefix("target-")
                     and console.all_by_test_id_prefix("target-")[0].get_attribute("data-health") == "healthy", timeout=20)
        time.sleep(0.5)
        driver.save_screenshot(str(IMAGES / "console-resources.png"))
    finally:
        driver.quit()
        backend.close()
        server.stop()


if __name__ == "__main__":
    main()
