/** A password-strength estimate for the sign-up meter: bits of entropy from the character
 * classes used and the length, lowered for repeats and common patterns. It guides; the
 * real protection is the Secret Key and Argon2id. */
export interface Strength {
  bits: number;
  /** 0 (very weak) to 4 (strong). */
  score: 0 | 1 | 2 | 3 | 4;
}

const COMMON = ["password", "123456", "qwerty", "letmein", "admin", "welcome", "iloveyou"];

export function strength(pw: string): Strength {
  let pool = 0;
  if (/[a-z]/.test(pw)) pool += 26;
  if (/[A-Z]/.test(pw)) pool += 26;
  if (/[0-9]/.test(pw)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(pw)) pool += 33;
  const distinct = new Set(pw).size;
  // Repeated characters add little: count distinct ones fully, repeats at a quarter.
  const effective = distinct + (pw.length - distinct) / 4;
  let bits = pool > 0 ? effective * Math.log2(pool) : 0;
  const lower = pw.toLowerCase();
  if (COMMON.some((c) => lower.includes(c))) bits = Math.min(bits, 10);
  if (/^(.)\1*$/.test(pw)) bits = Math.min(bits, 4);
  const score = bits < 28 ? 0 : bits < 40 ? 1 : bits < 60 ? 2 : bits < 80 ? 3 : 4;
  return { bits: Math.round(bits), score };
}
