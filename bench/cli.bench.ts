/**
 * `npm run bench:cli` — what a `pixelrts` command costs to start and finish, wall time and CPU
 * (user + system of the whole process, its threads included), against bare Node doing the
 * same kind of work in the same run:
 *  - `--version` and a `boot --dry-run` of a small local container, against `node -e ""`;
 *  - `servers add` (its health check: the first request of a process, undici loaded then),
 *    against a Node script making one node:http GET;
 *  - `pack` of a 150 KB payload (one band: deflated on the calling thread);
 *  - `catalog` of a 200,000-entry server, against a Node script that fetches and parses it.
 * Medians of interleaved runs. Prints figures; asserts nothing.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI } from "../test/helpers/cli.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 11);
const ROWS = 200_000;
const work = mkdtempSync(join(tmpdir(), "pixelrts-clibench-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * One run through `sh -c '…; times'`: the shell's children's user+system time is the command's
 * CPU. Asynchronous: the catalog server below answers from this process.
 */
async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ ms: number; cpuMs: number }> {
  const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const t0 = performance.now();
  const child = spawn("/bin/sh", ["-c", `${quoted} >/dev/null 2>&1 || echo FAILED; times`], { cwd: work, env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  await new Promise((r) => child.on("close", r));
  const ms = performance.now() - t0;
  if (out.includes("FAILED")) throw new Error(`${argv.join(" ")} failed`);
  const children = out.trim().split("\n").at(-1)!; // "0m0.140s 0m0.020s"
  const cpuMs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((s, m) => s + (Number(m[1]) * 60 + Number(m[2])) * 1000, 0);
  return { ms, cpuMs };
}

interface Row {
  name: string;
  ms: number;
  cpuMs: number;
}
/** Runs each case RUNS times, interleaved (so drift hits all alike); `before` prepares a run. */
async function measure(cases: { name: string; argv: (i: number) => string[]; env?: NodeJS.ProcessEnv; before?: (i: number) => void }[], runs = RUNS): Promise<Row[]> {
  const got = cases.map(() => ({ ms: [] as number[], cpu: [] as number[] }));
  for (let i = 0; i < runs; i++) {
    for (const [k, c] of cases.entries()) {
      c.before?.(i);
      const r = await run(c.argv(i), c.env);
      got[k]!.ms.push(r.ms);
      got[k]!.cpu.push(r.cpuMs);
    }
  }
  return cases.map((c, k) => ({ name: c.name, ms: median(got[k]!.ms), cpuMs: median(got[k]!.cpu) }));
}

function print(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  const base = rows[0]!;
  for (const r of rows) console.log(`  ${r.name.padEnd(52)} ${r.ms.toFixed(0).padStart(6)} ms wall ${r.cpuMs.toFixed(0).padStart(6)} ms CPU   ${r === base ? "(baseline)" : `${(r.ms / base.ms).toFixed(2)}x wall, ${(r.cpuMs / base.cpuMs).toFixed(2)}x CPU`}`);
}

const catalog = JSON.stringify({ entries: Array.from({ length: ROWS }, (_, i) => ({ id: `c${i}`, name: `n${i}`, size: i })) });
const server = createServer((req, res) => {
  if (req.url === "/api/v1/health") res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
  else res.writeHead(200, { "content-type": "application/json" }).end(catalog);
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

try {
  const env = (name: string) => ({ ...process.env, PIXELRTS_CONFIG_DIR: join(work, name), PIXELRTS_CACHE_DIR: join(work, `${name}-cache`) });
  writeFileSync(join(work, "k.bin"), randomBytes(100_000));
  writeFileSync(join(work, "i.bin"), randomBytes(50_000));
  const local = env("local");
  await run([process.execPath, CLI, "pack", "--kernel", "k.bin", "--initrd", "i.bin", "--cmdline", "console=ttyS0", "-o", "small.rts.png"], local);

  print(`start-up and local commands, median of ${RUNS}`, await measure([
    { name: 'node -e ""', argv: () => [process.execPath, "-e", ""] },
    { name: "pixelrts --version", argv: () => [process.execPath, CLI, "--version"], env: local },
    { name: "pixelrts boot small.rts.png --dry-run (150 KB)", argv: () => [process.execPath, CLI, "boot", "small.rts.png", "--dry-run", "--kvm", "off"], env: local },
    { name: "pixelrts pack of 150 KB (deflated on this thread)", argv: (i) => [process.execPath, CLI, "pack", "--kernel", "k.bin", "--initrd", "i.bin", "-o", `p${i}.rts.png`], env: local },
  ]));

  const get = `require("node:http").get(${JSON.stringify(`${url}/api/v1/health`)}, (r) => r.resume())`;
  print(`one HTTP request (the server's health check), median of ${RUNS}`, await measure([
    { name: "node -e: one node:http GET", argv: () => [process.execPath, "-e", get] },
    { name: "pixelrts servers add URL (health check)", argv: (i) => [process.execPath, CLI, "servers", "add", url, "--name", `s${i}`], env: env("add"), before: () => rmSync(join(work, "add"), { recursive: true, force: true }) },
  ]));

  const parse = `require("node:http").get(${JSON.stringify(`${url}/api/v1/catalog`)}, async (r) => { let s = ""; for await (const c of r) s += c; const e = JSON.parse(s).entries; process.stdout.write(e.map((x) => x.id + "  " + x.name + "  " + x.size).join("\\n") + "\\n"); })`;
  const big = env("big");
  await run([process.execPath, CLI, "servers", "add", url, "--name", "big", "--no-check"], big);
  const rows = await measure([
    { name: `node -e: GET, JSON.parse and print ${ROWS} rows`, argv: () => [process.execPath, "-e", parse] },
    { name: `pixelrts catalog (${ROWS} rows, fetched)`, argv: () => [process.execPath, CLI, "catalog", "--source", "servers", "--refresh"], env: big },
  ], Math.min(RUNS, 5));
  print(`a catalog of ${ROWS} entries, median of ${Math.min(RUNS, 5)}`, rows);
} finally {
  server.close();
  rmSync(work, { recursive: true, force: true });
}
