/**
 * A real headless browser for the page tests (Debian chromium through playwright-core): one
 * tab that records console errors, page errors and every request it makes, closed with its
 * browser whatever the test does.
 */
import { chromium, type Page } from "playwright-core";

/** A tab and what it has seen so far. */
export interface WatchedTab {
  readonly tab: Page;
  /** Console errors and uncaught page errors, as text. */
  readonly problems: Array<string>;
  /** URL of every request the tab made. */
  readonly requests: Array<string>;
}

/**
 * Run `use` with a fresh tab of a new headless chromium (at `viewport`, default 1280×720; locale
 * en-US, time zone UTC); the browser is closed afterwards.
 */
export async function withTab<A>(
  use: (watched: WatchedTab) => Promise<A>,
  viewport?: { readonly width: number; readonly height: number },
): Promise<A> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--headless",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    // A fixed locale and time zone: the pages' dates and times read the same on every machine.
    const tab = await browser.newPage({
      locale: "en-US",
      timezoneId: "UTC",
      ...(viewport === undefined ? {} : { viewport }),
    });
    const problems: Array<string> = [];
    const requests: Array<string> = [];
    tab.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    tab.on("pageerror", (e) => problems.push(String(e)));
    tab.on("request", (r) => requests.push(r.url()));
    return await use({ tab, problems, requests });
  } finally {
    await browser.close();
  }
}
