/** Short-lived confirmations ("Copied", "Saved"): shown in one polite live region
 * (components/Toasts.svelte) and gone after a few seconds. */
export interface Toast {
  id: number;
  text: string;
  tone: "info" | "success" | "danger";
}

let next = 0;
export const toasts = $state<Toast[]>([]);

/** Shows `text` for `ms` milliseconds. */
export function toast(text: string, tone: Toast["tone"] = "success", ms = 4000): void {
  const id = ++next;
  toasts.push({ id, text, tone });
  setTimeout(() => dismiss(id), ms);
}

export function dismiss(id: number): void {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}
