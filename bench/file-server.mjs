// A plain node:http server for bench/pull.bench.ts, run in its own process so it does not share
// the agent's event loop. Serves one file with the Worker's headers, 1 MiB reads (toolchain.md §5).
// Usage: node bench/file-server.mjs FILE SHA256HEX  → prints the port, serves until killed.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";

const [file, sha] = process.argv.slice(2);
const size = statSync(file).size;
const headers = {
  "content-type": "image/png",
  "content-length": String(size),
  "accept-ranges": "bytes",
  etag: `"${sha.slice(0, 16)}"`,
  "repr-digest": `sha-256=:${Buffer.from(sha, "hex").toString("base64")}:`,
  "x-pixelrts-sha256": sha,
};
const server = createServer((req, res) => {
  res.writeHead(200, headers);
  if (req.method === "HEAD") return res.end();
  createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res);
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
