/**
 * The order test files start in: the Worker project first, then the Node project, the longest
 * files first within each. Vitest's default order is by project name, so the Worker project ran
 * last and its 14 s interleaving file ran alone at the end with the other cores idle. Mixing the
 * projects file by file measured slower (a slot that switches project starts a new workerd or
 * process), so the projects stay in blocks.
 *
 * A file's length is its duration in vitest's results cache (node_modules/.vite) when there is
 * one; on a fresh clone (CI) there is none, so the files measured as the longest are named here.
 * A stale entry only changes the order, never what runs.
 */
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** Seconds each took in `npm test` on the 2-core machine (2026-12-03), for a run without a cache. */
const MEASURED: Record<string, number> = {
  "node:test/e2e/boot.test.ts": 25,
  "node:test/trust-cli.test.ts": 23,
  "node:agent/boot/boot-cli.test.ts": 17,
  "node:test/hostile-container.test.ts": 15,
  "worker:worker/routes/concurrency.test.ts": 14,
  "node:test/page-catalog.test.ts": 14,
  "node:test/serve-browser.test.ts": 12,
  "node:test/agent-cli.test.ts": 11,
  "node:agent/pull/pull.test.ts": 10,
  "node:test/faults.test.ts": 10,
  "worker:worker/routes/signatures.test.ts": 8,
};

const PROJECT_ORDER = ["worker", "node", "system"];

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const key = (f: TestSpecification) => `${f.project.name}:${relative(root, f.moduleId)}`;
    const seconds = (f: TestSpecification) => {
      const cached = this.ctx.cache.getFileTestResults(key(f));
      if (cached?.failed) return Number.MAX_VALUE; // failed last time: first, to know soonest
      return cached ? cached.duration / 1000 : (MEASURED[key(f)] ?? 0);
    };
    const block = (f: TestSpecification) => PROJECT_ORDER.indexOf(f.project.name) >>> 0; // unknown projects last
    return [...files]
      .map((f) => ({ f, group: f.project.config.sequence.groupOrder ?? 0, block: block(f), s: seconds(f) }))
      .sort((a, b) => a.group - b.group || a.block - b.block || b.s - a.s || 0)
      .map(({ f }) => f);
  }
}
