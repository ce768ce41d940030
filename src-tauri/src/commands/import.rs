//! Importing another manager's export (`docs/import.md`): a preview (what would be
//! imported, nothing written), the import itself with its progress, and cancelling it
//! (nothing is then added).

use std::sync::atomic::Ordering;

use krypt7_client::import::{Format, ImportOptions, Outcome, Report};

use crate::*;

/// An import's progress: items sealed, of how many.
#[derive(Clone, Serialize, Type, tauri_specta::Event)]
pub struct ImportProgress {
    pub done: u32,
    pub total: u32,
}

/// Items of one kind.
#[derive(Serialize, Type)]
pub struct KindCount {
    pub kind: String,
    pub count: u32,
}

/// A source field that did not map one to one: kept as a custom field (`kept_as`) or not
/// carried (`why`), on `count` items (the first few named).
#[derive(Serialize, Type)]
pub struct ImportNote {
    pub field: String,
    pub kept_as: Option<String>,
    pub why: Option<String>,
    pub count: u32,
    pub items: Vec<String>,
}

/// What an import read, added (or would add) and left out.
#[derive(Serialize, Type)]
pub struct ImportSummary {
    pub format: String,
    pub read: Vec<KindCount>,
    pub imported: Vec<KindCount>,
    pub duplicates: u32,
    pub notes: Vec<ImportNote>,
    pub remarks: Vec<String>,
    /// The file is password-protected and no password was given.
    pub needs_password: bool,
}

fn counts(
    m: &std::collections::BTreeMap<krypt7_client::import::ImportKind, usize>,
) -> Vec<KindCount> {
    m.iter()
        .map(|(k, n)| KindCount {
            kind: serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            count: *n as u32,
        })
        .collect()
}

fn summary(r: Report) -> ImportSummary {
    ImportSummary {
        format: r.format,
        read: counts(&r.read),
        imported: counts(&r.imported),
        duplicates: r.duplicates as u32,
        notes: r
            .notes
            .into_iter()
            .map(|n| {
                let (kept_as, why) = match n.outcome {
                    Outcome::Custom { name } => (Some(name), None),
                    Outcome::NotCarried { why } => (None, Some(why)),
                };
                ImportNote {
                    field: n.field,
                    kept_as,
                    why,
                    count: n.count as u32,
                    items: n.items,
                }
            })
            .collect(),
        remarks: r.remarks,
        needs_password: false,
    }
}

/// Reads the export at `path` (`format`, or the one its content shows; `password` for a
/// password-protected one) and, unless `preview`, adds its items to the vault, reporting
/// progress. A password-protected file without a password answers `needs_password`.
#[tauri::command]
#[specta::specta]
pub(crate) async fn import_file(
    app: State<'_, App>,
    handle: AppHandle,
    path: String,
    format: Option<String>,
    password: Option<String>,
    preview: bool,
) -> Out<ImportSummary> {
    let format = match format.filter(|f| !f.is_empty()) {
        Some(f) => {
            Some(Format::parse(&f).ok_or_else(|| invalid(format!("unknown import format {f:?}")))?)
        }
        None => None,
    };
    let bytes = zeroize::Zeroizing::new(std::fs::read(&path).map_err(|e| {
        invalid(format!(
            "cannot read {}: {e}",
            file_name(std::path::Path::new(&path))
        ))
    })?);
    let password = password.filter(|p| !p.is_empty());
    if password.is_none() && krypt7_client::import::needs_password(&bytes) {
        return Ok(ImportSummary {
            needs_password: true,
            ..summary(Report::default())
        });
    }
    let options = ImportOptions {
        password: password.map(zeroize::Zeroizing::new),
        ..ImportOptions::default()
    };
    app.import_cancel.store(false, Ordering::SeqCst);
    let report = with(&app, async |c| {
        let h = handle.clone();
        c.on_progress(move |p| {
            if let Progress::Importing { done, total } = p {
                let _ = tauri_specta::Event::emit(
                    &ImportProgress {
                        done: done as u32,
                        total: total as u32,
                    },
                    &h,
                );
            }
        });
        let r = c.import_file(&bytes, format, &options, preview, &app.import_cancel);
        if r.is_ok() && !preview {
            // Sent now if the server is reachable; otherwise at the next sync.
            let _ = c.sync().await;
        }
        Ok(r?)
    })
    .await?;
    Ok(summary(report))
}

/// Stops the import under way: it then adds nothing.
#[tauri::command]
#[specta::specta]
pub(crate) async fn import_cancel(app: State<'_, App>) -> Out<()> {
    app.import_cancel.store(true, Ordering::SeqCst);
    Ok(())
}
