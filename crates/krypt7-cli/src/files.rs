//! `krypt7 file …` (encrypted files and attachments) and `krypt7 folder watch` (a local
//! directory kept in step with a vault folder).

use std::path::PathBuf;

use clap::Subcommand;
use krypt7_client::{ClientError, ItemKind};
use serde_json::{Value, json};

use crate::{
    Cli, Failure, Keys, Out, items::item_json, open, output, parse_id, print_line, unlock,
};

#[derive(Subcommand)]
pub(crate) enum FileCommand {
    /// Encrypt and upload a file (resumes an interrupted upload of the same file).
    Put { path: PathBuf },
    /// Download, decrypt and check a file item's file (or an item's attachment); written
    /// only if its fingerprint matches.
    Get {
        id: String,
        #[arg(long)]
        out: PathBuf,
        /// Replace OUT if it exists (asked on a terminal).
        #[arg(long, visible_alias = "yes")]
        force: bool,
        /// Which of the item's files: 0 is a file item's own, attachments follow (see
        /// `item get`).
        #[arg(long, default_value_t = 0)]
        index: usize,
    },
    /// Encrypt and upload a file and attach it to any item.
    Attach { id: String, path: PathBuf },
    /// Remove file INDEX from an item (earlier versions in its history keep it).
    Detach { id: String, index: usize },
    /// File items.
    Ls,
    /// Move a file item to the trash (restorable; `item purge` deletes it for good).
    Rm { id: String },
}

#[derive(Subcommand)]
pub(crate) enum FolderCommand {
    /// Watch DIR until interrupted (--once: one pass, then exit). Prints each pass's changes.
    Watch {
        dir: PathBuf,
        /// The vault folder it mirrors (default: DIR's own name).
        #[arg(long)]
        name: Option<String>,
        /// One pass, then exit.
        #[arg(long)]
        once: bool,
        /// Wait until a file has not changed for this long before uploading it.
        #[arg(long, default_value_t = 1000)]
        settle_ms: u64,
    },
}

/// Runs one `file` command.
pub(crate) async fn run(cli: &Cli, cmd: &FileCommand, keys: &Keys) -> Out {
    let mut c = open(cli)?;
    unlock(&mut c, keys)?;
    output::show_progress(cli, &mut c);
    match cmd {
        FileCommand::Put { path } => {
            let up = c.upload_file(path).await?;
            // Offline, the item waits in the outbox; the content is already up.
            let synced = c.sync().await.is_ok();
            Ok(
                json!({"id": up.item, "chunks": up.chunks, "chunks_sent": up.chunks_sent, "synced": synced}),
            )
        }
        FileCommand::Get {
            id,
            out,
            force,
            index,
        } => {
            let id = parse_id(id)?;
            let force = *force
                || (out.exists()
                    && crate::prompt::interactive()
                    && crate::prompt::yes(&format!("{} exists. Replace it?", out.display())));
            let d = c.download_attachment(id, *index, out, force).await?;
            Ok(json!({"path": d.path, "resumed_from": d.resumed_from}))
        }
        FileCommand::Attach { id, path } => {
            let id = parse_id(id)?;
            c.attach_file(id, path).await?;
            let synced = c.sync().await.is_ok();
            let files = c.item(id)?.data.files.len();
            Ok(json!({"id": id, "files": files, "synced": synced}))
        }
        FileCommand::Detach { id, index } => {
            let id = parse_id(id)?;
            c.detach_file(id, *index)?;
            let synced = c.sync().await.is_ok();
            Ok(json!({"id": id, "synced": synced}))
        }
        FileCommand::Ls => Ok(Value::Array(
            c.items()?
                .iter()
                .filter(|i| i.data.kind == ItemKind::File && !i.data.trashed)
                .map(item_json)
                .collect(),
        )),
        FileCommand::Rm { id } => {
            c.trash_item(parse_id(id)?)?;
            Ok(json!({"trashed": true}))
        }
    }
}

/// Runs `folder watch`.
pub(crate) async fn folder(cli: &Cli, cmd: &FolderCommand, keys: &Keys) -> Out {
    let mut c = open(cli)?;
    unlock(&mut c, keys)?;
    let FolderCommand::Watch {
        dir,
        name,
        once,
        settle_ms,
    } = cmd;
    let label = match name {
        Some(n) => n.clone(),
        None => std::fs::canonicalize(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok_or_else(|| {
                Failure(ClientError::Invalid(format!(
                    "{} is not a directory with a name: give --name",
                    dir.display()
                )))
            })?,
    };
    if !dir.is_dir() {
        return Err(Failure(ClientError::Invalid(format!(
            "{} is not a directory",
            dir.display()
        ))));
    }
    let settle = std::time::Duration::from_millis(*settle_ms);
    if *once {
        let r = c.sync_folder(dir, &label, settle).await?;
        return Ok(serde_json::to_value(r).unwrap_or_default());
    }
    c.watch_folder(
        dir,
        &label,
        settle,
        |r| match r {
            Ok(r) if r.is_empty() => {}
            Ok(r) => print_line(cli, &serde_json::to_value(r).unwrap_or_default()),
            Err(e) => eprintln!("krypt7: {e}; retrying at the next change"),
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await?;
    Ok(Value::Null)
}
