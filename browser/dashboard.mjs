// Drives `gt dashboard` in headless Chromium (Debian's /usr/bin/chromium, through playwright-core) like a
// person: open the printed URL, wait for texts to be drawn, press keys, wait for more texts. Run by
// tests/test_dashboard.py, which owns the town and checks SQLite afterwards.
//
//   node browser/dashboard.mjs PLAN.json
//
// PLAN: {"url": the dashboard's URL with its token, "refused": [URLs that must answer 403],
//        "viewport": {"width": px, "height": px}, "timeout": ms per wait, "screenshot": PNG path or "",
//        "steps": [{"see": [texts]} | {"press": [Playwright key names]} | {"say": line} | {"closed": true}]}
// A "see" step waits until every text has been drawn since the last "press" (the screen is the
// xterm.js terminal of the page, drawn on a canvas: what it draws is the cockpit's output that reached
// the page over its websocket, read here with escape sequences removed).
// "say" prints the line at once (the test waits for it), "closed" waits until the server closes the
// page's websocket (the page then offers to restart the session).
// Prints one JSON object last: {"ok": bool, "steps": [{"step", "ms"}], "refused": [statuses], "error", "tail"}.
// Every request to another origin (the page's web font) is aborted: the test needs no network.

import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const timeout = plan.timeout ?? 60000;
const origin = new URL(plan.url).origin;
const result = { ok: false, steps: [], refused: [], error: "", tail: "" };

// CSI, OSC (to BEL or ST), two-byte escapes, then the C0 controls but newline.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x1b.|[\x00-\x09\x0b-\x1f\x7f]/g;
let text = "";
let waiters = [];
const decoder = new TextDecoder("utf-8");

function received(payload) {
  const chunk = typeof payload === "string" ? "" : decoder.decode(payload, { stream: true });
  text += chunk.replace(ESCAPES, "");
  waiters = waiters.filter((w) => !w());
}

function seen(marks, from) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const tail = text.slice(from);
      if (marks.every((m) => tail.includes(m))) {
        clearTimeout(timer);
        resolve();
        return true;
      }
      return false;
    };
    const timer = setTimeout(() => {
      waiters = waiters.filter((w) => w !== check);
      const missing = marks.filter((m) => !text.slice(from).includes(m));
      reject(new Error(`not drawn within ${timeout} ms: ${JSON.stringify(missing)}`));
    }, timeout);
    if (!check()) waiters.push(check);
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
});
try {
  const context = await browser.newContext({ viewport: plan.viewport ?? { width: 1700, height: 1000 } });
  for (const url of plan.refused ?? []) {
    const page = await context.newPage();
    const answer = await page.goto(url);
    result.refused.push({ url: url.replace(/token=[^&]*/, "token=..."), status: answer.status(), body: (await page.textContent("body")).trim() });
    await page.close();
  }
  const page = await context.newPage();
  await page.route("**/*", (route) => (new URL(route.request().url()).origin === origin ? route.continue() : route.abort()));
  let closed;
  const closedOnce = new Promise((resolve) => (closed = resolve));
  page.on("websocket", (ws) => {
    ws.on("framereceived", (frame) => received(frame.payload));
    ws.on("close", () => closed());
  });
  const started = Date.now();
  await page.goto(plan.url);
  await page.waitForSelector(".xterm-helper-textarea", { state: "attached" });
  await page.focus(".xterm-helper-textarea"); // keys go to the terminal, as after a click, without the click
  let from = 0;
  for (const step of plan.steps) {
    if (step.see) {
      await seen(step.see, from);
    } else if (step.press) {
      from = text.length;
      for (const key of step.press) await page.keyboard.press(key);
    } else if (step.say) {
      console.log(step.say);
    } else if (step.closed) {
      let timer;
      await Promise.race([
        closedOnce,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("the websocket stayed open")), timeout))),
      ]);
      clearTimeout(timer);
    }
    result.steps.push({ step, ms: Date.now() - started });
  }
  if (plan.screenshot) await page.screenshot({ path: plan.screenshot });
  result.ok = true;
} catch (err) {
  result.error = String(err && err.message ? err.message : err);
} finally {
  result.tail = text.slice(-3000);
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
