//! `krypt7 mail …`: signed, end-to-end encrypted mail between users of this server
//! (`docs/mail.md`).

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;
use krypt7_client::{ClientError, mail::Draft};
use serde_json::{Value, json};

use crate::{Cli, Failure, Keys, Out, open, output, parse_id, unlock};

#[derive(Subcommand)]
pub(crate) enum MailCommand {
    /// Send a message: to `username` or `username@DOMAIN` of this server. The body is
    /// standard input (or --body / --body-file); offline, it waits and goes at the next sync.
    Send {
        #[command(flatten)]
        message: Compose,
    },
    /// Save a message in Drafts instead of sending it (over draft --id when given); any
    /// device of the account can then send it with `mail send-draft`.
    Draft {
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        message: Compose,
    },
    /// Send a draft (it leaves Drafts).
    SendDraft { id: String },
    /// Messages, newest first (every folder, or --folder).
    Ls {
        /// Inbox, Sent, Archive, Spam, Trash, Quarantine, or one of yours.
        #[arg(long)]
        folder: Option<String>,
        #[arg(long)]
        unread: bool,
    },
    /// Bring in mail from another program: mbox files (mboxo or mboxrd) or single .eml
    /// messages, kept as they are and marked imported (not signed). Importing the same
    /// file again adds nothing.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, default_value = "Inbox")]
        folder: String,
    },
    /// Block a sender: their mail goes to Spam from now on, on every device (and what is in
    /// the Inbox moves there).
    Block { address: String },
    /// Let a blocked sender's mail reach the Inbox again.
    Unblock { address: String },
    /// The blocked senders.
    Blocked,
    /// Find messages by the words of their sender, recipients, subject and text, newest
    /// first: all words must match (accents and case aside); "a phrase", -word, and
    /// from:, to:, subject:, body: to look in one part. Searched here, on this device.
    Search {
        query: String,
        #[arg(long)]
        folder: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Mark a message read or unread, starred or not, and add or remove labels.
    Mark {
        id: String,
        #[arg(long, conflicts_with = "unread")]
        read: bool,
        #[arg(long)]
        unread: bool,
        #[arg(long, conflicts_with = "unstar")]
        star: bool,
        #[arg(long)]
        unstar: bool,
        /// Add this label (again for more).
        #[arg(long)]
        label: Vec<String>,
        /// Remove this label (again for more).
        #[arg(long)]
        unlabel: Vec<String>,
    },
    /// Show a message (and mark it read).
    Read { id: String },
    /// Save a message's attachment (the first, or --index N from 0) to a file: fetched,
    /// decrypted and checked against the fingerprint the sender signed.
    Save {
        id: String,
        #[arg(long, default_value_t = 0)]
        index: usize,
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Move a message to a folder.
    Mv { id: String, folder: String },
    /// Reply to a message, the original quoted below your text (standard input, --body or
    /// --body-file); --all: to everyone it went to, but you.
    Reply {
        id: String,
        #[arg(long)]
        all: bool,
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        #[arg(long)]
        body_file: Option<PathBuf>,
    },
    /// Forward a message (its headers and text below yours) to other recipients.
    Forward {
        id: String,
        /// Repeatable.
        #[arg(long, required = true)]
        to: Vec<String>,
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        #[arg(long)]
        body_file: Option<PathBuf>,
    },
    /// Write the mailbox (or one --folder) as an mbox file, or one message as an .eml file,
    /// for any mail program (readable by you only; quarantined mail left out).
    Export {
        #[arg(long, conflicts_with = "eml", required_unless_present = "eml")]
        mbox: Option<PathBuf>,
        #[arg(long, requires = "mbox")]
        folder: Option<String>,
        #[arg(long, requires = "id")]
        eml: Option<PathBuf>,
        /// The message for --eml.
        #[arg(long)]
        id: Option<String>,
    },
}

/// A new message's recipients, subject and text (`mail send`, `mail draft`).
#[derive(clap::Args)]
pub(crate) struct Compose {
    /// Repeatable.
    #[arg(long)]
    to: Vec<String>,
    #[arg(long)]
    cc: Vec<String>,
    /// Receives its own copy; the other recipients do not see it.
    #[arg(long)]
    bcc: Vec<String>,
    #[arg(long, default_value = "")]
    subject: String,
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// A file to attach (repeatable): encrypted and uploaded as the message is sent.
    #[arg(long)]
    attach: Vec<PathBuf>,
}

impl Compose {
    /// The message as a draft; `empty_ok`: its text may be empty.
    fn draft(&self, keys: &Keys, empty_ok: bool) -> Result<Draft, Failure> {
        Ok(Draft {
            to: self.to.clone(),
            cc: self.cc.clone(),
            bcc: self.bcc.clone(),
            subject: self.subject.clone(),
            text: body_text(keys, &self.body, &self.body_file, empty_ok)?,
            in_reply_to: None,
            attachments: self.attach.clone(),
        })
    }
}

/// A message's own text: --body, --body-file, or standard input (not when it holds the
/// password). `empty_ok`: a reply or forward may add nothing.
fn body_text(
    keys: &Keys,
    body: &Option<String>,
    body_file: &Option<PathBuf>,
    empty_ok: bool,
) -> Result<String, Failure> {
    Ok(match (body, body_file) {
        (Some(b), _) => b.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| ClientError::Invalid(format!("cannot read {}: {e}", f.display())))?,
        (None, None) if keys.password_stdin => {
            if empty_ok {
                return Ok(String::new());
            }
            return Err(Failure(ClientError::Invalid(
                "standard input holds the password: give the body with --body or --body-file"
                    .into(),
            )));
        }
        (None, None) => {
            if crate::prompt::interactive() {
                eprintln!("Type the message; end it with Ctrl-D on a line of its own.");
            }
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| ClientError::Invalid(format!("cannot read the message: {e}")))?;
            s
        }
    })
}

/// Reports message `id`, just sent (`mail send`, `send-draft`, `reply`, `forward`).
async fn sent(c: &mut krypt7_client::Client, id: uuid::Uuid) -> Out {
    // Filed in Sent; the sync that follows carries it to this account's devices.
    let synced = c.sync().await.is_ok();
    let m = c
        .mailbox(None)?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(ClientError::NoSuchItem)?;
    Ok(json!({"id": id, "status": m.status, "reason": m.reason, "synced": synced}))
}

/// Runs one `mail` command.
pub(crate) async fn run(cli: &Cli, cmd: &MailCommand, keys: &Keys) -> Out {
    let mut c = open(cli)?;
    unlock(&mut c, keys)?;
    match cmd {
        MailCommand::Send { message } => {
            let id = c.send_mail(&message.draft(keys, false)?).await?;
            sent(&mut c, id).await
        }
        MailCommand::Ls { folder, unread } => {
            let _ = c.sync().await;
            let list: Vec<Value> = c
                .mailbox(folder.as_deref())?
                .iter()
                .filter(|m| !unread || !m.read)
                .map(|m| serde_json::to_value(m).unwrap_or_default())
                .collect();
            Ok(Value::Array(list))
        }
        MailCommand::Import { files, folder } => {
            let mut messages = Vec::new();
            for f in files {
                let bytes = std::fs::read(f).map_err(|e| {
                    ClientError::Invalid(format!("cannot read {}: {e}", f.display()))
                })?;
                if bytes.starts_with(b"From ") {
                    messages.extend(krypt7_client::mail::mbox_messages(&bytes));
                } else {
                    messages.push(bytes);
                }
            }
            let added = c.import_mail(&messages, folder).await?;
            let synced = c.sync().await.is_ok();
            Ok(json!({"read": messages.len(), "added": added, "folder": folder, "synced": synced}))
        }
        MailCommand::Save {
            id,
            index,
            out,
            force,
        } => {
            let d = c
                .download_attachment(parse_id(id)?, *index, out, *force)
                .await?;
            Ok(json!({"out": d.path, "resumed_from": d.resumed_from}))
        }
        MailCommand::Block { address } => {
            let moved = c.block_sender(address).await?;
            let synced = c.sync().await.is_ok();
            Ok(json!({"blocked": address, "moved_to_spam": moved, "synced": synced}))
        }
        MailCommand::Unblock { address } => {
            c.unblock_sender(address).await?;
            let synced = c.sync().await.is_ok();
            Ok(json!({"unblocked": address, "synced": synced}))
        }
        MailCommand::Blocked => {
            let _ = c.sync().await;
            Ok(json!(c.blocked_senders()?))
        }
        MailCommand::Search {
            query,
            folder,
            limit,
        } => {
            let _ = c.sync().await;
            let found = c.search_mail(query, folder.as_deref(), *limit)?;
            Ok(serde_json::to_value(found).unwrap_or_default())
        }
        MailCommand::Mark {
            id,
            read,
            unread,
            star,
            unstar,
            label,
            unlabel,
        } => {
            let id = parse_id(id)?;
            let either = |yes: bool, no: bool| (yes || no).then_some(yes);
            c.mark_mail(
                id,
                &krypt7_client::mail::MailMark {
                    read: either(*read, *unread),
                    starred: either(*star, *unstar),
                    add_labels: label.clone(),
                    remove_labels: unlabel.clone(),
                },
            )?;
            let synced = c.sync().await.is_ok();
            let m = c.mail_view(id)?;
            Ok(
                json!({"id": id, "read": m.read, "starred": m.starred, "labels": m.labels, "synced": synced}),
            )
        }
        MailCommand::Read { id } => {
            let m = c.read_mail(parse_id(id)?)?;
            let _ = c.sync().await;
            Ok(serde_json::to_value(m).unwrap_or_default())
        }
        MailCommand::Draft { id, message } => {
            let id = id.as_deref().map(parse_id).transpose()?;
            let id = c.save_draft(&message.draft(keys, true)?, id).await?;
            let synced = c.sync().await.is_ok();
            Ok(json!({"id": id, "status": "draft", "synced": synced}))
        }
        MailCommand::SendDraft { id } => {
            let id = c.send_draft(parse_id(id)?).await?;
            sent(&mut c, id).await
        }
        MailCommand::Reply {
            id,
            all,
            body,
            body_file,
        } => {
            let text = body_text(keys, body, body_file, true)?;
            let draft = c.reply_draft(parse_id(id)?, *all, &text).await?;
            let id = c.send_mail(&draft).await?;
            sent(&mut c, id).await
        }
        MailCommand::Forward {
            id,
            to,
            body,
            body_file,
        } => {
            let text = body_text(keys, body, body_file, true)?;
            let draft = c.forward_draft(parse_id(id)?, to.clone(), &text)?;
            let id = c.send_mail(&draft).await?;
            sent(&mut c, id).await
        }
        MailCommand::Export {
            mbox,
            folder,
            eml,
            id,
        } => {
            let (path, bytes) = match (mbox, eml, id) {
                (Some(p), _, _) => (p, c.export_mbox(folder.as_deref())?),
                (None, Some(p), Some(id)) => (p, c.export_eml(parse_id(id)?)?),
                _ => {
                    return Err(Failure(ClientError::Invalid(
                        "give --mbox FILE, or --eml FILE with --id".into(),
                    )));
                }
            };
            krypt7_client::write_private(path, &bytes)?;
            Ok(json!({"out": path, "bytes": bytes.len()}))
        }
        MailCommand::Mv { id, folder } => {
            let id = parse_id(id)?;
            c.move_mail(id, folder)?;
            let synced = c.sync().await.is_ok();
            Ok(json!({"id": id, "folder": folder, "synced": synced}))
        }
    }
}

/// A message list or a message, for a person (and for a pipe: mail has no older plain form
/// to keep).
pub(crate) fn render(cmd: &MailCommand, v: &Value) -> Option<String> {
    match cmd {
        MailCommand::Ls { .. } | MailCommand::Search { .. } => {
            let rows: Vec<Vec<String>> = v
                .as_array()?
                .iter()
                .map(|m| {
                    let unread = if m["read"] == Value::Bool(false) {
                        "● "
                    } else {
                        "  "
                    };
                    let who = if m["folder"] == "Sent" {
                        format!("to {}", join(&m["to"]))
                    } else {
                        text(&m["from"])
                    };
                    let mark = match m["status"].as_str() {
                        Some("queued") => " (waiting to be sent)",
                        Some("failed") => " (not delivered)",
                        Some("quarantined") => " (quarantined)",
                        _ => "",
                    };
                    vec![
                        format!(
                            "{unread}{}",
                            output::relative(m["date"].as_i64().unwrap_or(0))
                        ),
                        who,
                        format!("{}{mark}", text(&m["subject"])),
                        text(&m["folder"]),
                        text(&m["id"]),
                    ]
                })
                .collect();
            Some(if rows.is_empty() {
                "No messages.".into()
            } else {
                output::table(&["  WHEN", "FROM", "SUBJECT", "FOLDER", "ID"], &rows)
            })
        }
        MailCommand::Read { .. } => {
            let signature = match v["signature"].as_str() {
                Some("verified") => "signed by the sender's verified key",
                Some("pinned") => {
                    "signed by the sender's key as pinned on first sight (compare safety numbers to verify it)"
                }
                _ => "",
            };
            let mut out = vec![
                format!("From:    {}", text(&v["from"])),
                format!("To:      {}", join(&v["to"])),
            ];
            if v["cc"].as_array().is_some_and(|c| !c.is_empty()) {
                out.push(format!("Cc:      {}", join(&v["cc"])));
            }
            if v["bcc"].as_array().is_some_and(|c| !c.is_empty()) {
                out.push(format!("Bcc:     {}", join(&v["bcc"])));
            }
            out.push(format!("Subject: {}", text(&v["subject"])));
            out.push(format!(
                "Date:    {}",
                output::relative(v["date"].as_i64().unwrap_or(0))
            ));
            if !signature.is_empty() {
                out.push(format!("         {signature}"));
            }
            if let Some(r) = v["reason"].as_str() {
                out.push(format!("WARNING: {r}"));
            }
            for (i, a) in v["attachments"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                out.push(format!(
                    "Attached {i}: {} ({} bytes; krypt7 mail save ID --index {i} --out FILE)",
                    text(&a["name"]),
                    a["size"].as_u64().unwrap_or(0)
                ));
            }
            out.push(String::new());
            out.push(text(&v["text"]));
            Some(out.join("\n"))
        }
        _ => None,
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn join(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
