import { describe, expect, it } from "vitest";
import { strength } from "./strength";

describe("password strength", () => {
  it("rates short, common and repeated passwords as weak", () => {
    expect(strength("").score).toBe(0);
    expect(strength("password123").score).toBe(0);
    expect(strength("aaaaaaaaaaaaaaaaaaaa").score).toBe(0);
    expect(strength("Tr0ub4").score).toBeLessThanOrEqual(1);
  });
  it("rates long passphrases and mixed passwords as strong", () => {
    expect(strength("correct horse battery staple orbit").score).toBe(4);
    expect(strength("x7#Kq9!vB2$mZ4pL").score).toBeGreaterThanOrEqual(3);
  });
  it("grows with length", () => {
    expect(strength("abcdefghij").bits).toBeLessThan(strength("abcdefghijklmnop").bits);
  });
});
