// The Backup window's link to the photos deleted from the library, in Debian's
// chromium, followed as a person would: see the note, click "the list", read it.
// Started by crates/triplicate-cli/tests/page.rs, with `triplicate run` serving a
// library from which one backed-up photo was deleted; in the environment:
//   URL        the page, e.g. http://127.0.0.1:41234/
//   DELETED    the deleted photo's path in the library
//   ARTIFACTS  where screenshots go
// Exits non-zero, with the reason, when the page does not behave.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const { URL, DELETED, ARTIFACTS } = process.env;
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
  const note = page.locator("#deleted-note");
  await note.waitFor({ state: "visible", timeout: 60_000 });
  const said = await note.textContent();
  if (!said.includes("kept in backups: 1 of 1 photos")) throw new Error("the note does not count the deleted photo: " + said);
  if (!said.includes("restore --deleted")) throw new Error("the note does not say how to bring it back: " + said);
  await page.screenshot({ path: join(ARTIFACTS, "12-deleted-note.png"), fullPage: true });

  await note.getByRole("link", { name: "the list" }).click();
  await page.waitForURL(/api\/v1\/deleted$/);
  const listed = JSON.parse(await page.locator("body").innerText());
  if (!Array.isArray(listed) || listed.length !== 1) throw new Error("the list holds " + JSON.stringify(listed));
  if (listed[0].path !== DELETED || listed[0].deleted !== true || !listed[0].from) {
    throw new Error("the list does not name the deleted photo and where it is kept: " + JSON.stringify(listed[0]));
  }
  await page.screenshot({ path: join(ARTIFACTS, "13-deleted-list.png"), fullPage: true });
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("all good");
} catch (e) {
  await page.screenshot({ path: join(ARTIFACTS, "deleted-failure.png"), fullPage: true }).catch(() => {});
  throw e;
} finally {
  await browser.close();
}
