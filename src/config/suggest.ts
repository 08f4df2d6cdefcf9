/**
 * "Did you mean ...?" for unknown names (YAML keys, nested setting names),
 * the way commander answers an unknown flag: the candidates closest to the
 * word by Damerau-Levenshtein distance (optimal string alignment: insert,
 * delete, substitute, swap two neighbours), compared without case, `-` or
 * `_` (so `health-interval` and `HealthInterval` find `healthInterval`).
 * Used only on the error path.
 */

/** Edit distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = [];
  for (let i = 0; i < rows; i++) {
    d.push(new Array<number>(cols).fill(0));
    d[i]![0] = i;
  }
  for (let j = 0; j < cols; j++) d[0]![j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const fold = (s: string) => s.toLowerCase().replace(/[-_]/g, '');

/**
 * The closest candidates to `word` (several when tied), or none when nothing
 * is close: at most a third of the word's length in edits (at least 1), as a
 * typo would be.
 */
export function suggest(word: string, candidates: Iterable<string>): string[] {
  const w = fold(word);
  if (w.length === 0) return [];
  const limit = Math.max(1, Math.floor(w.length / 3));
  let best = Infinity;
  let out: string[] = [];
  for (const c of candidates) {
    const d = editDistance(w, fold(c));
    if (d > limit || d > best) continue;
    if (d < best) {
      best = d;
      out = [];
    }
    out.push(c);
  }
  return out;
}

/** ` (did you mean X?)`, ` (did you mean X or Y?)`, or '' when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const s = suggest(word, candidates);
  if (s.length === 0) return '';
  return ` (did you mean ${s.length === 1 ? s[0] : `${s.slice(0, -1).join(', ')} or ${s[s.length - 1]}`}?)`;
}
