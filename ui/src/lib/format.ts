/** Sizes and transfer progress as people read them, in the UI's language. */
import { lang, t, tn, type Key } from "./i18n.svelte";
import type { FolderPass } from "./bindings";

const UNITS: Key[] = ["units.KB", "units.MB", "units.GB", "units.TB"];

/** 1234567 → "1.2 MB" (decimal units, as file managers show them; "1,2 Mo" in French).
 * Numbers from Rust may be null (how a non-finite float crosses): shown as unknown. */
export function formatBytes(n: number | null): string {
  if (n === null || !Number.isFinite(n) || n < 0) return "?";
  if (n < 1000) return tn("bytes", n);
  let i = -1;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  const digits = n < 10 ? 1 : 0;
  const shown = n.toLocaleString(lang(), { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
  return `${shown} ${t(UNITS[i])}`;
}

/** A transfer's progress as one line: "Uploading photo.png: 12 MB of 40 MB (30%), 8.1 MB/s". */
export function transferLine(x: {
  name: string;
  upload: boolean;
  done: number | null;
  total: number | null;
  rate: number | null;
}): string {
  const [done, total] = [x.done ?? 0, x.total ?? 0];
  const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
  const rate = (x.rate ?? 0) > 0 ? `, ${formatBytes(x.rate)}/s` : "";
  return t(x.upload ? "transfer.upload" : "transfer.download", {
    name: x.name,
    done: formatBytes(x.done),
    total: formatBytes(x.total),
    pct,
    rate,
  });
}

/** What a pass over the watched folder did: "Documents: 2 uploaded, 1 updated". */
export function folderLine(p: Omit<FolderPass, "error">): string {
  const counts = [
    ["folder.uploaded", p.uploaded],
    ["folder.updated", p.updated],
    ["folder.downloaded", p.downloaded],
    ["folder.trashed", p.trashed],
    ["folder.removed", p.removed],
    ["folder.conflicts", p.conflicts],
    ["folder.refused", p.refused],
  ] as const;
  const changes = counts.filter(([, n]) => n > 0).map(([base, n]) => tn(base, n));
  return changes.length ? t("folder.line", { label: p.label, changes: changes.join(", ") }) : t("folder.upToDate", { label: p.label });
}

/** Files a pass changed, of every sort. */
export const folderChanges = (p: FolderPass) => p.uploaded + p.updated + p.downloaded + p.trashed + p.removed + p.conflicts;

/** Storage use: "3.2 MB of 1.0 GB used". */
export function usageLine(used: number | null, quota: number | null): string {
  return t("usage", { used: formatBytes(used), quota: formatBytes(quota) });
}
