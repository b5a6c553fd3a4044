// Drives the Backup window in Debian's chromium, as a photographer would.
// Started by crates/triplicate-cli/tests/page.rs, which starts `triplicate run` on a
// generated library and passes, in the environment:
//   URL          the page, e.g. http://127.0.0.1:41234/
//   PHOTOS       how many photos the library holds
//   THIRD_DEST   an empty folder to add as a third, offsite destination
//   OFFLINE_DEST a destination's folder, moved away at the end to unplug it
//   ARTIFACTS    where screenshots go
//   PEER_URL, PEER_TOKEN  another node ("annex") and its GRID token
// Exits non-zero, with the reason, when the page does not behave.
import { chromium } from "playwright-core";
import { renameSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const { URL, PHOTOS, THIRD_DEST, OFFLINE_DEST, ARTIFACTS, PEER_URL, PEER_TOKEN } = process.env;
const photos = Number(PHOTOS);
mkdirSync(ARTIFACTS, { recursive: true });
const step = (text) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${text}`);
const fail = (text) => { throw new Error(text); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
try {
  // The browser logs every refused request; the one refusal asked for below is expected.
  let refusalExpected = false;
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (refusalExpected && m.text().includes("502 (Bad Gateway)")) return;
    problems.push("console: " + m.text());
  });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  const shot = (name) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });

  step("load the page and see both destinations");
  await page.goto(URL);
  await page.waitForSelector('[data-dest="usb"]');
  await page.waitForSelector('[data-dest="nas"]');
  await page.waitForFunction(() => document.getElementById("live").textContent === "live");
  await page.waitForFunction((n) => document.getElementById("coverage-photos").textContent === String(n), photos);
  // Both onsite: every photo lacks an offsite copy.
  await page.waitForFunction((n) => document.getElementById("coverage-at-risk").textContent === String(n), photos);
  await shot("01-two-destinations.png");

  step("see the card ingest and why the card is not safe to format yet");
  await page.waitForSelector('.ingest[data-safe="false"]');
  const verdict = await page.locator(".ingest").first().textContent();
  if (!verdict.includes("NOT SAFE TO FORMAT") || !verdict.includes("EOS_DIGITAL")) fail("the ingest panel says: " + verdict);
  if ((await page.locator(".ingest .reasons li").count()) === 0) fail("the ingest panel gives no reasons");
  // Nothing below may reload the page: this marker would be lost.
  await page.evaluate(() => { window.stillTheSamePage = true; });

  step("add a third, offsite destination from the gear panel");
  await page.click("#gear");
  await page.waitForSelector("#settings[open]");
  await page.fill('#dest-form [name="name"]', "vault");
  await page.fill('#dest-form [name="target"]', THIRD_DEST);
  await page.selectOption('#dest-form [name="media"]', "hdd");
  await page.fill('#dest-form [name="site"]', "bank");
  // Filled on demand: "Back up existing photos" is what fills it.
  await page.uncheck('#dest-form [name="automatic"]');
  await shot("02-gear-panel.png");
  await page.click("#dest-save");
  await page.waitForSelector('#settings-list [data-dest="vault"]');
  const formError = await page.locator("#form-error").isVisible();
  if (formError) fail("the form refused the destination: " + (await page.locator("#form-error").textContent()));
  await page.click('#settings button[value="close"]');
  await page.waitForSelector('#destinations [data-dest="vault"]');
  const pending = await page.locator('[data-dest="vault"] .counts div:nth-child(2) b').textContent();
  if (Number(pending) !== photos) fail(`vault should be waiting for ${photos} photos, shows ${pending}`);

  step('click "Back up existing photos" and watch the progress');
  await page.click("#backup-existing");
  const seen = new Set();
  const deadline = Date.now() + 120_000;
  let done = null;
  let midShot = false;
  while (Date.now() < deadline) {
    const job = page.locator('.job[data-kind="backup_existing"]').first();
    if (await job.count()) {
      const st = await job.getAttribute("data-state");
      seen.add(st);
      if (st === "running" && !midShot) { await shot("03-backing-up.png"); midShot = true; }
      if (st === "done" || st === "failed") { done = { state: st, text: await job.textContent() }; break; }
    }
    await page.waitForTimeout(50);
  }
  if (!done) fail(`the job did not finish; states seen: ${[...seen]}`);
  if (done.state !== "done") fail(`the job failed: ${done.text}`);
  if (!done.text.includes(`${photos} of ${photos} copies`)) fail(`the job should show ${photos} of ${photos} copies: ${done.text}`);
  const width = await page.locator('.job[data-kind="backup_existing"] .progress span').evaluate((e) => e.style.width);
  if (width !== "100%") fail(`the finished job's bar is at ${width}`);
  step(`job states seen: ${[...seen].join(" → ")}`);

  step("see coverage reach protected");
  await page.waitForFunction((n) => document.getElementById("coverage-protected").textContent === String(n), photos, { timeout: 20_000 });
  await page.waitForFunction(() => document.getElementById("coverage-at-risk").textContent === "0");
  await page.waitForSelector('[data-dest="vault"][data-state="ok"]');
  await shot("04-protected.png");

  step("take a destination offline and see the warning without reloading");
  renameSync(OFFLINE_DEST, OFFLINE_DEST + "-unplugged");
  await page.waitForSelector('.warning[data-subject="dest:usb"][data-kind="not mounted"]', { timeout: 20_000 });
  await page.waitForSelector('[data-dest="usb"][data-state="not mounted"]');
  const advice = await page.locator('.warning[data-subject="dest:usb"] .advice').textContent();
  if (!advice.includes("Plug the disk in")) fail("the warning does not say what to do: " + advice);
  if (!(await page.evaluate(() => window.stillTheSamePage === true))) fail("the page was reloaded");
  await shot("05-unplugged.png");

  step("plug it back in: the warning goes by itself");
  renameSync(OFFLINE_DEST + "-unplugged", OFFLINE_DEST);
  await page.waitForSelector('[data-dest="usb"][data-state="ok"]', { timeout: 20_000 });
  await page.waitForFunction(() => !document.querySelector('.warning[data-subject="dest:usb"]'));

  step("add a GRID peer from the page: a wrong token is refused, the right one works");
  await page.fill('#peer-form [name="url"]', PEER_URL);
  await page.fill('#peer-form [name="token"]', "not-the-token-".repeat(3));
  refusalExpected = true;
  await page.click("#peer-add");
  await page.waitForSelector("#peer-error:not([hidden])");
  refusalExpected = false;
  const refused = await page.locator("#peer-error").textContent();
  if (!refused.includes("401")) fail("a wrong peer token should be refused with 401: " + refused);
  await page.fill('#peer-form [name="token"]', PEER_TOKEN);
  await page.click("#peer-add");
  await page.waitForSelector('#grid-peers [data-peer="annex"]');
  step("see the peer's photos in the GRID table");
  await page.waitForSelector('#grid-nodes [data-node="annex"]', { timeout: 30_000 });
  await shot("07-grid.png");
  page.once("dialog", (d) => d.accept());
  await page.click('#grid-peers [data-peer="annex"] button');
  await page.waitForFunction(() => !document.querySelector('#grid-peers [data-peer="annex"]'));
  if (!(await page.evaluate(() => window.stillTheSamePage === true))) fail("the page was reloaded");

  step("the page on a phone");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail(`on a phone the page is ${overflow}px wider than the screen`);
  await shot("06-phone.png");

  if (problems.length) fail("the page reported errors:\n" + problems.join("\n"));
  step("all good");
} catch (e) {
  // What the page looked like, and what it said, when it went wrong.
  await page.screenshot({ path: join(ARTIFACTS, "failure.png"), fullPage: true }).catch(() => {});
  console.log(problems.join("\n"));
  throw e;
} finally {
  await browser.close();
}
