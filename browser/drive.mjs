// drive.mjs — the browser half of browser_test.go. It connects with
// playwright-core to the Chromium the Go test started (and will kill), runs
// one scenario, and prints its findings as one JSON object on stdout; the
// Go test decides what passes.
//
//   node drive.mjs <cdp-websocket-url> <scenario> <config-json>
//
// Scenarios:
//   cors  config {allowedPage, blockedPage, api, username}: the page at
//         allowedPage (another origin than api) registers and posts an
//         article with fetch; the page at blockedPage tries the same.
//   docs  config {url, screenshot}: loads the API reference, lists the
//         operations it rendered and saves a screenshot.
import { chromium } from "playwright-core";

const [wsEndpoint, scenario, configJSON] = process.argv.slice(2);
const config = JSON.parse(configJSON ?? "{}");
const timeout = 60_000;

/** Opens url in a fresh context, recording what a developer would see in the console. */
async function open(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  const log = { console: [], pageErrors: [], failedRequests: [], errorResponses: [] };
  page.on("console", (m) => log.console.push({ type: m.type(), text: m.text() }));
  page.on("pageerror", (e) => log.pageErrors.push(String(e)));
  page.on("requestfailed", (r) => log.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) log.errorResponses.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
  });
  const response = await page.goto(url, { waitUntil: "load" });
  log.status = response?.status();
  return { context, page, log };
}

async function cors(browser) {
  const out = {};
  for (const [name, url, username] of [
    ["allowed", config.allowedPage, config.username],
    ["blocked", config.blockedPage, `${config.username}-blocked`],
  ]) {
    const { context, page, log } = await open(browser, url);
    const result = await page.evaluate(([api, user]) => window.scenario(api, user), [config.api, username]);
    // Console messages about blocked requests arrive asynchronously.
    await page.waitForTimeout(200);
    out[name] = { result, ...log };
    await context.close();
  }
  return out;
}

async function docs(browser) {
  const { context, page, log } = await open(browser, config.url);
  await page.waitForSelector(".opblock-summary-operation-id", { state: "attached" });
  await page.waitForLoadState("networkidle");
  const operations = await page.$$eval(".opblock-summary-operation-id", (els) => els.map((e) => e.textContent.trim()));
  const title = await page.$eval(".info .title", (e) => e.textContent.trim());
  await page.screenshot({ path: config.screenshot, fullPage: true });
  await context.close();
  return { operations, title, ...log };
}

const browser = await chromium.connectOverCDP(wsEndpoint, { timeout });
try {
  const run = { cors, docs }[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  process.stdout.write(JSON.stringify(await run(browser)) + "\n");
} finally {
  // Disconnects; the Go test owns the browser process.
  await browser.close();
}
