import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const src = join(here, "..");
const tokens = readFileSync(join(here, "tokens.css"), "utf8");

/** Every style sheet and component of the page, by path under src/. */
function sources(dir = src, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(svelte|css)$/.test(name)) out.push(p);
  }
  return out;
}

/** Each colour token's light and dark value. */
function colours(): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const m of tokens.matchAll(/--(color-[a-z-]+):\s*light-dark\((#[0-9a-f]+),\s*(#[0-9a-f]+)\)/g)) {
    out.set(m[1], [m[2], m[3]]);
  }
  return out;
}

/** sRGB relative luminance (WCAG 2.x) of an opaque #rrggbb colour. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

/** Text colours and the backgrounds each is used on. */
const TEXT_ON: [string, string[]][] = [
  ["color-text", ["color-bg", "color-bg-subtle", "color-bg-muted", "color-bg-raised", "color-accent-subtle", "color-danger-subtle", "color-warning-subtle", "color-success-subtle"]],
  ["color-text-muted", ["color-bg", "color-bg-subtle", "color-bg-muted", "color-bg-raised"]],
  ["color-accent-text", ["color-bg", "color-bg-subtle", "color-bg-raised", "color-accent-subtle"]],
  ["color-on-accent", ["color-accent", "color-accent-hover"]],
  ["color-on-danger", ["color-danger", "color-danger-hover"]],
  ["color-danger-text", ["color-bg", "color-bg-raised", "color-danger-subtle"]],
  ["color-warning-text", ["color-bg", "color-warning-subtle"]],
  ["color-success-text", ["color-bg", "color-success-subtle"]],
];

/** Controls' edges and icons against their background: 3:1 (WCAG 1.4.11). */
const NON_TEXT: [string, string[]][] = [
  ["color-border-strong", ["color-bg", "color-bg-subtle"]],
  ["color-accent", ["color-bg", "color-bg-subtle", "color-bg-raised"]],
  ["color-danger", ["color-bg", "color-bg-raised"]],
  ["color-success", ["color-bg"]],
  ["color-warning", ["color-bg"]],
];

describe("design tokens", () => {
  const c = colours();

  it("define every colour in both themes", () => {
    expect(c.size).toBeGreaterThan(20);
    for (const [fg, bgs] of [...TEXT_ON, ...NON_TEXT]) {
      for (const name of [fg, ...bgs]) expect(c.has(name), name).toBe(true);
    }
  });

  for (const [theme, i] of [["light", 0], ["dark", 1]] as const) {
    it(`meet WCAG AA contrast in the ${theme} theme`, () => {
      const low: string[] = [];
      for (const [list, min] of [[TEXT_ON, 4.5], [NON_TEXT, 3]] as const) {
        for (const [fg, bgs] of list) {
          for (const bg of bgs) {
            const [f, b] = [c.get(fg)?.[i] ?? "", c.get(bg)?.[i] ?? ""];
            const ratio = contrast(f.slice(0, 7), b.slice(0, 7));
            if (ratio < min) low.push(`${fg} on ${bg}: ${ratio.toFixed(2)} < ${min}`);
          }
        }
      }
      expect(low).toEqual([]);
    });
  }

  it("are the only place with literal colours and pixel sizes", () => {
    const files = sources().filter((p) => p !== join(here, "tokens.css"));
    expect(files.length).toBeGreaterThan(10);
    const found: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      // Only the styles: a Svelte file's <style> block, a CSS file whole.
      const css = f.endsWith(".css") ? text : (text.match(/<style[^>]*>([\s\S]*?)<\/style>/)?.[1] ?? "");
      const inline = f.endsWith(".svelte") ? [...text.matchAll(/style="([^"]*)"/g)].map((m) => m[1]).join("\n") : "";
      for (const [what, re] of [
        ["colour", /#[0-9a-fA-F]{3,8}\b|\brgba?\(|\bhsla?\(/g],
        ["pixel size", /\b\d+(\.\d+)?px\b/g],
      ] as const) {
        for (const m of (css + "\n" + inline).matchAll(re)) found.push(`${f.slice(src.length)}: ${what} ${m[0]}`);
      }
    }
    expect(found).toEqual([]);
  });
});
