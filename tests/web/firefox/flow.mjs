// The web UI's main flow in Firefox (Debian's firefox-esr over WebDriver BiDi, puppeteer-core):
// keyboard login, the computers list with the agent's computer online, its detail page, a
// command whose output streams in (the first line is on the page before the second is printed),
// logout, and a login with an API token. Run by tests/web/test_browser_firefox.py against a real
// server and agent; it prints one JSON line with what the Python test checks through the API,
// and exits non-zero with the failed step on stderr.
//
// Environment: FD_BASE, FD_USER, FD_PASSWORD, FD_COMPUTER (id), FD_HOSTNAME, FD_TOKEN (an API
// token of FD_USER), FD_FIREFOX (the executable), FD_SHOTS (screenshot directory).
import puppeteer from 'puppeteer-core';
import { mkdirSync } from 'node:fs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env('FD_BASE');
const shots = env('FD_SHOTS');
const cid = env('FD_COMPUTER');
const hostname = env('FD_HOSTNAME');
const TIMEOUT = 30_000;
let step = 'start';

async function text(page, selector) {
  return page.$eval(selector, (el) => el.textContent.trim());
}

async function waitText(page, selector, wanted, timeout = TIMEOUT) {
  await page.waitForFunction(
    (sel, want) => {
      const el = document.querySelector(sel);
      return el !== null && el.textContent.includes(want);
    },
    { timeout },
    selector,
    wanted,
  );
}

async function shot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

async function submitAndWait(page, click) {
  await Promise.all([page.waitForNavigation({ timeout: TIMEOUT }), click()]);
}

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: env('FD_FIREFOX'),
  headless: true,
  protocolTimeout: 120_000,
});
const result = { browser: await browser.version() };
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.setDefaultTimeout(TIMEOUT);

  step = 'login page';
  await page.goto(`${base}/`);
  if (page.url() !== `${base}/login?next=/`) throw new Error(`not sent to the login: ${page.url()}`);
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  if (focused !== 'username') throw new Error(`the user name field has no focus (${focused})`);

  step = 'keyboard login';
  await page.keyboard.type(env('FD_USER'));
  await page.keyboard.press('Tab');
  await page.keyboard.type(env('FD_PASSWORD'));
  await submitAndWait(page, () => page.keyboard.press('Enter'));
  await waitText(page, 'h1', 'Dashboard');
  const cookies = await page.cookies();
  const session = cookies.find((c) => c.name === 'fleetdeck_session');
  if (!session || !session.httpOnly) throw new Error(`session cookie missing or not HttpOnly: ${JSON.stringify(session)}`);
  result.cookie = { httpOnly: session.httpOnly, sameSite: session.sameSite };

  step = 'computers list';
  await page.goto(`${base}/computers`);
  const row = `tr[data-id="${cid}"]`;
  await waitText(page, row, hostname);
  await waitText(page, `${row} .state`, 'online');
  await shot(page, 'firefox-computers');

  step = 'detail page';
  await submitAndWait(page, () => page.click(`${row} a[href="/computers/${cid}"]`));
  await page.waitForSelector('#filesystems progress');
  await waitText(page, '#state', 'online');
  await shot(page, 'firefox-computer');

  step = 'run a command';
  await submitAndWait(page, () => page.click('#run-command'));
  await page.type('#command', 'echo first-from-firefox; sleep 4; echo second-line');
  await submitAndWait(page, () => page.click('#run'));
  const job = 'article.job';
  const stdout = `${job} [data-field="stdout"]`;
  await waitText(page, stdout, 'first-from-firefox');
  const early = await text(page, stdout);
  const earlyStatus = await text(page, `${job} [data-field="status"]`);
  if (early.includes('second-line')) throw new Error('the output did not stream: both lines came at once');
  if (!['sent', 'running'].includes(earlyStatus)) throw new Error(`status while streaming: ${earlyStatus}`);
  await waitText(page, `${job} [data-field="status"]`, 'succeeded', 60_000);
  await waitText(page, stdout, 'second-line');
  result.exit = await text(page, `${job} [data-field="exit"]`);
  result.job = Number(await page.$eval(job, (el) => el.getAttribute('data-job')));
  result.streamed = { first: early, status: earlyStatus };
  await shot(page, 'firefox-command');

  step = 'logout';
  await submitAndWait(page, () => page.click('#logout'));
  await waitText(page, 'h1', 'Log in to fleetdeck');
  await page.goto(`${base}/computers`);
  if (page.url() !== `${base}/login?next=/computers`) throw new Error(`still logged in after logout: ${page.url()}`);

  step = 'token login';
  await page.click('#token-login summary');
  await page.type('#token', env('FD_TOKEN'));
  await submitAndWait(page, () => page.click('#token-login button[type="submit"]'));
  await waitText(page, 'h1', 'Computers');
  await waitText(page, `tr[data-id="${cid}"]`, hostname);
  await submitAndWait(page, () => page.click('#logout'));
  await waitText(page, 'h1', 'Log in to fleetdeck');
  result.ok = true;
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (err) {
  process.stderr.write(`step "${step}" failed in ${result.browser}: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
