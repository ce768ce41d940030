//! Mail between KRYPT7 users of one server (`docs/mail.md`).
//!
//! A message is an ordinary RFC 5322 message, every header inside. It is signed with the
//! account's identity key over the message and the list of recipients it is sealed to, and
//! sealed once to the To and Cc recipients together and once to each Bcc recipient alone
//! (`krypt7_crypto::pk::seal_message`), padded so the server sees only a size bucket. The
//! sender's copy is an item of the account's mailbox vault (folder Sent), which carries a
//! message not yet delivered (`status` queued) until a device delivers it; the server
//! delivers a message id once, whichever device sends it and however often.
//!
//! A received message arrives in the change feed. A device of the recipient opens it,
//! checks the signature against the sender's pinned key and that this account is among the
//! signed recipients, and files it in the mailbox vault: Inbox when every check holds,
//! Quarantine (with the reason, never shown as genuine) when one fails. Then the server
//! drops its copy. The mailbox vault syncs like any vault, so every device of the account
//! has every message, and a server hiding or rolling one back is caught by its manifests.

use std::collections::{BTreeMap, BTreeSet};

use krypt7_crypto::{keys::Keyset, pk};
use krypt7_protocol::{IncomingMail, MailCopy, MailSent, SendMail, Vault};
use reqwest::Method;
use serde::Serialize;
use uuid::Uuid;

use crate::*;
use krypt7_mail::{header_fields, pad, prefixed, quoted, strip_bcc, unpad};
pub use krypt7_mail::{mbox_messages, message_html, message_text, read_message};

pub const INBOX: &str = "Inbox";
pub const SENT: &str = "Sent";
pub const DRAFTS: &str = "Drafts";
pub const ARCHIVE: &str = "Archive";
pub const SPAM: &str = "Spam";
pub const TRASH: &str = "Trash";
/// Messages whose signature, sender or recipients did not check out.
pub const QUARANTINE: &str = "Quarantine";

/// The largest message body a device composes (the rest is for sealing and padding, below
/// the server's 768 KiB).
pub const MAX_MESSAGE: usize = 700 << 10;

/// The mailbox vault's id: the same on every device of the account, and meaningless to the
/// server.
pub(crate) fn vault_id(keyset: &Keyset) -> Uuid {
    Uuid::from_bytes(keyset.derived_id(b"mail vault", &[]))
}

/// A message to send. Addresses are `username` or `username@domain` of this server.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: String,
    /// The message this one answers (its item id): threads it.
    pub in_reply_to: Option<Uuid>,
    /// Files to attach: each is encrypted and uploaded when the message is sent (which
    /// needs the server then), and referred to from the signed message by its key and
    /// fingerprint (`docs/mail.md`, "Attachments").
    pub attachments: Vec<std::path::PathBuf>,
}

/// What [`Client::mark_mail`] changes (`None`, or empty: left as it is).
#[derive(Clone, Debug, Default)]
pub struct MailMark {
    pub read: Option<bool>,
    pub starred: Option<bool>,
    pub add_labels: Vec<String>,
    pub remove_labels: Vec<String>,
}

/// A message as a list shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MailView {
    pub id: Uuid,
    pub folder: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Only on the sender's own copy.
    pub bcc: Vec<String>,
    pub subject: String,
    /// Unix seconds.
    pub date: i64,
    pub read: bool,
    pub starred: bool,
    pub labels: Vec<String>,
    /// `received`, `queued` (waiting to be delivered), `sent`, `failed`, `quarantined`.
    pub status: String,
    /// `verified` (signed by a key of the sender's that the user compared and marked
    /// verified, then or since), `pinned` (by the key pinned on first sight, not compared),
    /// or empty (the account's own, imported, or quarantined).
    pub signature: String,
    /// The fingerprint of the keys that signed it (a received message's), as
    /// [`crate::PeerKeys::fingerprint`] gives it; empty otherwise.
    pub signer: String,
    /// Why it was quarantined, or why delivery failed.
    pub reason: Option<String>,
    /// The thread: the first message id it refers to, or its own.
    pub thread: String,
    /// Not yet acknowledged by the server.
    pub pending: bool,
    /// The attached files, in order (`Client::download_attachment` with the message's id
    /// and the index fetches one).
    pub attachments: Vec<Attachment>,
}

/// An attached file as a message lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attachment {
    pub name: String,
    pub media_type: String,
    pub size: u64,
}

/// A whole message: its view, its text, and the message itself (RFC 5322).
#[derive(Clone, Debug, Serialize)]
pub struct MailBody {
    #[serde(flatten)]
    pub view: MailView,
    pub text: String,
    pub raw: String,
}

/// A recipient as typed: `Name <address>` → the name and the address; a bare address →
/// no name.
fn display_name(typed: &str) -> (Option<String>, &str) {
    let t = typed.trim();
    match t.strip_suffix('>').and_then(|x| x.rsplit_once('<')) {
        Some((name, address)) => {
            let name = name.trim().trim_matches('"').trim();
            ((!name.is_empty()).then(|| name.to_string()), address)
        }
        None => (None, t),
    }
}

/// `user`, `user@domain` of this server, or either as `Name <…>` → the username; anything
/// else is refused.
fn username_of(address: &str, domain: &str) -> Result<String> {
    let a = display_name(address).1.trim();
    let (user, dom) = match a.rsplit_once('@') {
        Some((u, d)) => (u, Some(d)),
        None => (a, None),
    };
    if let Some(d) = dom
        && !d.eq_ignore_ascii_case(domain)
    {
        return Err(ClientError::Invalid(format!(
            "{a}: mail goes to addresses of this server only (…@{domain}) for now"
        )));
    }
    if user.is_empty() {
        return Err(ClientError::Invalid(format!("{a:?} is not an address")));
    }
    Ok(user.to_ascii_lowercase())
}

fn lines(v: Option<&String>) -> Vec<String> {
    v.map(|s| {
        s.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

pub(crate) fn view(id: Uuid, data: &ItemData, pending: bool) -> MailView {
    let f = |name: &str| data.fields.get(name).cloned().unwrap_or_default();
    let message_id = f("message_id");
    let references = lines(data.fields.get("references"));
    let thread = references
        .first()
        .cloned()
        .or_else(|| data.fields.get("in_reply_to").cloned())
        .unwrap_or(message_id);
    MailView {
        id,
        folder: data.folder.clone().unwrap_or_else(|| INBOX.into()),
        from: f("from"),
        to: lines(data.fields.get("to")),
        cc: lines(data.fields.get("cc")),
        bcc: lines(data.fields.get("bcc")),
        subject: data.title.clone(),
        date: f("date").parse().unwrap_or_default(),
        read: f("read") == "1",
        starred: data.favorite,
        labels: data.tags.clone(),
        status: f("status"),
        signature: f("signature"),
        signer: f("signer"),
        reason: data.fields.get("reason").cloned(),
        thread,
        pending,
        attachments: data
            .files
            .iter()
            .map(|f| Attachment {
                name: f.name.clone(),
                media_type: f.media_type.clone(),
                size: f.size,
            })
            .collect(),
    }
}

/// The MIME type of an attachment's part: the file's reference (its blob, key, stream
/// header and fingerprint, as JSON); the bytes are a blob on the server.
pub const ATTACHMENT_TYPE: &str = "application/vnd.krypt7.attachment+json";

/// A record of the mailbox vault that is not a message (a blocked sender).
const BLOCKED: &str = "blocked-sender";

/// Whether a mailbox item is a message (not a record such as a blocked sender).
pub(crate) fn is_message(data: &ItemData) -> bool {
    data.fields.get("status").map(String::as_str) != Some(BLOCKED)
}

/// The address a blocked sender's record blocks (`None` for a message).
pub(crate) fn blocked_address(data: &ItemData) -> Option<String> {
    (!is_message(data)).then(|| data.fields.get("address").cloned().unwrap_or_default())
}

impl Client {
    /// The mailbox vault's id (it exists on the server once a message was sent or taken in).
    pub fn mail_vault(&self) -> Result<Uuid> {
        Ok(self.unlocked()?.mail_vault)
    }

    /// The domain of this server's addresses (`/v1/health`, kept once known).
    pub async fn mail_domain(&self) -> Result<String> {
        if let Some(d) = self.store.meta("mail-domain")? {
            return String::from_utf8(d).map_err(|_| ClientError::Integrity("mail-domain".into()));
        }
        let h: krypt7_protocol::Health = self
            .api
            .call::<(), _>(Method::GET, "/v1/health", None, None)
            .await?;
        let d = if h.mail_domain.is_empty() {
            "localhost".to_string()
        } else {
            h.mail_domain.to_ascii_lowercase()
        };
        self.store.set_meta("mail-domain", d.as_bytes())?;
        Ok(d)
    }

    /// The account's own address.
    pub async fn mail_address(&self) -> Result<String> {
        let user = self.username()?.ok_or(ClientError::NoAccount)?;
        Ok(format!("{user}@{}", self.mail_domain().await?))
    }

    /// The username an address of this server stands for (`bob`, `bob@domain`, or either
    /// as `Name <…>`); an address of another domain is refused.
    pub async fn mail_username(&self, address: &str) -> Result<String> {
        username_of(address, &self.mail_domain().await?)
    }

    /// Makes sure the mailbox vault exists on the server and here. Another device may have
    /// made it first (its key wrap is written once): then that one is taken.
    async fn mail_vault_ready(&mut self) -> Result<Uuid> {
        let (vault, held) = {
            let u = self.unlocked()?;
            (u.mail_vault, u.vault_keys.contains_key(&u.mail_vault))
        };
        if held {
            return Ok(vault);
        }
        let token = self.token()?;
        let (wrap, key) = {
            let u = self.unlocked()?;
            let key = VaultKey::generate()?;
            let wrap = envelope::wrap_vault_key(
                &u.keyset.account_key,
                u.account.as_bytes(),
                vault.as_bytes(),
                &key,
            )?;
            (wrap, key)
        };
        let made: Result<Vault> = self
            .api
            .call(
                Method::PUT,
                &format!("/v1/vaults/{vault}"),
                Some(&token),
                Some(&krypt7_protocol::PutVault {
                    key_wrap: B64(wrap.clone()),
                }),
            )
            .await;
        match made {
            Ok(_) => {
                self.store.put_vault(vault, &wrap)?;
                self.unlocked()?.vault_keys.insert(vault, key);
            }
            // Made by another device: its wrap, checked as any vault's.
            Err(ClientError::Server { status: 409, .. }) => {
                let vaults: Vec<Vault> = self
                    .api
                    .call::<(), _>(Method::GET, "/v1/vaults", Some(&token), None)
                    .await?;
                let theirs: Vec<Vault> = vaults.into_iter().filter(|v| v.id == vault).collect();
                if theirs.is_empty() {
                    return Err(ClientError::Integrity(
                        "the server refused the mailbox vault as existing but does not list it"
                            .into(),
                    ));
                }
                self.apply_vaults(&theirs)?;
            }
            Err(e) => return Err(e),
        }
        Ok(vault)
    }

    /// Composes `draft`, files it in Sent, and delivers it now if the server can be reached
    /// (otherwise at the next sync: it waits, `queued`). Every recipient's keys must be
    /// pinned or looked up now; a key that differs from the pinned one stops the message.
    /// Returns the message's id.
    pub async fn send_mail(&mut self, draft: &Draft) -> Result<Uuid> {
        if draft.to.is_empty() && draft.cc.is_empty() && draft.bcc.is_empty() {
            return Err(ClientError::Invalid("a message needs a recipient".into()));
        }
        let domain = self.mail_domain().await?;
        let me = self.mail_address().await?;
        // Each recipient's username, and the name typed with it (in the message's headers
        // only: sealed like the rest).
        let names = |list: &[String]| -> Result<Vec<(String, Option<String>)>> {
            list.iter()
                .map(|a| Ok((username_of(a, &domain)?, display_name(a).0)))
                .collect()
        };
        let (to_named, cc_named, bcc_named) =
            (names(&draft.to)?, names(&draft.cc)?, names(&draft.bcc)?);
        let users = |v: &[(String, Option<String>)]| -> Vec<String> {
            v.iter().map(|(u, _)| u.clone()).collect()
        };
        let (to, cc, bcc) = (users(&to_named), users(&cc_named), users(&bcc_named));
        let mut all = BTreeSet::new();
        for u in to.iter().chain(&cc).chain(&bcc) {
            if !all.insert(u.clone()) {
                return Err(ClientError::Invalid(format!(
                    "{u} is named twice among the recipients"
                )));
            }
        }
        // Keys now: pinned on first sight, refused if changed.
        for u in &all {
            self.recipient_keys(u).await?;
        }
        let vault = self.mail_vault_ready().await?;
        let addr = |u: &String| format!("{u}@{domain}");
        let header = |v: &[(String, Option<String>)]| -> Vec<mail_builder::headers::address::Address<'static>> {
            v.iter()
                .map(|(u, name)| {
                    mail_builder::headers::address::Address::new_address(name.clone(), addr(u))
                })
                .collect()
        };
        let id = Uuid::new_v4();
        let now = now();
        let (in_reply_to, references) = match draft.in_reply_to {
            Some(parent) => {
                let p = self.mail_item(parent)?;
                let pid = p.fields.get("message_id").cloned().unwrap_or_default();
                let mut refs = lines(p.fields.get("references"));
                refs.push(pid.clone());
                (Some(pid), refs)
            }
            None => (None, vec![]),
        };
        let message_id = format!("{id}@{domain}");
        let mut files = Vec::with_capacity(draft.attachments.len());
        for path in &draft.attachments {
            files.push(self.upload_content(path).await?.0);
        }
        let account = self.unlocked()?.account;
        let references_of = files
            .iter()
            .map(|f| {
                let r = FileRef {
                    owner: Some(account),
                    ..f.clone()
                };
                Ok((
                    f.name.clone(),
                    serde_json::to_vec(&r)
                        .map_err(|e| ClientError::Invalid(format!("an attachment: {e}")))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let build = |with_bcc: bool| -> Result<Vec<u8>> {
            let mut b = mail_builder::MessageBuilder::new()
                .from(me.as_str())
                .subject(draft.subject.as_str())
                .date(now)
                .message_id(message_id.as_str())
                .text_body(draft.text.as_str());
            if !to.is_empty() {
                b = b.to(header(&to_named));
            }
            if !cc.is_empty() {
                b = b.cc(header(&cc_named));
            }
            if with_bcc && !bcc.is_empty() {
                b = b.bcc(header(&bcc_named));
            }
            if let Some(r) = &in_reply_to {
                b = b.in_reply_to(r.as_str());
                b = b.references(references.clone());
            }
            for (name, reference) in &references_of {
                b = b.attachment(ATTACHMENT_TYPE, name.as_str(), reference.as_slice());
            }
            let raw = b
                .write_to_vec()
                .map_err(|e| ClientError::Invalid(format!("cannot build the message: {e}")))?;
            if raw.len() > MAX_MESSAGE {
                return Err(ClientError::Invalid(format!(
                    "the message is {} KiB; at most {} KiB (send large content as a file)",
                    raw.len() / 1024,
                    MAX_MESSAGE / 1024
                )));
            }
            Ok(raw)
        };
        let raw = build(true)?;
        let join = |v: &[String]| v.iter().map(addr).collect::<Vec<_>>().join("\n");
        let mut fields = BTreeMap::from([
            ("from".to_string(), me.clone()),
            ("to".to_string(), join(&to)),
            ("cc".to_string(), join(&cc)),
            ("bcc".to_string(), join(&bcc)),
            ("date".to_string(), now.to_string()),
            ("message_id".to_string(), message_id.clone()),
            ("references".to_string(), references.join("\n")),
            ("status".to_string(), "queued".to_string()),
            ("read".to_string(), "1".to_string()),
            (
                "raw".to_string(),
                String::from_utf8_lossy(&raw).into_owned(),
            ),
        ]);
        if let Some(r) = in_reply_to {
            fields.insert("in_reply_to".into(), r);
        }
        fields.retain(|_, v| !v.is_empty());
        let data = ItemData {
            fields,
            folder: Some(SENT.into()),
            files,
            ..ItemData::new(ItemKind::Mail, &draft.subject)
        };
        self.save_mail(id, vault, &data)?;
        // Delivered now when possible; otherwise the next sync does it.
        match self.deliver_queued().await {
            Ok(_) | Err(ClientError::Offline(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(id)
    }

    /// A recipient's keys: the pinned ones (looked up, and pinned, on first use).
    async fn recipient_keys(&mut self, username: &str) -> Result<PeerKeys> {
        match self.peer_keys(username).await {
            // Offline: the pinned keys will do.
            Err(ClientError::Offline(why)) => self
                .pinned_peers()?
                .into_iter()
                .find(|p| p.username == username)
                .ok_or(ClientError::Offline(why)),
            Err(ClientError::Server { status: 404, .. }) => Err(ClientError::Invalid(format!(
                "no user {username} on this server"
            ))),
            r => r,
        }
    }

    fn save_mail(&mut self, id: Uuid, vault: Uuid, data: &ItemData) -> Result<()> {
        let sealed = {
            let u = self.unlocked()?;
            Self::seal(&u, vault, id, data)?
        };
        self.save_local(id, vault, &sealed, false, now())
    }

    /// A message of the mailbox, decrypted.
    fn mail_item(&self, id: Uuid) -> Result<ItemData> {
        let u = self.unlocked()?;
        let row = self
            .store
            .item(id)?
            .filter(|r| !r.deleted && r.vault_id == u.mail_vault)
            .ok_or(ClientError::NoSuchItem)?;
        Some(Self::open_live(&u, row.vault_id, id, &row.envelope)?)
            .filter(is_message)
            .ok_or(ClientError::NoSuchItem)
    }

    /// Delivers every message of the mailbox still `queued` (composed on this device or on
    /// another, offline). The server delivers a message id once however often it is sent, so
    /// a message is never delivered twice, even when a device is killed mid-send or two
    /// devices deliver it. Returns how many were delivered.
    pub(crate) async fn deliver_queued(&mut self) -> Result<usize> {
        let queued: Vec<(Uuid, ItemData)> = self
            .mail_with_status("queued")?
            .into_iter()
            .map(|id| Ok((id, self.mail_item(id)?)))
            .collect::<Result<_>>()?;
        if queued.is_empty() {
            return Ok(0);
        }
        let token = self.token()?;
        let domain = self.mail_domain().await?;
        let vault = self.mail_vault()?;
        let mut delivered = 0;
        for (id, mut data) in queued {
            let outcome = match self.seal_copies(&data, &domain).await {
                Ok(copies) => {
                    self.api
                        .call::<_, MailSent>(
                            Method::POST,
                            "/v1/mail",
                            Some(&token),
                            Some(&SendMail {
                                client_id: id,
                                copies,
                                attachments: data.files.iter().map(|f| f.blob_id).collect(),
                            }),
                        )
                        .await
                }
                Err(e) => Err(e),
            };
            let (status, reason) = match outcome {
                Ok(sent) => {
                    delivered += 1;
                    data.fields
                        .insert("delivered_at".into(), sent.delivered_at.to_string());
                    ("sent", None)
                }
                Err(ClientError::Offline(why)) => return Err(ClientError::Offline(why)),
                // Refused for good: the sender is told why, the message kept.
                Err(ClientError::Server {
                    status, message, ..
                }) if (400..500).contains(&status) && status != 429 && status != 401 => {
                    ("failed", Some(self.named(&message).await))
                }
                Err(e @ ClientError::Integrity(_)) | Err(e @ ClientError::Invalid(_)) => {
                    ("failed", Some(e.to_string()))
                }
                Err(e) => return Err(e),
            };
            data.fields.insert("status".into(), status.into());
            match reason {
                Some(r) => data.fields.insert("reason".into(), r),
                None => data.fields.remove("reason"),
            };
            self.save_mail(id, vault, &data)?;
        }
        Ok(delivered)
    }

    /// A server refusal that ends with an account id, with the username put in its place.
    async fn named(&self, message: &str) -> String {
        let Some((head, tail)) = message.rsplit_once(": ") else {
            return message.to_string();
        };
        let Ok(id) = tail.parse::<Uuid>() else {
            return message.to_string();
        };
        match self.pinned_peers() {
            Ok(p) => match p.into_iter().find(|p| p.account_id == id) {
                Some(p) => format!("{head}: {}", p.username),
                None => message.to_string(),
            },
            Err(_) => message.to_string(),
        }
    }

    /// The copies of a queued message: one for To and Cc together, one for each Bcc.
    async fn seal_copies(&mut self, data: &ItemData, domain: &str) -> Result<Vec<MailCopy>> {
        let raw = data.fields.get("raw").cloned().unwrap_or_default();
        // The recipients' copy holds no Bcc header.
        let public = strip_bcc(raw.as_bytes()).map_err(|e| ClientError::Invalid(e.into()))?;
        let users = |name: &str| -> Result<Vec<String>> {
            lines(data.fields.get(name))
                .iter()
                .map(|a| username_of(a, domain))
                .collect()
        };
        let mut open = users("to")?;
        open.extend(users("cc")?);
        let bcc = users("bcc")?;
        let mut copies = Vec::new();
        let mut seal = |peers: &[PeerKeys], u: &Unlocked| -> Result<()> {
            let recipients = peers
                .iter()
                .map(|p| {
                    Ok(pk::Recipient {
                        account: *p.account_id.as_bytes(),
                        key: p.keys()?.encryption,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let sealed = pk::seal_message(
                pk::MessageKind::Mail,
                u.account.as_bytes(),
                &u.keyset.identity,
                &recipients,
                &pad(&public),
            )?;
            copies.push(MailCopy {
                recipients: peers.iter().map(|p| p.account_id).collect(),
                sealed: B64(sealed),
            });
            Ok(())
        };
        let mut open_peers = Vec::new();
        for u in &open {
            open_peers.push(self.recipient_keys(u).await?);
        }
        let mut bcc_peers = Vec::new();
        for u in &bcc {
            bcc_peers.push(self.recipient_keys(u).await?);
        }
        let u = self.unlocked()?;
        if !open_peers.is_empty() {
            seal(&open_peers, &u)?;
        }
        for p in &bcc_peers {
            seal(std::slice::from_ref(p), &u)?;
        }
        Ok(copies)
    }

    /// Takes in the messages the feed brought: each opened, checked, and filed in the
    /// mailbox (Inbox, or Quarantine with the reason). Returns the server's ids of those
    /// taken in, for the server to drop once the mailbox is committed.
    pub(crate) async fn take_in_mail(
        &mut self,
        incoming: Vec<IncomingMail>,
        pulled: &BTreeMap<Uuid, krypt7_protocol::Item>,
        report: &mut SyncReport,
    ) -> Result<Vec<Uuid>> {
        if incoming.is_empty() {
            return Ok(vec![]);
        }
        let vault = self.mail_vault_ready().await?;
        let domain = self.mail_domain().await?;
        let mut taken = Vec::with_capacity(incoming.len());
        for m in incoming {
            let (id, data) = self.file_incoming(&m, &domain, pulled).await?;
            // A message already filed (delivered again, or taken in by another device) is
            // not filed twice.
            if self.store.item(id)?.is_none() {
                self.save_mail(id, vault, &data)?;
                report.mail_received += 1;
                if data.folder.as_deref() == Some(INBOX) {
                    report.mail_from.extend(data.fields.get("from").cloned());
                }
            }
            taken.push(m.id);
        }
        Ok(taken)
    }

    /// One incoming message, opened and checked: its item id (the same on every device, and
    /// for the same message delivered twice) and what to file.
    /// `pulled`: the items of the same pull, not applied yet (a sender blocked or unblocked
    /// on another device since the last sync counts as such already).
    async fn file_incoming(
        &mut self,
        m: &IncomingMail,
        domain: &str,
        pulled: &BTreeMap<Uuid, krypt7_protocol::Item>,
    ) -> Result<(Uuid, ItemData)> {
        let quarantine = |id: Uuid, reason: String, fields: BTreeMap<String, String>| {
            let mut fields = fields;
            fields.insert("status".into(), "quarantined".into());
            fields.insert("reason".into(), reason);
            fields.insert("sender_account".into(), m.sender.to_string());
            fields.insert("date".into(), m.arrived_at.to_string());
            fields.insert("read".into(), "0".into());
            let title = fields
                .remove("subject")
                .unwrap_or_else(|| "(a message that did not check out)".into());
            (
                id,
                ItemData {
                    fields,
                    folder: Some(QUARANTINE.into()),
                    ..ItemData::new(ItemKind::Mail, &title)
                },
            )
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, &m.sealed.0);
        let opened = {
            let u = self.unlocked()?;
            let id = Uuid::from_bytes(u.keyset.derived_id(b"mail item", digest.as_ref()));
            match pk::open_message(
                pk::MessageKind::Mail,
                u.account.as_bytes(),
                &u.keyset.encryption,
                &m.sealed.0,
            ) {
                Ok(o) => o,
                Err(e) => {
                    let why = match e {
                        krypt7_crypto::CryptoError::NotARecipient => {
                            "this account is not among the message's recipients".to_string()
                        }
                        e => format!("the message does not open ({e})"),
                    };
                    return Ok(quarantine(id, why, BTreeMap::new()));
                }
            }
        };
        // Same message, same id: replays are filed once.
        let id = {
            let u = self.unlocked()?;
            let signed = ring::digest::digest(&ring::digest::SHA256, &opened.content);
            Uuid::from_bytes(u.keyset.derived_id(
                b"mail item",
                &[opened.sender.as_slice(), signed.as_ref()].concat(),
            ))
        };
        let sender = Uuid::from_bytes(opened.sender);
        let message = match unpad(&opened.content) {
            Ok(m) => m.to_vec(),
            Err(why) => {
                return Ok(quarantine(
                    id,
                    format!("the message's content is malformed: {why}"),
                    BTreeMap::new(),
                ));
            }
        };
        let parsed = mail_parser::MessageParser::default().parse(&message[..]);
        let Some(parsed) = parsed else {
            return Ok(quarantine(
                id,
                "the message is not a valid RFC 5322 message".into(),
                BTreeMap::new(),
            ));
        };
        let (from, mut fields) = header_fields(&parsed, &message, m.arrived_at);
        fields.insert("sender_account".to_string(), sender.to_string());
        if sender != m.sender {
            return Ok(quarantine(
                id,
                "the server names another sender than the one who signed the message".into(),
                fields,
            ));
        }
        // The From address must be the signer's: its pinned keys, the same account, the key
        // that signed.
        let [from] = from.as_slice() else {
            return Ok(quarantine(
                id,
                "the message does not name one sender".into(),
                fields,
            ));
        };
        let user = match username_of(from, domain) {
            Ok(u) => u,
            Err(_) => {
                return Ok(quarantine(
                    id,
                    format!("the sender's address {from} is not of this server"),
                    fields,
                ));
            }
        };
        let peer = match self.recipient_keys(&user).await {
            Ok(p) => p,
            Err(ClientError::Offline(why)) => return Err(ClientError::Offline(why)),
            Err(e) => {
                return Ok(quarantine(
                    id,
                    format!("the sender {from} could not be checked: {e}"),
                    fields,
                ));
            }
        };
        if peer.account_id != sender || peer.keys()?.signing != opened.sender_key {
            return Ok(quarantine(
                id,
                format!(
                    "the message claims to be from {from} but was not signed by their pinned key"
                ),
                fields,
            ));
        }
        let subject = fields.remove("subject").unwrap_or_default();
        fields.insert("status".into(), "received".into());
        fields.insert(
            "signature".into(),
            if peer.verified { "verified" } else { "pinned" }.into(),
        );
        fields.insert("signer".into(), peer.fingerprint()?);
        fields.insert("read".into(), "0".into());
        let blocked = match pulled.get(&self.blocked_id(from)?) {
            Some(record) => !record.deleted,
            None => self.is_blocked(from)?,
        };
        let folder = if blocked { SPAM } else { INBOX };
        // Attachments: references in the signed message to blobs of the sender's, which the
        // server copied to this account under the same id. Their streams are bound to the
        // sender's account, whatever the reference says.
        let files = parsed
            .attachments()
            .filter(|p| {
                let (ctype, subtype) = ATTACHMENT_TYPE.split_once('/').unwrap_or_default();
                mail_parser::MimeHeaders::is_content_type(*p, ctype, subtype)
            })
            .filter_map(|p| serde_json::from_slice::<FileRef>(p.contents()).ok())
            .map(|f| FileRef {
                owner: Some(sender),
                ..f
            })
            .collect();
        Ok((
            id,
            ItemData {
                fields,
                folder: Some(folder.into()),
                files,
                ..ItemData::new(ItemKind::Mail, &subject)
            },
        ))
    }

    /// Tells the server each message taken in can go (one already gone is fine).
    pub(crate) async fn drop_taken_mail(&self, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let token = self.token()?;
        for id in ids {
            match self
                .api
                .call::<(), serde_json::Value>(
                    Method::DELETE,
                    &format!("/v1/mail/{id}"),
                    Some(&token),
                    None,
                )
                .await
            {
                Ok(_) | Err(ClientError::Server { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One message as a list shows it (nothing marked).
    pub fn mail_view(&self, id: Uuid) -> Result<MailView> {
        let data = self.mail_item(id)?;
        let pending = self.store.item(id)?.is_some_and(|r| r.dirty);
        self.shown_view(id, &data, pending)
    }

    /// A message's summary with its signature shown as the pins stand now
    /// (`mailbox::show_signature`).
    fn shown_view(&self, id: Uuid, data: &ItemData, pending: bool) -> Result<MailView> {
        let mut m = view(id, data, pending);
        let stamped = m.signature == "verified";
        crate::mailbox::show_signature(&mut m, stamped, &self.verified_signers()?);
        Ok(m)
    }

    /// One message, whole; marked read.
    pub fn read_mail(&mut self, id: Uuid) -> Result<MailBody> {
        let mut data = self.mail_item(id)?;
        if data.fields.get("read").map(String::as_str) != Some("1") {
            data.fields.insert("read".into(), "1".into());
            let vault = self.mail_vault()?;
            self.save_mail(id, vault, &data)?;
        }
        let pending = self.store.item(id)?.is_some_and(|r| r.dirty);
        let raw = data.fields.get("raw").cloned().unwrap_or_default();
        let text = message_text(raw.as_bytes());
        Ok(MailBody {
            view: self.shown_view(id, &data, pending)?,
            text,
            raw,
        })
    }

    /// Saves `draft` in Drafts (a new one, or over draft `id`): sealed and synced like any
    /// message, so another device of the account can finish and send it. Returns its id.
    pub async fn save_draft(&mut self, draft: &Draft, id: Option<Uuid>) -> Result<Uuid> {
        if let Some(id) = id
            && self.mail_item(id)?.fields.get("status").map(String::as_str) != Some("draft")
        {
            return Err(ClientError::Invalid(format!("{id} is not a draft")));
        }
        if !draft.attachments.is_empty() {
            return Err(ClientError::Invalid(
                "a draft keeps no attachments yet: attach the files when you send it".into(),
            ));
        }
        let vault = self.mail_vault_ready().await?;
        let id = id.unwrap_or_else(Uuid::new_v4);
        let mut fields = BTreeMap::from([
            ("to".to_string(), draft.to.join("\n")),
            ("cc".to_string(), draft.cc.join("\n")),
            ("bcc".to_string(), draft.bcc.join("\n")),
            ("text".to_string(), draft.text.clone()),
            ("date".to_string(), now().to_string()),
            ("status".to_string(), "draft".to_string()),
            ("read".to_string(), "1".to_string()),
        ]);
        if let Some(r) = draft.in_reply_to {
            fields.insert("reply_to_item".into(), r.to_string());
        }
        fields.retain(|_, v| !v.is_empty());
        let data = ItemData {
            fields,
            folder: Some(DRAFTS.into()),
            ..ItemData::new(ItemKind::Mail, &draft.subject)
        };
        self.save_mail(id, vault, &data)?;
        Ok(id)
    }

    /// Draft `id`, to edit or send.
    pub fn draft(&self, id: Uuid) -> Result<Draft> {
        let d = self.mail_item(id)?;
        if d.fields.get("status").map(String::as_str) != Some("draft") {
            return Err(ClientError::Invalid(format!("{id} is not a draft")));
        }
        Ok(Draft {
            to: lines(d.fields.get("to")),
            cc: lines(d.fields.get("cc")),
            bcc: lines(d.fields.get("bcc")),
            subject: d.title.clone(),
            text: d.fields.get("text").cloned().unwrap_or_default(),
            in_reply_to: d.fields.get("reply_to_item").and_then(|r| r.parse().ok()),
            attachments: vec![],
        })
    }

    /// Sends draft `id` (as [`Client::send_mail`]) and deletes the draft. Returns the sent
    /// message's id.
    pub async fn send_draft(&mut self, id: Uuid) -> Result<Uuid> {
        let draft = self.draft(id)?;
        let sent = self.send_mail(&draft).await?;
        self.purge_item(id)?;
        Ok(sent)
    }

    /// A reply to message `id`: to its sender (with `all`, also to its other recipients but
    /// this account), "Re:" subject, threaded, the original quoted below `text`.
    pub async fn reply_draft(&mut self, id: Uuid, all: bool, text: &str) -> Result<Draft> {
        let m = self.read_mail(id)?;
        let me = self.mail_address().await?;
        let mut to = if m.view.folder == SENT {
            m.view.to.clone()
        } else {
            vec![m.view.from.clone()]
        };
        let mut cc = vec![];
        if all {
            for a in m.view.to.iter().chain(&m.view.cc) {
                if !a.eq_ignore_ascii_case(&me) && !to.contains(a) {
                    cc.push(a.clone());
                }
            }
        }
        to.retain(|a| !a.is_empty());
        Ok(Draft {
            to,
            cc,
            bcc: vec![],
            subject: prefixed("Re:", &m.view.subject),
            text: format!("{text}{}", quoted(&m.view.from, m.view.date, &m.text)),
            in_reply_to: Some(id),
            attachments: vec![],
        })
    }

    /// Message `id` forwarded to `to`: "Fwd:" subject, `text`, then the original's headers
    /// and text.
    pub fn forward_draft(&mut self, id: Uuid, to: Vec<String>, text: &str) -> Result<Draft> {
        let m = self.read_mail(id)?;
        let when =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(m.view.date.max(0) as u64);
        let mut body = format!(
            "{text}\n\n---------- Forwarded message ----------\nFrom: {}\nDate: {}\nSubject: {}\nTo: {}\n",
            m.view.from,
            humantime::format_rfc3339_seconds(when),
            m.view.subject,
            m.view.to.join(", ")
        );
        if !m.view.cc.is_empty() {
            body.push_str(&format!("Cc: {}\n", m.view.cc.join(", ")));
        }
        body.push('\n');
        body.push_str(&m.text);
        Ok(Draft {
            to,
            cc: vec![],
            bcc: vec![],
            subject: prefixed("Fwd:", &m.view.subject),
            text: body,
            in_reply_to: None,
            attachments: vec![],
        })
    }

    /// The messages of `folder` (all when `None`), oldest first, as an mbox (mboxrd: each
    /// message after a `From ` line, lines starting with `>*From ` quoted once more), to
    /// take the mailbox to any mail program. Quarantined messages are left out.
    pub fn export_mbox(&self, folder: Option<&str>) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let mut list = self.mailbox(folder)?;
        list.retain(|m| m.folder != QUARANTINE);
        list.reverse();
        let mut out = zeroize::Zeroizing::new(Vec::new());
        for m in list {
            let raw = self
                .mail_item(m.id)?
                .fields
                .get("raw")
                .cloned()
                .unwrap_or_default();
            krypt7_mail::mbox_entry(&mut out, &m.from, m.date, &raw);
        }
        Ok(out)
    }

    /// Files messages from elsewhere (another mail program's mbox or `.eml` files) in
    /// `folder`, as they are. No KRYPT7 signature was checked: they are marked `imported`
    /// and never shown as signed. A message's id comes from its bytes, so importing the
    /// same file again adds nothing. Every message is checked before anything is written;
    /// one that is not a message or is too large refuses the whole import, naming it.
    /// Returns how many were new.
    pub async fn import_mail(&mut self, messages: &[Vec<u8>], folder: &str) -> Result<usize> {
        if folder.eq_ignore_ascii_case(QUARANTINE) || folder.eq_ignore_ascii_case(DRAFTS) {
            return Err(ClientError::Invalid(format!(
                "messages cannot be imported into {folder}"
            )));
        }
        let mut items = Vec::with_capacity(messages.len());
        {
            let u = self.unlocked()?;
            for (n, raw) in messages.iter().enumerate() {
                let which = || format!("message {} of {}", n + 1, messages.len());
                if raw.len() > MAX_MESSAGE {
                    return Err(ClientError::Invalid(format!(
                        "{} is {} KiB, over the {} KiB a message may have",
                        which(),
                        raw.len() >> 10,
                        MAX_MESSAGE >> 10
                    )));
                }
                let parsed = mail_parser::MessageParser::default()
                    .parse(&raw[..])
                    // RFC 5322 asks for From and Date; one of them, or a Message-ID, will
                    // do for mail that other programs kept.
                    .filter(|p| {
                        p.from().is_some() || p.date().is_some() || p.message_id().is_some()
                    })
                    .ok_or_else(|| {
                        ClientError::Invalid(format!("{} is not an RFC 5322 message", which()))
                    })?;
                let (_, mut fields) = header_fields(&parsed, raw, 0);
                let subject = fields.remove("subject").unwrap_or_default();
                fields.insert("status".into(), "imported".into());
                fields.insert("read".into(), "1".into());
                let digest = ring::digest::digest(&ring::digest::SHA256, raw);
                let id = Uuid::from_bytes(u.keyset.derived_id(b"imported mail", digest.as_ref()));
                items.push((
                    id,
                    ItemData {
                        fields,
                        folder: Some(folder.to_string()),
                        ..ItemData::new(ItemKind::Mail, &subject)
                    },
                ));
            }
        }
        let vault = self.mail_vault_ready().await?;
        let mut added = 0;
        for batch in items.chunks(1000) {
            let writes = {
                let u = self.unlocked()?;
                let mut writes = Vec::with_capacity(batch.len());
                for (id, data) in batch {
                    if self.store.item(*id)?.is_none_or(|r| r.deleted) {
                        writes.push((*id, vault, Self::seal(&u, vault, *id, data)?));
                    }
                }
                writes
            };
            if writes.is_empty() {
                continue;
            }
            let generation = self.store.save_local_many(&writes, now())?;
            let ids: Vec<Uuid> = writes.iter().map(|w| w.0).collect();
            self.reindex(generation, &ids)?;
            added += writes.len();
        }
        Ok(added)
    }

    /// The address `who` stands for: `user` is a user of this server, anything with an `@`
    /// is taken as it is; lowercased.
    async fn address_of(&self, who: &str) -> Result<String> {
        let a = who.trim().trim_start_matches('<').trim_end_matches('>');
        if a.is_empty() || a.chars().any(char::is_whitespace) {
            return Err(ClientError::Invalid(format!("{who:?} is not an address")));
        }
        Ok(if a.contains('@') {
            a.to_ascii_lowercase()
        } else {
            format!("{}@{}", a.to_ascii_lowercase(), self.mail_domain().await?)
        })
    }

    /// The mailbox item recording that `address` is blocked: one per address, the same id
    /// on every device, so blocking twice or on two devices makes one record.
    fn blocked_id(&self, address: &str) -> Result<Uuid> {
        let u = self.unlocked()?;
        Ok(Uuid::from_bytes(
            u.keyset.derived_id(b"blocked sender", address.as_bytes()),
        ))
    }

    fn is_blocked(&self, address: &str) -> Result<bool> {
        let id = self.blocked_id(&address.to_ascii_lowercase())?;
        Ok(self.store.item(id)?.is_some_and(|r| !r.deleted))
    }

    /// Blocks a sender: their messages go to Spam from now on, on every device of the
    /// account (a record of the mailbox, sealed and synced; the server sees an item), and
    /// those in the Inbox now move there. Their messages are still checked and kept.
    /// Returns how many were moved.
    pub async fn block_sender(&mut self, who: &str) -> Result<usize> {
        let address = self.address_of(who).await?;
        let vault = self.mail_vault_ready().await?;
        let id = self.blocked_id(&address)?;
        if !self.is_blocked(&address)? {
            let data = ItemData {
                fields: BTreeMap::from([
                    ("status".to_string(), BLOCKED.to_string()),
                    ("address".to_string(), address.clone()),
                ]),
                ..ItemData::new(ItemKind::Mail, &address)
            };
            self.save_mail(id, vault, &data)?;
        }
        let theirs: Vec<Uuid> = self
            .mailbox(Some(INBOX))?
            .into_iter()
            .filter(|m| m.from.eq_ignore_ascii_case(&address))
            .map(|m| m.id)
            .collect();
        for m in &theirs {
            self.move_mail(*m, SPAM)?;
        }
        Ok(theirs.len())
    }

    /// Lets a blocked sender's messages reach the Inbox again (those in Spam stay there).
    pub async fn unblock_sender(&mut self, who: &str) -> Result<()> {
        let address = self.address_of(who).await?;
        if !self.is_blocked(&address)? {
            return Err(ClientError::Invalid(format!("{address} is not blocked")));
        }
        self.purge_item(self.blocked_id(&address)?)
    }

    /// One message as it is (RFC 5322, an `.eml` file).
    pub fn export_eml(&self, id: Uuid) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let raw = self
            .mail_item(id)?
            .fields
            .get("raw")
            .cloned()
            .unwrap_or_default();
        Ok(zeroize::Zeroizing::new(raw.into_bytes()))
    }

    /// Marks a message read or unread, starred or not, and adds or removes labels: sealed
    /// state of the account's own, synced to its devices (the server sees an item change).
    pub fn mark_mail(&mut self, id: Uuid, mark: &MailMark) -> Result<()> {
        let mut data = self.mail_item(id)?;
        if let Some(read) = mark.read {
            data.fields
                .insert("read".into(), if read { "1" } else { "0" }.into());
        }
        if let Some(starred) = mark.starred {
            data.favorite = starred;
        }
        for l in &mark.add_labels {
            let l = l.trim();
            if l.is_empty() {
                return Err(ClientError::Invalid("a label needs a name".into()));
            }
            if !data.tags.iter().any(|t| t == l) {
                data.tags.push(l.to_string());
            }
        }
        data.tags.retain(|t| !mark.remove_labels.contains(t));
        let vault = self.mail_vault()?;
        self.save_mail(id, vault, &data)
    }

    /// Moves a message to another folder (Inbox, Archive, Spam, Trash, or a name of the
    /// user's). Quarantine is where checks put messages, not a place to move one to.
    pub fn move_mail(&mut self, id: Uuid, folder: &str) -> Result<()> {
        let folder = folder.trim();
        if folder.is_empty() || folder.eq_ignore_ascii_case(QUARANTINE) {
            return Err(ClientError::Invalid(format!(
                "a message cannot be moved to {folder:?}"
            )));
        }
        let mut data = self.mail_item(id)?;
        if data.folder.as_deref() == Some(QUARANTINE) {
            return Err(ClientError::Invalid(
                "a quarantined message stays in Quarantine: it did not check out".into(),
            ));
        }
        let known = [INBOX, SENT, DRAFTS, ARCHIVE, SPAM, TRASH];
        let name = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(folder))
            .map_or_else(|| folder.to_string(), |k| k.to_string());
        data.folder = Some(name);
        let vault = self.mail_vault()?;
        self.save_mail(id, vault, &data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_this_server_only() {
        assert_eq!(username_of("Bob", "mail.example").unwrap(), "bob");
        assert_eq!(
            username_of("<bob@MAIL.example>", "mail.example").unwrap(),
            "bob"
        );
        assert!(username_of("bob@elsewhere.example", "mail.example").is_err());
        assert!(username_of("@mail.example", "mail.example").is_err());
        assert_eq!(
            username_of("\"Bob B.\" <bob@mail.example>", "mail.example").unwrap(),
            "bob"
        );
        assert_eq!(
            display_name(" Bob Marley <bob> "),
            (Some("Bob Marley".to_string()), "bob")
        );
        assert_eq!(display_name("bob@x"), (None, "bob@x"));
        assert_eq!(display_name("<bob@x>"), (None, "bob@x"));
    }
}
