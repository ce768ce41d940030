/** Comparing two versions of an item field by field: for resolving a conflict copy and for
 * reading an item's history. */
import type { Field } from "./bindings";
import { t } from "./i18n.svelte";
import { fieldLabel } from "./fields";

export type Side = "original" | "copy";

/** One row of a comparison: the title or a field, as each side has it ("" when absent). */
export interface Row {
  name: string;
  label: string;
  original: string;
  copy: string;
  secret: boolean;
  same: boolean;
}

interface Shape {
  title: string;
  fields: Field[];
  folder?: string | null;
  tags?: string[];
}

/** The title, then every field either side has (the original's order first). */
export function compare(original: Shape, copy: Shape): Row[] {
  const rows: Row[] = [
    { name: "title", label: t("field.title"), original: original.title, copy: copy.title, secret: false, same: original.title === copy.title },
  ];
  const names = [...original.fields.map((f) => f.name), ...copy.fields.map((f) => f.name)];
  for (const name of [...new Set(names)]) {
    const a = original.fields.find((f) => f.name === name);
    const b = copy.fields.find((f) => f.name === name);
    const o = a?.value ?? "";
    const c = b?.value ?? "";
    rows.push({ name, label: fieldLabel(name, (a ?? b)?.label ?? name), original: o, copy: c, secret: !!(a?.secret || b?.secret), same: o === c });
  }
  return rows;
}

/** The merged item: for each row, the chosen side's value (the original's where none was
 * chosen); a field left empty is dropped. */
export function merge(rows: Row[], choice: Record<string, Side>): Shape {
  const pick = (r: Row) => (choice[r.name] === "copy" ? r.copy : r.original);
  const title = rows.find((r) => r.name === "title");
  return {
    title: title ? pick(title) : "",
    fields: rows
      .filter((r) => r.name !== "title" && pick(r) !== "")
      .map((r) => ({ name: r.name, label: r.label, value: pick(r), secret: r.secret })),
  };
}

/** What changed from `older` to `newer`, for a history line: "Title, Password". */
export function changed(older: Shape, newer: Shape): string {
  const labels = compare(older, newer).filter((r) => !r.same).map((r) => r.label);
  if ((older.folder ?? null) !== (newer.folder ?? null)) labels.push(t("field.folder"));
  if ((older.tags ?? []).join("\n") !== (newer.tags ?? []).join("\n")) labels.push(t("field.tags"));
  return labels.length ? labels.join(", ") : t("history.noChange");
}
