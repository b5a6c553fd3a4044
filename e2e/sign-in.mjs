// Signing in to the Backup window from another device, in Debian's chromium, as a
// person does it: type the token into the form and click. Started by
// crates/triplicate-cli/tests/page.rs with `triplicate run` listening beyond loopback;
// in the environment:
//   URL        the page, e.g. https://127.0.0.1:41234/ (no session yet); over HTTPS its
//              certificate is the service's own, which a person accepts once
//   TOKEN      the service's access token
//   OTHER      a page of another site (another port of this machine) whose form posts
//              "Back up existing photos" to the service as soon as it loads
//   ARTIFACTS  where screenshots go
// Exits non-zero, with the reason, when the page does not behave.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const { URL, TOKEN, OTHER, ARTIFACTS } = process.env;
mkdirSync(ARTIFACTS, { recursive: true });
const step = (text) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${text}`);
const fail = (text) => { throw new Error(text); };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
const problems = [];
page.on("pageerror", (e) => problems.push("page error: " + e.message));
const shot = (name) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
try {
  step("open the page: a styled sign-in form");
  const first = await page.goto(URL);
  if (first.status() !== 401) fail("the page answered " + first.status() + " before signing in");
  await page.locator("#token").waitFor();
  const background = await page.evaluate(() => getComputedStyle(document.querySelector("header.top")).position);
  if (background !== "sticky") fail("the sign-in page is not styled like the rest (header position " + background + ")");
  await shot("20-sign-in.png");

  step("type a wrong token: told so");
  await page.locator("#token").fill("this-is-not-the-token-at-all");
  await page.click("#sign-in");
  const note = page.locator("#sign-in-note");
  await note.waitFor();
  if (!(await note.textContent()).includes("That token is not right")) fail("a wrong token gets: " + (await note.textContent()));
  await shot("21-wrong-token.png");

  step("type the right token: the page");
  await page.locator("#token").fill(TOKEN);
  await page.click("#sign-in");
  await page.waitForSelector("#backup-existing");
  await page.waitForFunction(() => document.getElementById("live").textContent === "live");
  await page.waitForFunction(() => document.getElementById("node").textContent !== "…");
  const cookies = await page.context().cookies();
  if (cookies.some((c) => c.value.includes(TOKEN))) fail("a cookie holds the token");
  const session = cookies.find((c) => c.name === "triplicate_session_" + new globalThis.URL(URL).port);
  if (!session || !session.httpOnly || session.sameSite !== "Strict") fail("the session cookie: " + JSON.stringify(session));
  if (URL.startsWith("https:") && !session.secure) fail("the session cookie is not Secure over HTTPS");
  await shot("22-signed-in.png");

  step("a page of another site posts an action: refused");
  const refused = page.waitForResponse((r) => r.url().endsWith("/api/v1/actions/backup-existing"));
  await page.goto(OTHER);
  const answer = await refused;
  if (answer.status() !== 403) fail("the other site's post was answered " + answer.status());
  await shot("23-other-site-refused.png");

  step("a change from the page itself works (it sends its CSRF token)");
  await page.goto(URL);
  await page.waitForSelector("#rescan");
  const rescan = page.waitForResponse((r) => r.url().endsWith("/api/v1/actions/rescan"));
  await page.click("#rescan");
  if ((await rescan).status() !== 202) fail("the page's own rescan was answered " + (await rescan).status());

  step("sign out: the form again, and the API closed");
  await page.click("#sign-out");
  await page.locator("#token").waitFor();
  const after = await page.request.get(URL + "api/v1/status");
  if (after.status() !== 401) fail("after signing out the API answered " + after.status());
  await shot("24-signed-out.png");
  if (problems.length) fail(problems.join("\n"));
  console.log("all good");
} catch (e) {
  await shot("sign-in-failure.png").catch(() => {});
  throw e;
} finally {
  await browser.close();
}
