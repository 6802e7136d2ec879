// Drives headless Chromium with playwright-core for tests/python/browser.py.
//
//   node drive.mjs '<launch JSON>'      {"executable": "/usr/bin/chromium", "args": [...]}
//
// then one JSON request per line on stdin, one JSON answer per line on stdout:
//
//   {"id": 1, "op": "open", "page": "alice", "url": "http://...", "timeout": 10000}
//   -> {"id": 1, "ok": true, "result": ...}  or  {"id": 1, "ok": false, "error": "..."}
//
// ops (every page is a browser context of its own: separate storage, and
// HTTPS errors ignored for the servers' self-signed certificates):
//   open {page, url, timeout}              new context + page, goto url
//   eval {page, body, arg}                 result of `async (arg) => { body }` in the page
//   wait {page, body, arg, timeout}        until `(arg) => { body }` (not async) returns
//                                          something truthy; returns it
//   fill {page, selector, text, timeout}   Playwright's locator.fill
//   press {page, selector, key, timeout}   locator.press
//   files {page, selector, files, timeout} locator.setInputFiles: files are
//                                          [{name, mimeType, base64}], as a user picks them
//   screenshot {page, path}                a PNG of the viewport
//   log {page}                             {console: [...], requests: [...], failed: [...]}
//   close {page}
//   quit                                   closes the browser and exits
// Stdin's end also closes the browser and exits. Nothing else is written to stdout.
import { chromium } from "playwright-core";
import readline from "node:readline";

const launch = JSON.parse(process.argv[2] || "{}");
const browser = await chromium.launch({
    executablePath: launch.executable || "/usr/bin/chromium",
    headless: true,
    args: launch.args || [],
    timeout: launch.timeout || 30000,
});
const pages = new Map(); // name -> {context, page, console, requests, failed}

function send(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

// A call of `body` as a function of `arg`, as an expression the page evaluates.
function call(body, arg, async = true) {
    return `(${async ? "async " : ""}(arg) => { ${body} })(${JSON.stringify(arg)})`;
}

function entry(name) {
    const e = pages.get(name);
    if (!e) throw new Error(`no page ${JSON.stringify(name)}`);
    return e;
}

const ops = {
    async open({ page: name, url, timeout = 10000, viewport = { width: 1280, height: 800 } }) {
        if (pages.has(name)) throw new Error(`page ${name} is already open`);
        const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
        const page = await context.newPage();
        const e = { context, page, console: [], requests: [], failed: [] };
        pages.set(name, e);
        page.on("console", (m) => e.console.push(`${m.type()}: ${m.text()}`));
        page.on("pageerror", (err) => e.console.push(`pageerror: ${err.stack || err}`));
        context.on("request", (r) => e.requests.push(r.url()));
        context.on("requestfailed", (r) => e.failed.push(`${r.url()}: ${r.failure()?.errorText}`));
        page.on("websocket", (ws) => {
            e.requests.push(ws.url());
            ws.on("socketerror", (err) => e.failed.push(`${ws.url()}: ${err}`));
        });
        await page.goto(url, { timeout, waitUntil: "load" });
        return null;
    },
    async eval({ page, body, arg = null }) {
        return await entry(page).page.evaluate(call(body, arg));
    },
    async wait({ page, body, arg = null, timeout = 10000 }) {
        // Synchronous: a promise would count as truthy.
        const handle = await entry(page).page.waitForFunction(call(body, arg, false), null, { timeout, polling: 100 });
        const value = await handle.jsonValue();
        await handle.dispose();
        return value;
    },
    async fill({ page, selector, text, timeout = 10000 }) {
        await entry(page).page.locator(selector).fill(text, { timeout });
        return null;
    },
    async press({ page, selector, key, timeout = 10000 }) {
        await entry(page).page.locator(selector).press(key, { timeout });
        return null;
    },
    async files({ page, selector, files, timeout = 10000 }) {
        const payloads = files.map((f) => ({ name: f.name, mimeType: f.mimeType, buffer: Buffer.from(f.base64, "base64") }));
        await entry(page).page.locator(selector).setInputFiles(payloads, { timeout });
        return null;
    },
    async screenshot({ page, path, timeout = 10000 }) {
        await entry(page).page.screenshot({ path, timeout });
        return path;
    },
    async log({ page }) {
        const { console, requests, failed } = entry(page);
        return { console, requests, failed };
    },
    async close({ page }) {
        const e = entry(page);
        pages.delete(page);
        await e.context.close();
        return null;
    },
};

let quitting = false;
async function quit(code = 0) {
    if (quitting) return;
    quitting = true;
    try {
        await browser.close();
    } finally {
        process.exit(code);
    }
}
process.on("SIGTERM", () => quit(1));

// Requests run one after another, in order.
let chain = Promise.resolve();
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
    chain = chain.then(async () => {
        let req;
        try {
            req = JSON.parse(line);
        } catch (err) {
            send({ id: null, ok: false, error: `bad request: ${err}` });
            return;
        }
        if (req.op === "quit") {
            send({ id: req.id, ok: true, result: null });
            await quit(0);
            return;
        }
        try {
            const op = ops[req.op];
            if (!op) throw new Error(`unknown op ${JSON.stringify(req.op)}`);
            send({ id: req.id, ok: true, result: (await op(req)) ?? null });
        } catch (err) {
            send({ id: req.id, ok: false, error: String(err && err.message || err) });
        }
    });
});
rl.on("close", () => chain.then(() => quit(0)));
send({ id: 0, ok: true, result: { version: browser.version() } });
