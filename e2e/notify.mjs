// Notification channels from the Backup window's settings, in Debian's chromium.
// Started by crates/triplicate-cli/tests/page.rs, with `triplicate run` running and a
// webhook receiver listening; in the environment:
//   URL        a one-time sign-in link to the page
//   RECEIVER   the webhook receiver's address
//   ARTIFACTS  where screenshots go
// Exits non-zero, with the reason, when the page does not behave.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const { URL, RECEIVER, ARTIFACTS } = process.env;
mkdirSync(ARTIFACTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
const problems = [];
page.on("pageerror", (e) => problems.push("page error: " + e.message));
try {
  await page.goto(URL);
  await page.click("#gear");
  await page.waitForSelector("#channels li", { timeout: 30_000 });
  const none = await page.locator("#channels").textContent();
  if (!none.includes("nobody is told")) throw new Error("no channel, and the page does not say so: " + none);

  // A webhook, added as a person would.
  const form = "#channel-form";
  await page.fill(`${form} [name="name"]`, "studio-hook");
  await page.selectOption(`${form} [name="kind"]`, "webhook");
  await page.fill(`${form} [name="url"]`, RECEIVER);
  await page.click("#channel-add");
  const row = '#channels li[data-channel="studio-hook"]';
  await page.waitForSelector(row, { timeout: 30_000 });
  await page.click(`${row} button:has-text("Send test")`);
  await page.waitForSelector(`${row} [data-role="result"]:has-text("test sent")`, { timeout: 30_000 });
  await page.screenshot({ path: join(ARTIFACTS, "13-notify-test-sent.png"), fullPage: true });

  // A mistyped email server: refused, and the form says what it needs.
  await page.fill(`${form} [name="name"]`, "mail");
  await page.selectOption(`${form} [name="kind"]`, "email");
  await page.fill(`${form} [name="url"]`, "mail.example.com");
  await page.fill(`${form} [name="to"]`, "admin@example.com");
  await page.fill(`${form} [name="from"]`, "triplicate@example.com");
  await page.click("#channel-add");
  await page.waitForSelector("#channel-error:not([hidden])", { timeout: 30_000 });
  const error = await page.locator("#channel-error").textContent();
  if (!error.includes("smtp://")) throw new Error("the refusal does not say what is needed: " + error);
  await page.screenshot({ path: join(ARTIFACTS, "14-notify-refused.png"), fullPage: true });
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("all good");
} finally {
  await browser.close();
}
