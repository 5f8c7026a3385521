// Debian's Chromium driven by playwright-core: one browser for the run, a
// fresh context (its own cookies and storage, like a separate user) per page.

import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { interopDir } from './servers.mjs';
import { CHROMIUM, needChromium, needModule } from './prereq.mjs';

export const WAIT_MS = 10_000; // for any single thing a page should show
export const screenshotDir = path.join(interopDir, 'screenshots');
export const screenshots = []; // paths saved during this run, in order

// The machine's network is closed: without the background-networking flags
// Chromium keeps trying to reach Google's services. The examples' -tls
// certificates are self-signed, made when each starts: Chromium accepts
// them without a word. (Playwright's per-context ignoreHTTPSErrors also
// works, but only after Chromium has refused the first TLS handshake, a
// spare connection the server logs as an error.)
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--ignore-certificate-errors',
];

let playwright;
let browserPromise;

// needBrowser checks playwright-core and Chromium before a test starts its
// servers: false means the test was skipped (only possible outside CI).
export async function needBrowser(t) {
  playwright ??= await needModule(t, 'playwright-core');
  return !!playwright && needChromium(t);
}

// A phone's screen, for openPage: a page without a viewport meta tag is
// laid out 980 pixels wide on it, and shown shrunk.
export const PHONE = { viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

// openPage returns a new page in a new context, closed when the test ends.
// Call needBrowser first. options are the context's (PHONE, say); the
// default is a desktop window. The page's failedRequests lists every
// request that got an HTTP error or no answer, such as a /favicon.ico 404.
export async function openPage(t, url, options = { viewport: { width: 800, height: 500 } }) {
  browserPromise ??= playwright.chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
  const browser = await browserPromise;
  const context = await browser.newContext(options);
  t.after(() => context.close());
  const failedRequests = [];
  context.on('response', (r) => { if (r.status() >= 400) failedRequests.push(`${r.status()} ${r.url()}`); });
  context.on('requestfailed', (r) => failedRequests.push(`${r.failure()?.errorText} ${r.url()}`));
  const page = await context.newPage();
  page.failedRequests = failedRequests;
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  await page.goto(url);
  return page;
}

export async function closeBrowser() {
  if (!browserPromise) return;
  const browser = await browserPromise.catch(() => null);
  await browser?.close();
}

let cleared = false;

// screenshot saves the page into interop/screenshots/NAME.png.
export async function screenshot(page, name) {
  if (!cleared) {
    // Only this run's pictures, so none can be mistaken for a current one.
    await rm(screenshotDir, { recursive: true, force: true });
    await mkdir(screenshotDir, { recursive: true });
    cleared = true;
  }
  const file = path.join(screenshotDir, `${name}.png`);
  // Finished transitions, so a bar that just grew is drawn at its new width.
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  screenshots.push(file);
  return file;
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// waitForLogItem waits until #log has an li whose whole text is `text`
// (or that matches it, for a RegExp); on timeout the error lists what the
// log showed instead.
export async function waitForLogItem(page, text, who = 'page') {
  const pattern = text instanceof RegExp ? text : new RegExp(`^\\s*${escapeRegExp(text)}\\s*$`);
  const item = page.locator('#log li').filter({ hasText: pattern });
  try {
    await item.first().waitFor({ state: 'attached', timeout: WAIT_MS });
  } catch (err) {
    const shown = await page.locator('#log li').allTextContents().catch(() => ['(page gone)']);
    throw new Error(`${who}: #log never showed ${text instanceof RegExp ? text : JSON.stringify(text)} within ${WAIT_MS} ms; it showed ${JSON.stringify(shown)}`, { cause: err });
  }
}

// waitForText waits until the element's trimmed text equals want (or
// matches it, for a RegExp), and returns that text.
export async function waitForText(page, selector, want, who = 'page') {
  const test = want instanceof RegExp ? { source: want.source, flags: want.flags } : { exact: want };
  try {
    await page.waitForFunction(([sel, test]) => {
      const text = document.querySelector(sel)?.textContent.trim();
      if (text === undefined) return false;
      return test.exact !== undefined ? text === test.exact : new RegExp(test.source, test.flags).test(text);
    }, [selector, test], { timeout: WAIT_MS });
  } catch (err) {
    const shown = await page.locator(selector).textContent({ timeout: 1000 }).catch(() => '(missing)');
    throw new Error(`${who}: ${selector} never showed ${want} within ${WAIT_MS} ms; it shows ${JSON.stringify(shown)}`, { cause: err });
  }
  return (await page.locator(selector).textContent()).trim();
}
