/** The icons that stand for the vault's things (Lucide's set, drawn inline: nothing is
 * fetched). One place maps item kinds and file types to them, so every screen agrees. */
import type { Component } from "svelte";
import KeyRound from "@lucide/svelte/icons/key-round";
import StickyNote from "@lucide/svelte/icons/sticky-note";
import CreditCard from "@lucide/svelte/icons/credit-card";
import IdCard from "@lucide/svelte/icons/id-card";
import Contact from "@lucide/svelte/icons/contact";
import File from "@lucide/svelte/icons/file";
import FileText from "@lucide/svelte/icons/file-text";
import FileImage from "@lucide/svelte/icons/file-image";
import FileArchive from "@lucide/svelte/icons/file-archive";
import FileAudio from "@lucide/svelte/icons/file-audio";
import FileVideo from "@lucide/svelte/icons/file-video";
import FileCode from "@lucide/svelte/icons/file-code";

export type Icon = Component<{ class?: string; "aria-hidden"?: boolean | "true" }>;

const KINDS: Record<string, Icon> = {
  login: KeyRound,
  note: StickyNote,
  card: CreditCard,
  identity: IdCard,
  contact: Contact,
  file: File,
};

/** The icon of an item kind ("login", "note", …); a plain file for an unknown one. */
export function kindIcon(kind: string): Icon {
  return KINDS[kind] ?? File;
}

/** The icon of a file by its media type. */
export function fileIcon(mediaType: string): Icon {
  const [top, sub = ""] = mediaType.toLowerCase().split("/");
  if (top === "image") return FileImage;
  if (top === "audio") return FileAudio;
  if (top === "video") return FileVideo;
  if (/zip|tar|gzip|x-7z|x-rar|x-xz|x-bzip/.test(sub)) return FileArchive;
  if (/json|xml|javascript|x-sh|x-python|x-rust|typescript/.test(sub)) return FileCode;
  if (top === "text" || sub === "pdf" || /document|msword|rtf|opendocument/.test(sub)) return FileText;
  return File;
}
