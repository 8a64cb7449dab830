// The dashboard in real headless Chromium (Debian's, through playwright-core, which
// never downloads a browser). Started by crates/vigie/tests/it/dashboard.rs with the
// server's address, users and data in VIGIE_* variables; prints one line per check and
// exits non-zero at the first failure. Screenshots go to VIGIE_SCREENSHOTS.
import { chromium } from "playwright-core";
import path from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("VIGIE_BASE");
const shots = env("VIGIE_SCREENSHOTS");
const account = (name) => {
  const [user, ...rest] = env(name).split(":");
  return { user, password: rest.join(":") };
};
const ops = account("VIGIE_OPS");
const agent = account("VIGIE_AGENT");
const admin = account("VIGIE_ADMIN");
const number = env("VIGIE_NUMBER");

const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
};

const browser = await chromium.launch({
  executablePath: env("VIGIE_CHROMIUM"),
  // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
  args: ["--no-sandbox"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "fr-FR" });
  const page = await context.newPage();
  // The whole page, up to two screens (the audit trail would be tens of screens).
  const shot = async (name) => {
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    const clip = { x: 0, y: 0, width: 1366, height: Math.min(height, 2 * 768) };
    await page.screenshot({ path: path.join(shots, name), fullPage: true, clip });
  };

  const signIn = async ({ user, password }) => {
    await page.goto(`${base}/login`);
    await page.fill("input[name=name]", user);
    await page.fill("input[name=password]", password);
    await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")]);
  };
  const signOut = async () => {
    await Promise.all([page.waitForURL(`${base}/login`), page.click("header .who button[type=submit]")]);
  };

  // Sign in: the session cookie is kept by the browser on http://127.0.0.1.
  await signIn(ops);
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === "vigie_session");
  check(session && session.secure && session.httpOnly && session.sameSite === "Strict",
    "the session cookie is Secure, HttpOnly, SameSite=Strict and kept on loopback");
  check((await page.textContent("[data-testid=who]")).includes(ops.user), "signed in as the operations manager");

  // The pool cards.
  const cards = await page.locator("[data-testid=pool-card]").count();
  check(cards >= 4, `the overview shows a card per pool (${cards})`);
  const outbound = await page.locator("[data-testid=pool-card][data-role=outbound]").count();
  check(outbound >= 4 && await page.locator("[data-testid=pool-card] svg").count() === 2 * outbound,
    "each outbound pool's card has its two 30-day charts");
  await shot("overview.png");

  await page.goto(`${base}/numbers?sort=calls`);
  check(await page.locator("table.numbers tbody tr").count() >= 10, "the numbers list");
  await shot("numbers.png");

  // Two reports through the API turn the open page's number quarantined, no reload;
  // an overview open in another tab counts it and lists the alert.
  const overview = await context.newPage();
  await overview.setViewportSize({ width: 1366, height: 768 });
  await overview.goto(`${base}/`);
  await overview.waitForSelector("body[data-live=open]", { timeout: 20_000 });
  const quarantinedInA = () => overview.locator("[data-pool=A] [data-count=quarantined]").textContent();
  const before = Number(await quarantinedInA());
  await page.goto(`${base}/numbers/${encodeURIComponent(number)}`);
  await page.waitForSelector("body[data-live=open]", { timeout: 20_000 });
  const state = page.locator("[data-testid=number-state]");
  check((await state.getAttribute("data-state")) === "active", "the number is active");
  await page.evaluate(() => { window.vigieNotReloaded = true; });
  for (const source of ["patient", "app_label"]) {
    const res = await fetch(`${base}/v1/reports`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${env("VIGIE_OPS_KEY")}` },
      body: JSON.stringify({ number, source, reported_at: env("VIGIE_NOW"), detail: "e2e report" }),
    });
    check(res.status === 202, `report from ${source} accepted (${res.status})`);
  }
  await page.waitForSelector("[data-testid=number-state][data-state=quarantined]", { timeout: 20_000 });
  check(await page.evaluate(() => window.vigieNotReloaded === true), "quarantined on the open page without a reload");
  const since = await page.locator("[data-since-of]").textContent();
  check(since.includes("spam"), `the state's reason follows it (${since.trim()})`);
  await page.waitForSelector(".toast", { timeout: 20_000 });
  await shot("number-quarantined.png");
  await overview.waitForFunction(
    (n) => document.querySelector("[data-pool=A] [data-count=quarantined]").textContent.trim() === String(n),
    before + 1, { timeout: 20_000 });
  check(true, `the overview's pool A card counts ${before + 1} quarantined without a reload`);
  check((await overview.locator("#live-alerts li.alert", { hasText: number }).count()) >= 1,
    "the overview lists the new alert without a reload");
  await overview.close();

  // Acknowledge the quarantine's alert.
  await page.goto(`${base}/alerts`);
  const row = page.locator("tr[data-alert]", { hasText: number }).first();
  await Promise.all([page.waitForURL(`${base}/alerts`), row.locator("[data-testid=ack]").click()]);
  const acked = page.locator("tr[data-alert]", { hasText: number }).first().locator("[data-testid=acknowledged]");
  check((await acked.count()) === 1 && (await acked.textContent()).includes(ops.user), "the alert is acknowledged");
  await shot("alerts.png");
  const incident = page.locator("a[href^='/incidents/']").first();
  await Promise.all([page.waitForLoadState(), incident.click()]);
  await shot("incident.png");

  await page.goto(`${base}/planner?calls_per_day=5000`);
  check(await page.locator("[data-testid=plan] tbody tr").count() >= 5, "the capacity planner computes");
  await shot("planner.png");

  // English as a choice.
  await page.goto(`${base}/lang/en?back=/`);
  check((await page.textContent("h1")).includes("Overview"), "the overview in English");
  await page.goto(`${base}/lang/fr?back=/`);
  check((await page.textContent("h1")).includes("Vue d'ensemble"), "back in French");

  await signOut();
  const after = await page.goto(`${base}/`);
  check(page.url() === `${base}/login` && after.ok(), "signed out: the overview sends to the sign-in page");

  // An agent of one facility: their call, not another facility's.
  await signIn(agent);
  const own = await page.goto(`${base}/calls/${env("VIGIE_OWN_CALL")}`);
  check(own.status() === 200 && (await page.locator("[data-testid=patient-phone]").textContent()).startsWith("+33"),
    "the agent sees their facility's call and its patient phone");
  const other = await page.goto(`${base}/calls/${env("VIGIE_OTHER_CALL")}`);
  check(other.status() === 403, `the agent gets 403 on another facility's call (${other.status()})`);
  await shot("forbidden.png");
  const numbers = await page.goto(`${base}/numbers`);
  check(numbers.status() === 403, "the agent gets 403 on the numbers list");
  await page.goto(`${base}/`);
  await signOut();

  // The admin's pages.
  await signIn(admin);
  await page.goto(`${base}/audit`);
  check((await page.textContent("main")).includes("patient.read"), "the audit trail shows the agent's read");
  await shot("audit.png");
  await page.goto(`${base}/admin`);
  check((await page.textContent("main")).includes("agent-lyon"), "the users page lists the users");
  await shot("admin.png");
  await signOut();
  console.log("dashboard.mjs: all checks passed");
} finally {
  await browser.close();
}
