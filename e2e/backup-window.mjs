// Drives the Backup window in Debian's chromium, as a photographer would.
// Started by crates/triplicate-cli/tests/page.rs, which starts `triplicate run` on a
// generated library and passes, in the environment:
//   URL          the page, e.g. http://127.0.0.1:41234/
//   PHOTOS       how many photos the library holds
//   THIRD_DEST   an empty folder to add as a third, offsite destination
//   OFFLINE_DEST a destination's folder, moved away at the end to unplug it
//   LOCKED       a library photo Triplicate may not read (chmod 000); the page must
//                show it at risk with its reason, until it is made readable here
//   ARTIFACTS    where screenshots go
//   PEER_URL, PEER_TOKEN  another node ("annex") and its GRID token
//   LIBRARY      the library folder, where a shoot gets "encrypted" at the end
// It also creates, verifies, downloads, deletes and uploads back a backup (archive).
// Exits non-zero, with the reason, when the page does not behave.
import { chromium } from "playwright-core";
import { chmodSync, renameSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";

const { URL, PHOTOS, THIRD_DEST, OFFLINE_DEST, ARTIFACTS, PEER_URL, PEER_TOKEN, LIBRARY, LOCKED } = process.env;
const filesUnder = (dir) => readdirSync(dir, { withFileTypes: true })
  .flatMap((e) => e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]);
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
    if (refusalExpected && /(502 \(Bad Gateway\)|400 \(Bad Request\))/.test(m.text())) return;
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

  step("see the photo that cannot be read: at risk, with its reason");
  const notes = await page.locator("#coverage-notes").textContent();
  if (!notes.includes("1 cannot be read")) fail("the coverage does not say a photo cannot be read: " + notes);
  await page.click("#show-at-risk");
  const lockedRow = page.locator("#drill-rows tr", { hasText: "IMG_LOCKED.JPG" });
  await lockedRow.waitFor();
  const why = await lockedRow.textContent();
  if (!why.includes("cannot read: permission denied")) fail("the drill-down gives no reason: " + why);
  await page.waitForSelector('.warning[data-kind="unreadable"]');
  await shot("01b-unreadable.png");
  await page.click("#drill-close");

  step("make it readable and rescan: it is backed up like the others");
  chmodSync(LOCKED, 0o644);
  await page.click("#rescan");
  await page.waitForFunction(() => document.getElementById("coverage-notes").hidden, null, { timeout: 30_000 });
  await page.waitForFunction((n) => document.querySelector('[data-dest="usb"] .counts div:nth-child(1) b').textContent === String(n), photos, { timeout: 30_000 });
  await page.waitForFunction(() => !document.querySelector('.warning[data-kind="unreadable"]'), null, { timeout: 30_000 });

  step("see how much of each destination the scheduled checks read back, and its restore drill");
  await page.waitForSelector('[data-dest="usb"] [data-role="proofs"]', { timeout: 30_000 });
  const proofs = await page.locator('[data-dest="usb"] [data-role="proofs"]').textContent();
  if (!/^checked within 30d: 100% · oldest check /.test(proofs)) fail("the usb card says: " + proofs);
  await page.waitForSelector('[data-dest="usb"] [data-role="drill"]', { timeout: 30_000 });
  const drill = await page.locator('[data-dest="usb"] [data-role="drill"]').textContent();
  if (!drill.includes("photos back, byte for byte")) fail("the usb card's drill says: " + drill);

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
  step("a mistyped folder is refused; one made on the library's own disk is shown as not counting");
  const attic = resolve(LIBRARY, "..", "attic");
  await page.fill('#dest-form [name="name"]', "attic");
  await page.fill('#dest-form [name="target"]', attic);
  await page.uncheck('#dest-form [name="automatic"]');
  refusalExpected = true;
  await page.click("#dest-save");
  await page.waitForSelector("#form-error:not([hidden])");
  refusalExpected = false;
  const refusal = await page.locator("#form-error").textContent();
  if (!refusal.includes("does not exist: is the disk mounted?")) fail("the form does not say why: " + refusal);
  await shot("02a-mistyped-folder.png");
  await page.check('#dest-form [name="create"]');
  await page.click("#dest-save");
  await page.waitForSelector('#settings-list [data-dest="attic"]');
  await page.click('#settings button[value="close"]');
  const note = page.locator('#destinations [data-dest="attic"] [data-role="device-note"]');
  await note.waitFor();
  const said = await note.textContent();
  if (!said.includes("'attic' is on the same device as library") || !said.includes("do not count toward 3-2-1")) fail("the card says: " + said);
  await shot("02b-same-disk.png");
  page.once("dialog", (d) => d.accept());
  await page.click("#gear");
  await page.waitForSelector("#settings[open]");
  await page.click('#settings-list [data-dest="attic"] button');
  await page.click("#dest-remove");
  await page.waitForFunction(() => !document.querySelector('#destinations [data-dest="attic"]'));

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

  step("create a backup of one night of images, and watch its stages");
  await page.click("#archive-create");
  await page.waitForSelector("#archive-dialog[open]");
  await page.waitForSelector('#archive-parts [data-part="core"]');
  await page.check('#archive-form [name="kind"][value="images"]');
  await page.waitForSelector('#archive-parts [data-part="library/2024-05-17"]');
  const folders = await page.locator("#archive-parts [data-part]").count();
  if (folders < 2) fail(`the dialog lists ${folders} date folders`);
  const sizes = await page.locator('#archive-parts [data-part="library/2024-05-17"] .sizes').textContent();
  if (!/MB → ~\d/.test(sizes)) fail("a folder's raw and compressed sizes are not shown: " + sizes);
  if (!(await page.locator("#archive-go").isDisabled())) fail("Create is enabled before the checklist is ticked");
  // One night only: untick the others.
  for (const box of await page.locator("#archive-parts input").all()) {
    if ((await box.getAttribute("value")) !== "library/2024-05-17") await box.uncheck();
  }
  for (const box of await page.locator("#archive-checklist input").all()) await box.check();
  const total = await page.locator("#archive-total").textContent();
  if (!total.startsWith("1 part")) fail("the total does not follow the switches: " + total);
  await shot("08-create-backup.png");
  await page.click("#archive-go");
  await page.waitForSelector("#archive-progress[open]");
  const stagesSeen = new Set();
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    const st = await page.locator("#archive-progress").getAttribute("data-state");
    const current = await page.locator("#ap-stages li.current").textContent().catch(() => null);
    if (current) stagesSeen.add(current);
    if (st === "done" || st === "failed") break;
    await page.waitForTimeout(30);
  }
  const archived = await page.locator("#archive-progress").getAttribute("data-state");
  if (archived !== "done") fail("the backup did not finish: " + (await page.locator("#ap-text").textContent()));
  if ((await page.locator("#ap-stages li.done").count()) !== 3) fail("every stage should be done");
  if ((await page.locator("#ap-percent").textContent()) !== "100%") fail("the progress is not at 100%");
  step(`stages seen: ${[...stagesSeen].join(" → ")}`);
  await shot("09-backup-done.png");
  await page.click("#ap-close");

  step("the backup's row: Info, Verify, Download, Delete, then Upload it back");
  const row = page.locator('table[data-kind="images"] tr[data-archive]');
  await row.first().waitFor();
  const archiveId = await row.first().getAttribute("data-archive");
  await row.first().locator('[data-action="info"]').click();
  await page.waitForSelector("#archive-info[open]");
  const info = await page.locator("#ai-body").textContent();
  if (!info.includes("library/2024-05-17") || !info.includes("images/library/2024-05-17/")) fail("Info does not list the folder and files: " + info.slice(0, 300));
  await page.click('#archive-info button[value="close"]');
  await row.first().locator('[data-action="verify"]').click();
  await page.waitForSelector('table[data-kind="images"] [data-verified="ok"]');
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    row.first().locator('[data-action="download"]').click(),
  ]);
  const saved = join(ARTIFACTS, download.suggestedFilename());
  await download.saveAs(saved);
  if (!saved.endsWith(".tar.gz")) fail("the download is named " + saved);
  page.once("dialog", (d) => d.accept());
  await row.first().locator('[data-action="delete"]').click();
  await page.waitForFunction((id) => !document.querySelector(`tr[data-archive="${id}"]`), archiveId);
  await page.setInputFiles("#archive-upload", saved);
  await page.waitForSelector(`tr[data-archive="${archiveId}"]`, { timeout: 60_000 });
  if (!(await page.evaluate(() => window.stillTheSamePage === true))) fail("the page was reloaded");

  step("every destination says whether its store could delete copies");
  const immutable = await page.locator('[data-dest="usb"] [data-role="immutable"]').textContent();
  if (immutable !== "not immutable") fail(`the usb card says "${immutable}"`);

  step("ransomware encrypts a shoot: the alarm shows without reloading");
  for (const f of filesUnder(join(LIBRARY, "2024-05-17"))) {
    if (/\.(CR2|JPG)$/.test(f)) writeFileSync(f, randomBytes(readFileSync(f).length));
  }
  await page.waitForSelector("#alarm:not([hidden])", { timeout: 30_000 });
  const alarm = await page.locator("#alarm-text").textContent();
  if (!alarm.includes("ransomware")) fail("the alarm does not say what this looks like: " + alarm);
  if (!(await page.evaluate(() => window.stillTheSamePage === true))) fail("the page was reloaded");
  await shot("10-alarm.png");

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
