/** The built-in kinds' fields. Their labels are shown in the UI's language whatever
 * language saved the item; a field of another name (added elsewhere) keeps its own label. */
import { has, t } from "./i18n.svelte";

/** Each kind's fields, as the client core defines them (`ItemKind::fields`): name and
 * whether it is a secret. A file item's fields are set by the upload, not edited. */
export const TEMPLATES: Record<string, [name: string, secret: boolean][]> = {
  login: [["username", false], ["password", true], ["url", false], ["totp", true], ["notes", false]],
  note: [["notes", false]],
  card: [["cardholder", false], ["number", true], ["expiry", false], ["cvv", true], ["pin", true], ["notes", false]],
  identity: [["name", false], ["birth_date", false], ["email", false], ["phone", false], ["address", false], ["document_number", true], ["notes", false]],
  contact: [["name", false], ["organization", false], ["emails", false], ["phones", false], ["addresses", false], ["notes", false]],
};

const BUILT_IN = new Set([
  ...Object.values(TEMPLATES).flatMap((fs) => fs.map(([name]) => name)),
  ...["media_type", "size", "sha256"],
]);

/** What a field is called on screen. */
export function fieldLabel(name: string, stored: string): string {
  const key = `field.${name}`;
  return BUILT_IN.has(name) && has(key) ? t(key) : stored;
}

/** A kind's name ("Login"), or the kind itself when unknown. */
export function kindName(kind: string): string {
  const key = `kind.${kind}`;
  return has(key) ? t(key) : kind;
}
