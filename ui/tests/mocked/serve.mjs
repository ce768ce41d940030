// What the mocked runs share: the built UI served on a local port, Debian's Chromium, and
// the mocked IPC layer (mock-ipc.js) to inject before each page loads.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "../../dist");
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png" };

export const mock = readFileSync(join(here, "mock-ipc.js"), "utf8");
export const axeSource = readFileSync(join(here, "../../node_modules/axe-core/axe.min.js"), "utf8");

/** Serves ui/dist on a free local port: its address and how to stop it. */
export async function serveUi() {
  const server = createServer((req, res) => {
    const asked = req.url.split("?")[0];
    const path = asked === "/" ? "/index.html" : asked;
    try {
      const body = readFileSync(join(dist, path));
      res.writeHead(200, { "content-type": types[extname(path)] || "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

/** Debian's Chromium (or $CHROMIUM), with nothing reaching the network. */
export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extra],
  });
}
