/** Small integer helpers shared by the pickers. Pure, no allocation. */

/** Greatest common divisor of two non-negative integers (gcd(a, 0) = a). */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}
