// A stand-in for the Rust side, injected before the page loads: the UI talks to it through
// the same `__TAURI_INTERNALS__.invoke` the real app uses. It keeps a tiny vault in memory.
(() => {
  // Not in a frame (a message's sandboxed frame has no storage, and no IPC).
  if (window.top !== window) return;
  // Kept in sessionStorage: locking reloads the page, as in the real app.
  const saved = sessionStorage.getItem("krypt7-mock");
  const state = saved ? JSON.parse(saved) : { account: null, unlocked: false, items: [], pending: 0 };
  window.__MOCK__ = state;
  const err = (code, message, detail = null) => ({ code, message, detail });
  const summary = (i) => ({
    id: i.id, kind: i.kind, title: i.title,
    subtitle: (i.fields.find((f) => f.name === "username") || {}).value || "",
    favorite: i.favorite, trashed: i.trashed, pending: true,
  });
  const handlers = {
    status: () => ({
      has_account: !!state.account, unlocked: state.unlocked,
      username: state.account && state.account.username,
      server: state.server || "https://localhost:8443", pending: state.pending, secret_key_remembered: true,
      keychain_unlock: !!state.keychainUnlock, custom_ca: !!state.customCa,
      password_changed: false, secret_key_changed: false,
    }),
    signup: ({ username }) => {
      state.account = { username };
      state.unlocked = true;
      return { secret_key: "K1-ABCDEF-GHJKMN-PQRST-VWXYZ-01234", username, server: "https://localhost:8443" };
    },
    login: ({ username }) => { state.account = { username }; state.unlocked = true; return null; },
    unlock: ({ password }) => {
      if (password !== "correct horse battery staple") throw err("wrong_credentials", "wrong password or Secret Key");
      state.unlocked = true;
      return null;
    },
    lock: () => { state.unlocked = false; return null; },
    activity: () => { state.activity = (state.activity || 0) + 1; return null; },
    set_auto_lock: ({ minutes }) => { state.autoLockMinutes = minutes; return null; },
    unlock_keychain: () => {
      if (!state.keychainUnlock) throw err("keychain", "keychain unlock is off on this device");
      state.unlocked = true;
      return null;
    },
    keychain_unlock: ({ enabled }) => { state.keychainUnlock = enabled; return enabled; },
    choose_ca: () => "/home/alice/home-server-ca.pem",
    set_language: ({ lang }) => { state.shellLang = lang; return null; },
    move_server: ({ server, password }) => {
      if (password !== "correct horse battery staple") throw err("wrong_credentials", "wrong password or Secret Key");
      state.server = server;
      return server;
    },
    set_server_ca: ({ path }) => { state.customCa = !!path; return !!path; },
    search: ({ query, filter, offset, limit }) => {
      const q = query.toLowerCase();
      const hits = state.items.filter((i) => i.trashed === filter.trashed && (!filter.kind || i.kind === filter.kind)
        && (!filter.favorites || i.favorite) && (!filter.conflicts || i.conflict_of)
        && (!filter.folder || i.folder === filter.folder) && (!filter.tag || (i.tags || []).includes(filter.tag))
        && (!q || i.title.toLowerCase().includes(q) || i.fields.some((f) => !f.secret && f.value.toLowerCase().includes(q))));
      return { total: hits.length, items: hits.slice(offset, offset + limit).map(summary) };
    },
    labels: () => {
      const live = state.items.filter((i) => !i.trashed);
      const count = (names) => [...new Set(names)].sort().map((name) => ({ name, count: names.filter((n) => n === name).length }));
      return {
        folders: count(live.filter((i) => i.folder).map((i) => i.folder)),
        tags: count(live.flatMap((i) => i.tags || [])),
        conflicts: live.filter((i) => i.conflict_of).length,
      };
    },
    // Each edit keeps the version it replaced, newest first, as the client core does.
    history: ({ id }) => state.items.find((x) => x.id === id).history || [],
    restore_version: ({ id, savedAt }) => {
      const i = state.items.find((x) => x.id === id);
      const v = i.history.find((h) => h.saved_at === savedAt);
      keepHistory(i);
      Object.assign(i, { title: v.title, fields: v.fields, folder: v.folder, tags: v.tags });
      return null;
    },
    get_item: ({ id }) => {
      const i = state.items.find((x) => x.id === id);
      if (!i) throw err("no_such_item", "no such item");
      return { files: [], folder: null, conflict_of: null, ...i, history: undefined, pending: true };
    },
    // Files: the picker answers with `state.pick`; uploads report progress as the real
    // app does (`transfer` events) and take a moment, so the progress bar can be seen.
    choose_files: () => state.pick || ["/home/alice/photo.png"],
    choose_destination: ({ name }) => `/home/alice/Downloads/${name}`,
    upload_files: async ({ paths }) => {
      const ids = [];
      for (const path of paths) {
        const name = path.split("/").pop();
        window.__emit("transfer", { name, upload: true, done: 4e6, total: 1e7, rate: 2e7 });
        await new Promise((r) => setTimeout(r, 400));
        const id = crypto.randomUUID();
        state.items.push({ id, kind: "file", title: name, fields: [], tags: [], favorite: false, trashed: false,
          files: [fileInfo(0, name)] });
        ids.push(id);
      }
      state.pending += ids.length;
      return ids;
    },
    attach_file: ({ id, path }) => {
      const i = state.items.find((x) => x.id === id);
      i.files = [...(i.files || []), fileInfo((i.files || []).length, path.split("/").pop())];
      return null;
    },
    download_file: ({ dest }) => { state.downloaded = dest; return null; },
    preview_file: ({ id, index }) => {
      const f = state.items.find((x) => x.id === id).files[index];
      return f.media_type.startsWith("image/")
        ? { media_type: f.media_type, text: null, image: PNG }
        : { media_type: f.media_type, text: "the usual PIN hint", image: null };
    },
    usage: () => ({ used: 3_200_000, quota: 1e9 }),
    choose_folder: () => "/home/alice/Documents",
    watched_folder: () => state.watched || null,
    watch_folder: ({ dir }) => {
      state.watched = dir ? { dir, label: dir.split("/").pop() } : null;
      // The first pass, as the real app's watcher reports it.
      if (dir) setTimeout(() => window.__emit("folder-pass", { label: "Documents", uploaded: 2, updated: 0, downloaded: 0, trashed: 0, removed: 0, conflicts: 0, refused: 0, error: null }), 50);
      return state.watched;
    },
    // Account: a profile, second factors (the code "246810" is the right one) and devices.
    account: () => accountView(),
    update_account: ({ username, email, phone }) => {
      if (username === "taken") throw err("conflict", "that username is taken");
      Object.assign(profile(), ...[{ username }, { email }, { phone }].filter((o) => Object.values(o)[0] != null));
      state.account.username = profile().username;
      return accountView();
    },
    new_secret_key: () => ({ secret_key: "K1-NEWKEY-GHJKMN-PQRST-VWXYZ-56789", username: state.account.username, server: "https://localhost:8443" }),
    change_secret_key: ({ newSecretKey, proof }) => {
      if (proof.password !== "correct horse battery staple") throw err("wrong_credentials", "wrong password or Secret Key");
      state.secretKey = newSecretKey;
      return null;
    },
    totp_setup: () => ({ secret: "JBSWY3DPEHPK3PXP", qr_code: PNG }),
    second_factor: ({ step, code }) => {
      const needsCode = ["totp_confirm", "totp_disable", "sms_confirm"].includes(step);
      if (needsCode && code !== "246810") throw err("wrong_code", "that code is not right; try the current one");
      const p = profile();
      if (step === "totp_confirm") p.totp = true;
      if (step === "totp_disable") p.totp = false;
      if (step === "sms_confirm") p.sms = true;
      if (step === "sms_disable") p.sms = false;
      return accountView();
    },
    devices: () => state.devices || (state.devices = [
      { id: "d1", name: "This laptop", created_at: 1.7e9, last_seen_at: 1.8e9, current: true },
      { id: "d2", name: "krypt7 CLI on build box", created_at: 1.7e9, last_seen_at: 1.75e9, current: false },
    ]),
    attempts: () => state.attempts || [],
    device_name: () => state.deviceName || "alice-laptop",
    rename_device: ({ name }) => {
      const n = name.trim();
      if (!n || n.length > 100) throw err("invalid_input", "the device name must be 1 to 100 printable characters");
      state.deviceName = n;
      return n;
    },
    revoke_device: ({ id }) => { state.devices = state.devices.filter((d) => d.id !== id); return null; },
    export_vault: ({ exportPassword, dest }) => { state.exported = { dest, exportPassword }; return null; },
    delete_account: ({ confirmUsername }) => {
      if (confirmUsername !== state.account.username) throw err("invalid_input", "the username does not match");
      state.account = null;
      state.unlocked = false;
      state.items = [];
      return 1.9e9;
    },
    mark: () => null,
    // The shell writes the clipboard; here the browser's stands in for the system's.
    copy_secret: async ({ value, seconds }) => { await navigator.clipboard.writeText(value); state.clipSeconds = seconds; return null; },
    open_main: ({ item }) => { state.opened = item; return null; },
    hide_quick: () => { state.quickHidden = (state.quickHidden || 0) + 1; return null; },
    "plugin:event|listen": ({ event, handler }) => {
      (listeners[event] = listeners[event] || []).push(handler);
      return handler;
    },
    "plugin:event|unlisten": () => null,
    save_item: ({ item }) => {
      const fields = item.fields.filter((f) => f.value);
      if (item.id) {
        const i = state.items.find((x) => x.id === item.id);
        keepHistory(i);
        Object.assign(i, { ...item, fields });
      }
      else state.items.push({ ...item, fields, id: crypto.randomUUID(), trashed: false });
      state.pending += 1;
      return item.id || state.items[state.items.length - 1].id;
    },
    trash_item: ({ id, restore }) => { state.items.find((x) => x.id === id).trashed = !restore; return null; },
    totp: () => ({ code: "123456", seconds_left: 17 }),
    generate_password: () => ({ value: "Generated-Pass-123!", entropy_bits: 120 }),
    // Offline, unless the state says the server ended this device's session.
    sync: () => {
      if (state.signedOut) throw err("signed_out", "this device's session ended: sign in again");
      throw err("offline", "the server cannot be reached");
    },
    // Mail: `state.mail` holds the messages (summaries with `text`/`html`), newest first.
    mail_folders: () => {
      const mail = state.mail || [];
      const names = ["Inbox", "Drafts", "Sent", "Archive", "Spam", "Trash", ...new Set(mail.map((m) => m.folder))];
      return { address: `${state.account.username}@localhost`, folders: [...new Set(names)].map((name) => ({
        name, total: mail.filter((m) => m.folder === name).length, unread: mail.filter((m) => m.folder === name && !m.read).length })) };
    },
    mail_list: ({ folder, query, offset, limit }) => {
      const q = query.toLowerCase();
      const hits = (state.mail || []).filter((m) => (!folder || m.folder === folder)
        && (!q || [m.from, m.subject, m.text].some((x) => x.toLowerCase().includes(q))));
      return { total: hits.length, items: hits.slice(offset, offset + limit).map(mailSummary) };
    },
    mail_open: ({ id }) => {
      const m = (state.mail || []).find((x) => x.id === id);
      if (!m) throw err("no_such_item", "no such item");
      m.read = true;
      return { summary: mailSummary(m), text: m.text, html: m.html || null,
        thread: state.mail.filter((x) => x.thread === m.thread && x.id !== id).map(mailSummary) };
    },
    mail_save_draft: ({ compose }) => {
      state.mail = state.mail || [];
      const id = compose.draft || crypto.randomUUID();
      state.mail = state.mail.filter((m) => m.id !== id);
      state.mail.unshift({ ...mailOf(compose, "Drafts", "draft"), id });
      return id;
    },
    mail_draft: ({ id }) => {
      const m = state.mail.find((x) => x.id === id);
      return { draft: id, to: m.to, cc: m.cc, bcc: m.bcc, subject: m.subject, text: m.text, in_reply_to: null, attachments: [] };
    },
    mail_send: ({ compose }) => {
      for (const a of [...compose.to, ...compose.cc, ...compose.bcc]) {
        const user = a.replace(/@localhost$/, "");
        if (peer(user).offered) throw err("key_changed", `integrity error: the server now gives other keys for "${user}"`, user);
        if (!/^[a-z0-9._-]+(@localhost)?$/i.test(a)) throw err("invalid_input", `${a}: mail goes to addresses of this server only (…@localhost) for now`);
      }
      state.mail = (state.mail || []).filter((m) => m.id !== compose.draft);
      const id = crypto.randomUUID();
      state.mail.unshift({ ...mailOf(compose, "Sent", "sent"), id });
      state.sentMail = compose;
      return id;
    },
    mail_reply: ({ id, all }) => {
      const m = state.mail.find((x) => x.id === id);
      return { draft: null, to: [m.from], cc: all ? m.cc : [], bcc: [], subject: `Re: ${m.subject}`,
        text: `\n\n${m.from} wrote:\n> ${m.text.split("\n").join("\n> ")}`, in_reply_to: id, attachments: [] };
    },
    mail_forward: ({ id }) => {
      const m = state.mail.find((x) => x.id === id);
      return { draft: null, to: [], cc: [], bcc: [], subject: `Fwd: ${m.subject}`, text: `\n\n---------- Forwarded message ----------\n${m.text}`,
        in_reply_to: null, attachments: [] };
    },
    mail_move: ({ id, folder }) => {
      const m = state.mail.find((x) => x.id === id);
      if (folder === "Trash" && m.status === "draft") state.mail = state.mail.filter((x) => x.id !== id);
      else m.folder = folder;
      return null;
    },
    mail_correspondents: ({ prefix }) => [
      { address: "bob@localhost", name: "Bob Marley", verified: true },
      { address: "carol@localhost", name: "", verified: false },
    ].filter((c) => c.address.startsWith(prefix.toLowerCase()) || c.name.toLowerCase().split(" ").some((w) => w.startsWith(prefix.toLowerCase()))),
    mail_mark: ({ id, read, starred }) => {
      const m = state.mail.find((x) => x.id === id);
      if (read !== null) m.read = read;
      if (starred !== null) m.starred = starred;
      return null;
    },
    mail_block: ({ address, block }) => {
      for (const m of state.mail) if (block && m.from === address && m.folder === "Inbox") m.folder = "Spam";
      return null;
    },
    // Safety numbers: `state.peers[username]` = { digits, verified, offered (a changed key) }.
    peer_safety: ({ address }) => {
      const username = address.replace(/^.*</, "").replace(/>$/, "").replace(/@localhost$/, "");
      const p = peer(username);
      const number = (digits) => ({ digits, qr_code: PNG });
      return { username, pinned: number(p.digits), verified: p.verified, offered: p.offered ? number(p.offered) : null,
        offline: false, own: number("11111 22222 33333 44444 55555 66666") };
    },
    peer_verify: ({ username, digits }) => {
      const p = peer(username);
      if (digits !== p.digits) throw err("invalid_input", "that fingerprint is not the one pinned");
      p.verified = true;
      for (const m of state.mail || []) if (m.from === `${username}@localhost` && m.signature === "pinned") m.signature = "verified";
      return null;
    },
    peer_accept: ({ username, digits }) => {
      const p = peer(username);
      if (digits !== p.offered) throw err("invalid_input", "not the offered fingerprint");
      Object.assign(p, { digits, offered: null, verified: true });
      return null;
    },
    // An import: "protected.json" wants the password "export pw"; its report is fixed, and
    // once imported (`state.imported`) a second import finds its items there.
    import_file: async ({ path, password, preview }) => {
      const none = { format: "bitwarden", read: [], imported: [], duplicates: 0, notes: [], remarks: [], needs_password: false };
      if (path.endsWith("protected.json") && !password) return { ...none, needs_password: true };
      if (path.endsWith("protected.json") && password !== "export pw") {
        throw err("invalid_input", "invalid input: the password does not open this export", "the password does not open this export");
      }
      const again = !!state.imported;
      const report = {
        ...none,
        read: [{ kind: "login", count: 2 }, { kind: "note", count: 1 }],
        imported: again ? [] : [{ kind: "login", count: 2 }, { kind: "note", count: 1 }],
        duplicates: again ? 3 : 0,
        notes: [
          { field: "api token", kept_as: "api token", why: null, count: 5, items: ["Bank", "Forum", "Mail"] },
          { field: "reprompt", kept_as: null, why: "KRYPT7 has no per-item password prompt: the whole vault locks", count: 1, items: ["Bank"] },
        ],
      };
      if (preview || again) return report;
      state.cancelImport = false;
      for (const done of [0, 1, 2]) {
        window.__emit("import-progress", { done, total: 3 });
        await new Promise((r) => setTimeout(r, state.slowImport ? 600 : 50));
        if (state.cancelImport) throw err("cancelled", "cancelled: nothing was changed");
      }
      state.imported = true;
      return report;
    },
    import_cancel: () => { state.cancelImport = true; return null; },
    sign_in_again: ({ password }) => {
      if (password !== "correct horse battery staple") throw err("wrong_credentials", "wrong password or Secret Key");
      state.signedOut = false;
      return null;
    },
  };
  const peer = (username) => {
    state.peers = state.peers || {};
    return (state.peers[username] = state.peers[username] || { digits: "12345 67890 12345 67890 12345 67890", verified: false, offered: null });
  };
  let clock = 1.8e9;
  const keepHistory = (i) => {
    i.history = [{ saved_at: clock++, title: i.title, fields: i.fields, folder: i.folder || null, tags: i.tags || [] }, ...(i.history || [])];
  };
  const mailSummary = (m) => ({
    id: m.id, folder: m.folder, from: m.from, to: m.to, cc: m.cc || [], bcc: m.bcc || [], subject: m.subject,
    date: m.date, read: !!m.read, starred: !!m.starred, status: m.status, signature: m.signature || "", reason: m.reason || null,
    thread: m.thread || m.id, pending: false, attachments: m.attachments || [],
  });
  const mailOf = (c, folder, status) => ({
    folder, status, from: `${state.account.username}@localhost`, to: c.to, cc: c.cc, bcc: c.bcc, subject: c.subject, text: c.text,
    date: 1.8e9, read: true, thread: c.in_reply_to ? (state.mail.find((m) => m.id === c.in_reply_to) || {}).thread : undefined,
    attachments: c.attachments.map((p) => ({ name: p.split("/").pop(), media_type: "application/octet-stream", size: 1e6 })),
  });
  const profile = () => (state.profile = state.profile || { username: state.account.username, email: null, phone: null, totp: false, sms: false });
  const accountView = () => {
    const p = profile();
    return { username: p.username, email: p.email, phone: p.phone, totp_enabled: p.totp, sms_enabled: p.sms, used: 3_200_000, quota: 1e9 };
  };
  // A 1×1 PNG.
  const PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
  const fileInfo = (index, name) => ({
    index, name, size: 1e7, sha256: "ab".repeat(32),
    media_type: name.endsWith(".png") ? "image/png" : name.endsWith(".txt") ? "text/plain" : "application/octet-stream",
  });
  // Event listeners by name, and what emits to them (the Rust side, or a dropped file).
  const listeners = {};
  window.__emit = (event, payload) => {
    for (const id of listeners[event] || []) window[`_${id}`]({ event, id, payload });
  };
  window.__TAURI_EVENT_PLUGIN_INTERNALS__ = { unregisterListener: () => {} };
  // The shell's side of the sealed channel (src-tauri/src/channel.rs), in WebCrypto: the
  // page's commands arrive sealed and are answered sealed; `raw` counts what crossed as is.
  const text = new TextEncoder();
  const b64 = (b) => btoa(String.fromCharCode(...new Uint8Array(b)));
  const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  let channel = null;
  const raw = (state.raw = state.raw || {});
  const label = () => window.__TAURI_INTERNALS__.metadata.currentWebview.label;
  handlers.open_channel = async ({ pageKey }) => {
    const pagePublic = unb64(pageKey);
    const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    const shellPublic = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const peer = await crypto.subtle.importKey("raw", pagePublic, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const ikm = await crypto.subtle.importKey("raw", await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, pair.privateKey, 256), "HKDF", false, ["deriveKey"]);
    const salt = new Uint8Array([...pagePublic, ...shellPublic]);
    const key = (info) => crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt, info: text.encode(info) }, ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    channel = { toShell: await key("krypt7 page channel v1: page to shell"), toPage: await key("krypt7 page channel v1: shell to page") };
    return b64(shellPublic);
  };
  handlers.sealed = async ({ message }) => {
    if (!channel) throw err("locked", "the page's channel closed with the lock");
    const data = unb64(message);
    const ad = text.encode(label());
    const call = JSON.parse(new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: data.slice(0, 12), additionalData: ad }, channel.toShell, data.slice(12))));
    let answer;
    try {
      const h = handlers[call.cmd];
      if (!h) throw err("unknown", `unknown command ${call.cmd}`);
      answer = { ok: (await h(call.args)) ?? null };
    } catch (e) {
      answer = { err: e };
    }
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: ad }, channel.toPage, text.encode(JSON.stringify(answer)));
    return b64([...iv, ...new Uint8Array(sealed)]);
  };
  let next = 1;
  window.__TAURI_INTERNALS__ = {
    metadata: { currentWindow: { label: "main" }, currentWebview: { label: "main" } },
    transformCallback: (cb) => { const id = next++; window[`_${id}`] = cb; return id; },
    invoke: async (cmd, args) => {
      raw[cmd] = (raw[cmd] || 0) + 1;
      const h = handlers[cmd];
      if (!h) throw err("unknown", `unknown command ${cmd}`);
      try {
        return await h(args || {});
      } finally {
        sessionStorage.setItem("krypt7-mock", JSON.stringify(state));
      }
    },
  };
})();
