/** Sizes and transfer progress as people read them. */

const UNITS = ["bytes", "KB", "MB", "GB", "TB"];

/** 1234567 → "1.2 MB" (decimal units, as file managers show them). Numbers from Rust
 * may be null (how a non-finite float crosses): shown as unknown. */
export function formatBytes(n: number | null): string {
  if (n === null || !Number.isFinite(n) || n < 0) return "?";
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  if (i === 0) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${UNITS[i]}`;
}

/** A transfer's progress as one line: "Uploading photo.png: 12 MB of 40 MB (30%), 8.1 MB/s". */
export function transferLine(t: {
  name: string;
  upload: boolean;
  done: number | null;
  total: number | null;
  rate: number | null;
}): string {
  const [done, total] = [t.done ?? 0, t.total ?? 0];
  const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
  const verb = t.upload ? "Uploading" : "Downloading";
  const rate = (t.rate ?? 0) > 0 ? `, ${formatBytes(t.rate)}/s` : "";
  return `${verb} ${t.name}: ${formatBytes(t.done)} of ${formatBytes(t.total)} (${pct}%)${rate}`;
}

/** Storage use: "3.2 MB of 1.0 GB used". */
export function usageLine(used: number | null, quota: number | null): string {
  return `${formatBytes(used)} of ${formatBytes(quota)} used`;
}
