/**
 * "Did you mean …": the candidates closest to what was typed, by edit distance (a swap of two
 * neighbours counts as one edit, so `pul` → `pull`, `demo-lnux` → `demo-linux`). Only close
 * enough matches are offered: at most a third of the word may differ.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** Up to `max` candidates nearest to `typed`, best first; none when nothing is close. */
export function closest(typed: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(1, Math.floor(typed.length / 3));
  const scored: [string, number][] = [];
  for (const c of new Set(candidates)) {
    if (Math.abs(c.length - typed.length) > limit) continue;
    const dist = editDistance(typed.toLowerCase(), c.toLowerCase());
    if (dist <= limit) scored.push([c, dist]);
  }
  return scored.sort((x, y) => x[1] - y[1] || x[0].localeCompare(y[0])).slice(0, max).map(([c]) => c);
}
