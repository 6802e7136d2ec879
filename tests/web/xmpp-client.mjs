// One @xmpp/client session over XMPP over WebSocket (RFC 7395), for
// tests/python/test_xmpp_client_ws.py:
//
//   node --experimental-websocket xmpp-client.mjs '<JSON>'
//
// with {service: "ws://127.0.0.1:PORT/xmpp-websocket", domain, username,
// password, resource, peer: "juliet@localhost", text, reply, timeout (ms)}:
// connects, authenticates (whatever mechanism @xmpp/client picks: it
// prefers SCRAM-SHA-1, and on a secure socket, which it takes ws:// to
// loopback for, takes the server's first it knows), binds, sends presence,
// sends `text` to `peer`, waits for a chat message `reply` from the bare
// `peer`, then closes: <close/>, the server's <close/>, the WebSocket's
// closing handshake.
//
// stdout: one JSON line per step, for the test to follow:
//   {"event": "online", "jid": "...", "mechanism": "SCRAM-SHA-1"}
//   {"event": "sent", "id": "..."}
//   {"event": "received", "from": "...", "type": "chat", "body": "..."}
//   {"event": "closed", "close": "<close .../>", "clean": true, "code": 1005}
// or {"event": "error", "error": "..."} and exit code 1.
// stderr: every WebSocket message each way, raw ("IN <frame>", "OUT
// <frame>"), and the connection's statuses: the debug output.
//
// Node 20 has WebSocket (which @xmpp/websocket uses) only behind
// --experimental-websocket; from Node 22 it is there without the flag.
import { client, xml } from "@xmpp/client";

const opts = JSON.parse(process.argv[2] || "{}");
const timeout = opts.timeout || 10000;

function out(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}
function debug(...args) {
    process.stderr.write(`${new Date().toISOString()} ${args.join(" ")}\n`);
}
function fail(err) {
    out({ event: "error", error: String(err?.stack || err) });
    debug("FAILED", err?.stack || err);
    process.exit(1);
}

const timer = setTimeout(() => fail(new Error(`not done within ${timeout} ms (status ${xmpp.status})`)), timeout);

if (typeof WebSocket !== "function") {
    fail(new Error("no WebSocket in this Node: run it with --experimental-websocket (Node 20) or Node >= 22"));
}

const xmpp = client({
    service: opts.service,
    domain: opts.domain,
    username: opts.username,
    password: opts.password,
    resource: opts.resource,
});
// No reconnection: a dropped connection is a failure.
xmpp.reconnect.stop();

let mechanism = null;
let socketClose = null;

xmpp.on("status", (status, arg) => {
    debug("STATUS", status, arg === undefined ? "" : typeof arg === "object" ? JSON.stringify(arg?.toString?.() ?? arg) : arg);
    if (status === "connect") {
        // The raw frames each way, and how the WebSocket closed.
        const socket = xmpp.socket;
        socket.on("data", (data) => debug("IN ", data));
        const write = socket.write.bind(socket);
        socket.write = (data, fn) => {
            debug("OUT", data);
            return write(data, fn);
        };
        socket.socket.addEventListener("close", (e) => {
            socketClose = { clean: e.wasClean, code: e.code, reason: e.reason };
            debug("WEBSOCKET CLOSED", JSON.stringify(socketClose));
        });
    }
});
xmpp.on("send", (el) => {
    if (el.is("auth", "urn:ietf:params:xml:ns:xmpp-sasl")) mechanism = el.attrs.mechanism;
});
xmpp.on("error", (err) => fail(err));

const peerBare = opts.peer.split("/")[0];
const received = new Promise((resolve) => {
    xmpp.on("stanza", (stanza) => {
        if (!stanza.is("message")) return;
        const from = stanza.attrs.from || "";
        const body = stanza.getChildText("body");
        if (from.split("/")[0] === peerBare && body === opts.reply) {
            resolve({ from, type: stanza.attrs.type, body });
        }
    });
});

try {
    const address = await xmpp.start();
    out({ event: "online", jid: address.toString(), mechanism });
    await xmpp.send(xml("presence"));
    const id = `xmpp-client-${Date.now()}`;
    await xmpp.send(xml("message", { to: opts.peer, type: "chat", id }, xml("body", {}, opts.text)));
    out({ event: "sent", id });
    out({ event: "received", ...(await received) });
    await xmpp.send(xml("presence", { type: "unavailable" }));
    // <close/>, waits for the server's; then the WebSocket's close.
    const close = await xmpp.stop();
    // The close event may come a tick after `stop` resolves.
    for (let i = 0; i < 50 && !socketClose; i++) await new Promise((r) => setTimeout(r, 20));
    out({
        event: "closed",
        close: close?.toString?.() ?? null,
        status: xmpp.status,
        ...(socketClose || { clean: null }),
    });
    clearTimeout(timer);
    process.exit(0);
} catch (err) {
    fail(err);
}
