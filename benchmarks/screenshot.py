"""Screenshot of the playground for the README: a search on a running server, in headless Chromium.

Usage: python benchmarks/screenshot.py --url http://127.0.0.1:8000 --out docs/playground.png
       [--query "How do I catch an exception and clean up afterwards?"]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("docs/playground.png"))
    parser.add_argument("--query", default="How do I catch an exception and clean up afterwards?")
    parser.add_argument("--top-k", default="10")
    parser.add_argument("--top-n", default="5")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=flags, headless=True)
        page = browser.new_page(viewport={"width": 1440, "height": 1100}, device_scale_factor=1)
        page.goto(args.url.rstrip("/") + "/")
        page.fill("#query", args.query)
        page.fill("#top-k", args.top_k)
        page.fill("#top-n", args.top_n)
        page.click("#search-button")
        page.wait_for_selector("#reranked-list li", timeout=120_000)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=False)
        browser.close()
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
