// A static file server for the repository root on 127.0.0.1, for the
// browser tests. It serves files only from inside the root.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";

import { repoRoot } from "./paths.js";

const contentTypes = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".yaml": "text/yaml; charset=utf-8",
};

/** Starts the server on a free port; resolves to `{ origin, close }`. */
export async function serveRepository() {
  const server = createServer(async (request, response) => {
    const path = normalize(join(repoRoot, decodeURIComponent(new URL(request.url, "http://x").pathname)));
    if (!path.startsWith(repoRoot.endsWith(sep) ? repoRoot : repoRoot + sep)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(path);
      const type = contentTypes[extname(path)] ?? "application/octet-stream";
      response.writeHead(200, { "content-type": type }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
