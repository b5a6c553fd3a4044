// The Backup window while the service's home disk is full, in Debian's chromium.
// Started by crates/triplicate-cli/tests/page.rs, with `triplicate run` already unable
// to write its catalog; in the environment:
//   URL        the page, e.g. http://127.0.0.1:41234/
//   FILLER     the file that fills the home disk: removed here, as a person would
//   ARTIFACTS  where screenshots go
// Exits non-zero, with the reason, when the page does not behave.
import { chromium } from "playwright-core";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const { URL, FILLER, ARTIFACTS } = process.env;
mkdirSync(ARTIFACTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const problems = [];
page.on("pageerror", (e) => problems.push("page error: " + e.message));
try {
  await page.goto(URL);
  // The alarm is the first thing on the page, and says what is wrong.
  await page.waitForSelector("#service-alarm:not([hidden])", { timeout: 60_000 });
  const said = await page.locator("#service-alarm-text").textContent();
  if (!said.includes("full")) throw new Error("the alarm does not say the disk is full: " + said);
  await page.screenshot({ path: join(ARTIFACTS, "11-service-alarm.png"), fullPage: true });

  // Space is freed: the alarm goes by itself, without a reload.
  rmSync(FILLER);
  await page.waitForSelector("#service-alarm", { state: "hidden", timeout: 60_000 });
  await page.screenshot({ path: join(ARTIFACTS, "12-service-alarm-gone.png"), fullPage: true });
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("all good");
} finally {
  await browser.close();
}
