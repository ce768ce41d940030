import { afterEach, describe, expect, it } from "vitest";
import { en } from "./i18n/en";
import { fr } from "./i18n/fr";
import { fill, resolveLang, setLang, t, tn } from "./i18n.svelte";
import { formatBytes, transferLine } from "./format";
import { fieldLabel, kindName } from "./fields";

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

afterEach(() => setLang("en"));

describe("the French strings", () => {
  it("cover every English key, and no other", () => {
    expect(Object.keys(fr).sort()).toEqual(Object.keys(en).sort());
  });
  it("keep every placeholder of the English, and add none", () => {
    for (const [key, english] of Object.entries(en)) {
      expect(placeholders(fr[key as keyof typeof fr]), key).toEqual(placeholders(english));
    }
  });
  it("are translated (none left equal to the English but names and symbols)", () => {
    const same = Object.keys(en).filter((k) => en[k as keyof typeof en] === fr[k as keyof typeof fr]);
    // Words the two languages share.
    expect(same.sort()).toEqual(["account.action", "account.sms", "field.notes", "import.format", "import.kind.contact.one", "import.kind.contact.other", "import.kind.note.one", "import.kind.note.other", "kind.contact", "kinds.contact", "mail.body", "mail.cc", "mail.count.one", "mail.count.other", "mail.date", "mail.messages", "resolve.original", "sections"]);
  });
});

describe("t and tn", () => {
  it("fill placeholders, and leave unknown ones", () => {
    expect(fill("{a} and {b}", { a: 1 })).toBe("1 and {b}");
  });
  it("follow the language at once", () => {
    expect(t("unlock.button")).toBe("Unlock");
    setLang("fr");
    expect(t("unlock.button")).toBe("Déverrouiller");
  });
  it("choose plurals by each language's rule (French puts 0 with 1)", () => {
    expect(tn("vault.count", 0)).toBe("0 items");
    expect(tn("vault.count", 1)).toBe("1 item");
    setLang("fr");
    expect(tn("vault.count", 0)).toBe("0 élément");
    expect(tn("vault.count", 2)).toBe("2 éléments");
    expect(tn("vault.count", 10000)).toBe("10\u202f000 éléments");
  });
  it("take the system's language when asked, and English for one the UI lacks", () => {
    expect(resolveLang("system", ["fr-CA", "en"])).toBe("fr");
    expect(resolveLang("system", ["de-DE", "en-GB"])).toBe("en");
    expect(resolveLang("system", ["de-DE"])).toBe("en");
    expect(resolveLang("en", ["fr-FR"])).toBe("en");
  });
});

describe("formats in French", () => {
  it("write sizes with French units and decimal commas", () => {
    setLang("fr");
    expect(formatBytes(1_234_567)).toBe("1,2 Mo");
    expect(formatBytes(1)).toBe("1 octet");
    expect(transferLine({ name: "a.png", upload: true, done: 12e6, total: 40e6, rate: 0 })).toBe(
      "Envoi de a.png : 12 Mo sur 40 Mo (30 %)",
    );
  });
  it("name built-in fields and kinds in the language, and keep other labels", () => {
    setLang("fr");
    expect(fieldLabel("password", "Password")).toBe("Mot de passe");
    expect(fieldLabel("pin", "PIN")).toBe("Code PIN");
    expect(fieldLabel("wifi", "Wi-Fi")).toBe("Wi-Fi");
    expect(kindName("card")).toBe("Carte");
    expect(kindName("odd")).toBe("odd");
  });
});

describe("errors", () => {
  it("are worded by code in the UI's language, with the core's detail", async () => {
    const { AppError, describe: say } = await import("./ipc");
    const offline = new AppError("offline", "the server cannot be reached: connection refused", "connection refused");
    expect(say(offline)).toBe("The server cannot be reached: connection refused");
    setLang("fr");
    expect(say(offline)).toBe("Le serveur est injoignable : connection refused");
    expect(say(new AppError("wrong_credentials", "wrong password or Secret Key"))).toBe("Mot de passe ou clé secrète incorrects");
  });
  it("keep the core's message for a code the UI does not know, or a detail that is missing", async () => {
    const { AppError, describe: say } = await import("./ipc");
    setLang("fr");
    expect(say(new AppError("brand_new", "something new happened"))).toBe("something new happened");
    expect(say(new AppError("offline", "the server cannot be reached"))).toBe("the server cannot be reached");
  });
});
