//! Mail: folders and their counts, a folder's list a page at a time, search, reading a
//! message (its thread, its sanitized HTML), composing (drafts saved as one types,
//! replies, forwards, recipients suggested), sending, moving, blocking, and the sender's
//! key. (An attachment is saved with `download_file`, as an item's file.)

use crate::*;
use krypt7_client::mail::{self, MailView};

/// A message as the list shows it.
#[derive(Serialize, Type)]
pub struct MailSummary {
    pub id: String,
    pub folder: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Only on the account's own copies.
    pub bcc: Vec<String>,
    pub subject: String,
    /// Unix seconds.
    pub date: u32,
    pub read: bool,
    pub starred: bool,
    /// `received`, `queued`, `sent`, `failed`, `quarantined`, `draft`, `imported`.
    pub status: String,
    /// `verified`, `pinned`, or empty (the account's own, imported, quarantined).
    pub signature: String,
    /// Why it was quarantined, or why delivery failed.
    pub reason: Option<String>,
    pub thread: String,
    pub pending: bool,
    pub attachments: Vec<MailAttachment>,
}

#[derive(Serialize, Type)]
pub struct MailAttachment {
    pub name: String,
    pub media_type: String,
    pub size: f64,
}

fn summary(m: MailView) -> MailSummary {
    MailSummary {
        id: m.id.to_string(),
        folder: m.folder,
        from: m.from,
        to: m.to,
        cc: m.cc,
        bcc: m.bcc,
        subject: m.subject,
        date: m.date.clamp(0, u32::MAX.into()) as u32,
        read: m.read,
        starred: m.starred,
        status: m.status,
        signature: m.signature,
        reason: m.reason,
        thread: m.thread,
        pending: m.pending,
        attachments: m
            .attachments
            .into_iter()
            .map(|a| MailAttachment {
                name: a.name,
                media_type: a.media_type,
                size: a.size as f64,
            })
            .collect(),
    }
}

#[derive(Serialize, Type)]
pub struct MailFolderInfo {
    pub name: String,
    pub total: u32,
    pub unread: u32,
}

/// The mailbox's folders with their counts, and the account's address.
#[derive(Serialize, Type)]
pub struct Mailbox {
    pub address: String,
    pub folders: Vec<MailFolderInfo>,
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_folders(app: State<'_, App>) -> Out<Mailbox> {
    with(&app, async |c| {
        Ok(Mailbox {
            address: c.mail_address().await?,
            folders: c
                .mail_folders()?
                .into_iter()
                .map(|f| MailFolderInfo {
                    name: f.name,
                    total: f.total as u32,
                    unread: f.unread as u32,
                })
                .collect(),
        })
    })
    .await
}

#[derive(Serialize, Type)]
pub struct MailListPage {
    pub total: u32,
    pub items: Vec<MailSummary>,
}

/// The most results a mail search lists.
const SEARCH_MAX: usize = 1000;

/// A page of `folder`'s messages (every folder's when `None`), newest first; with a
/// `query`, of the messages it finds (at most a thousand).
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_list(
    app: State<'_, App>,
    folder: Option<String>,
    query: String,
    offset: u32,
    limit: u32,
) -> Out<MailListPage> {
    with(&app, async |c| {
        let (total, page) = if query.trim().is_empty() {
            let p = c.mail_page(folder.as_deref(), offset as usize, limit as usize)?;
            (p.total, p.messages)
        } else {
            let found = c.search_mail(&query, folder.as_deref(), SEARCH_MAX)?;
            let total = found.len();
            let page = found
                .into_iter()
                .skip(offset as usize)
                .take(limit as usize)
                .collect();
            (total, page)
        };
        Ok(MailListPage {
            total: total as u32,
            items: page.into_iter().map(summary).collect(),
        })
    })
    .await
}

/// A message to read: its summary, its text, its HTML (sanitized; none for plain text),
/// and the other messages of its thread (oldest first).
#[derive(Serialize, Type)]
pub struct MailMessage {
    pub summary: MailSummary,
    pub text: String,
    pub html: Option<String>,
    pub thread: Vec<MailSummary>,
}

/// Opens a message (marking it read).
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_open(app: State<'_, App>, id: String) -> Out<MailMessage> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let body = c.read_mail(id)?;
        let html = mail::message_html(body.raw.as_bytes());
        let thread = c
            .mail_thread(id)?
            .into_iter()
            .filter(|m| m.id != id)
            .map(summary)
            .collect();
        Ok(MailMessage {
            summary: summary(body.view),
            text: body.text,
            html,
            thread,
        })
    })
    .await
}

/// A message being written.
#[derive(Serialize, Deserialize, Type, Default)]
pub struct Compose {
    /// The draft it is saved as, once saved.
    pub draft: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: String,
    /// The message it answers.
    pub in_reply_to: Option<String>,
    /// Files to attach (paths on this device).
    pub attachments: Vec<String>,
}

impl Compose {
    fn draft(&self) -> Out<mail::Draft> {
        Ok(mail::Draft {
            to: self.to.clone(),
            cc: self.cc.clone(),
            bcc: self.bcc.clone(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            in_reply_to: self.in_reply_to.as_deref().map(parse_id).transpose()?,
            attachments: self.attachments.iter().map(PathBuf::from).collect(),
        })
    }

    fn of(d: mail::Draft, draft: Option<Uuid>) -> Compose {
        Compose {
            draft: draft.map(|d| d.to_string()),
            to: d.to,
            cc: d.cc,
            bcc: d.bcc,
            subject: d.subject,
            text: d.text,
            in_reply_to: d.in_reply_to.map(|r| r.to_string()),
            attachments: d
                .attachments
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        }
    }
}

/// Saves what is being written as a draft (the attachments are not kept with it: they are
/// attached when it is sent). Returns the draft's id.
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_save_draft(app: State<'_, App>, compose: Compose) -> Out<String> {
    let id = compose.draft.as_deref().map(parse_id).transpose()?;
    let draft = mail::Draft {
        attachments: vec![],
        ..compose.draft()?
    };
    with(&app, async |c| {
        Ok(c.save_draft(&draft, id).await?.to_string())
    })
    .await
}

/// Draft `id`, to go on writing it.
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_draft(app: State<'_, App>, id: String) -> Out<Compose> {
    let id = parse_id(&id)?;
    with(&app, async |c| Ok(Compose::of(c.draft(id)?, Some(id)))).await
}

/// Sends the message (its attachments encrypted and uploaded first, with progress as
/// `transfer` events), deletes its draft, and syncs. Offline, it waits in Sent as queued
/// and goes at the next sync. Returns the sent message's id.
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_send(
    app: State<'_, App>,
    handle: AppHandle,
    compose: Compose,
) -> Out<String> {
    let draft = compose.draft()?;
    let saved = compose.draft.as_deref().map(parse_id).transpose()?;
    with(&app, async |c| {
        report_transfers(c, &handle, "");
        let sent = c.send_mail(&draft).await?;
        if let Some(d) = saved {
            c.purge_item(d)?;
        }
        Ok(sent.to_string())
    })
    .await
}

/// A reply to message `id` (to all its recipients with `all`), quoted, to edit and send.
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_reply(app: State<'_, App>, id: String, all: bool) -> Out<Compose> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        Ok(Compose::of(c.reply_draft(id, all, "").await?, None))
    })
    .await
}

/// Message `id` forwarded, to address and send.
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_forward(app: State<'_, App>, id: String) -> Out<Compose> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        Ok(Compose::of(c.forward_draft(id, vec![], "")?, None))
    })
    .await
}

/// Moves a message to a folder (Archive, Trash, Inbox, …); a draft moved to Trash is
/// deleted.
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_move(app: State<'_, App>, id: String, folder: String) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        if folder == mail::TRASH && c.mail_view(id)?.status == "draft" {
            c.purge_item(id)?;
        } else {
            c.move_mail(id, &folder)?;
        }
        Ok(())
    })
    .await
}

/// Someone to write to, as the recipient fields suggest them.
#[derive(Serialize, Type)]
pub struct Correspondent {
    pub address: String,
    pub name: String,
    pub verified: bool,
}

/// Addresses starting with `prefix` (or a contact whose name has a word that does).
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_correspondents(
    app: State<'_, App>,
    prefix: String,
) -> Out<Vec<Correspondent>> {
    with(&app, async |c| {
        Ok(c.mail_correspondents(&prefix, 8)
            .await?
            .into_iter()
            .map(|k| Correspondent {
                address: k.address,
                name: k.name,
                verified: k.verified,
            })
            .collect())
    })
    .await
}

/// Blocks (or unblocks) a sender: their mail goes to Spam on every device.
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_block(app: State<'_, App>, address: String, block: bool) -> Out<()> {
    with(&app, async |c| {
        if block {
            c.block_sender(&address).await?;
        } else {
            c.unblock_sender(&address).await?;
        }
        Ok(())
    })
    .await
}

/// Marks a message read or unread, starred or not (`None`: as it is).
#[tauri::command]
#[specta::specta]
pub(crate) async fn mail_mark(
    app: State<'_, App>,
    id: String,
    read: Option<bool>,
    starred: Option<bool>,
) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        c.mark_mail(
            id,
            &mail::MailMark {
                read,
                starred,
                ..Default::default()
            },
        )?;
        Ok(())
    })
    .await
}
