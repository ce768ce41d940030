/** The UI's language (English or French) and its strings. `t` reads a reactive state, so a
 * template showing `t(...)` follows a change of language at once. */
import { en, type Key } from "./i18n/en";
import { fr } from "./i18n/fr";

export type Lang = "en" | "fr";
/** What Settings stores: a language, or the system's. */
export type LangSetting = "system" | Lang;
export type { Key };

const DICTS: Record<Lang, Record<Key, string>> = { en, fr };
const current = $state({ lang: "en" as Lang });

/** The language a setting means: "system" takes the first of the webview's (the OS's)
 * preferred languages that the UI has, else English. */
export function resolveLang(setting: LangSetting, preferred: readonly string[]): Lang {
  if (setting !== "system") return setting;
  for (const tag of preferred) {
    const base = tag.toLowerCase().split(/[-_]/)[0];
    if (base === "en" || base === "fr") return base;
  }
  return "en";
}

/** Switches to the language a setting means (on this system); returns it. */
export function useLanguage(setting: LangSetting): Lang {
  const l = resolveLang(setting, typeof navigator === "undefined" ? [] : navigator.languages);
  setLang(l);
  return l;
}

export function lang(): Lang {
  return current.lang;
}

/** Switches every string, the page's `lang` (for screen readers) and dates and numbers. */
export function setLang(l: Lang): void {
  current.lang = l;
  if (typeof document !== "undefined") document.documentElement.lang = l;
}

/** `template` with each `{name}` replaced by `params.name` (left as is when not given). */
export function fill(template: string, params: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

export function has(key: string): key is Key {
  return key in en;
}

/** The string `key` in the current language, with its placeholders filled. */
export function t(key: Key, params: Record<string, string | number> = {}): string {
  return fill(DICTS[current.lang][key], params);
}

type Bases<K> = K extends `${infer B}.one` ? B : never;
type PluralBase = Bases<Key>;

/** A plural pair (`base.one` / `base.other`) chosen by the language's rule for `n` (French
 * puts 0 with 1), with `{n}` as the language writes numbers. */
export function tn(base: PluralBase, n: number, params: Record<string, string | number> = {}): string {
  const form = new Intl.PluralRules(current.lang).select(n) === "one" ? "one" : "other";
  return t(`${base}.${form}` as Key, { ...params, n: number(n) });
}

/** A number as the current language writes it ("10,000" / "10 000"). */
export function number(n: number): string {
  return n.toLocaleString(current.lang);
}

/** A time in seconds since 1970 as a date and time in the current language. */
export function dateTime(seconds: number): string {
  return new Intl.DateTimeFormat(current.lang, { dateStyle: "medium", timeStyle: "short" }).format(seconds * 1000);
}

/** The time of day of `ms` (milliseconds since 1970, e.g. `Date.now()`). */
export function time(ms: number): string {
  return new Intl.DateTimeFormat(current.lang, { timeStyle: "medium" }).format(ms);
}
