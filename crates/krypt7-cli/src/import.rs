//! `krypt7 import`: another manager's export into the vault, with its report.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use krypt7_client::{
    ClientError,
    import::{Format, ImportOptions, Outcome, Report},
};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::{Cli, Failure, Keys, open, output, prompt, read_password, unlock};

/// The largest file read (a vault export is far smaller).
const MAX_FILE: u64 = 1 << 30;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The export file.
    file: PathBuf,
    /// Its format, when its content does not tell: krypt7 (KRYPT7's own export, JSON or
    /// sealed), bitwarden, chrome (or edge), firefox, safari, lastpass, keepassxc-csv,
    /// nordpass, dashlane, csv.
    #[arg(long)]
    format: Option<String>,
    /// The export's own password (a password-protected or sealed export) on standard input. The
    /// vault unlocks through KRYPT7_SESSION, or by asking at a terminal.
    #[arg(long)]
    password_stdin: bool,
    /// Read and report only: nothing is added.
    #[arg(long)]
    dry_run: bool,
    /// For --format csv: KRYPT7 field=column header, comma-separated
    /// (`title=Name,username=Login,password=Secret,url=Site,folder=Group`).
    #[arg(long)]
    map: Option<String>,
    /// A session from `krypt7 unlock`.
    #[arg(long, env = "KRYPT7_SESSION", hide_env_values = true)]
    session: Option<String>,
}

pub async fn run(cli: &Cli, a: &ImportArgs) -> Result<Value, Failure> {
    let format = match &a.format {
        Some(f) => Some(Format::parse(f).ok_or_else(|| {
            ClientError::Invalid(format!(
                "unknown import format {f:?} (known: {})",
                Format::ALL.map(Format::name).join(", ")
            ))
        })?),
        None => None,
    };
    let mut options = ImportOptions::default();
    for pair in a.map.iter().flat_map(|m| m.split(',')) {
        let (field, column) = pair.split_once('=').ok_or_else(|| {
            ClientError::Invalid(format!("--map takes field=column pairs, got {pair:?}"))
        })?;
        options
            .map
            .insert(field.trim().to_string(), column.trim().to_string());
    }
    let bytes = read_file(&a.file)?;
    if krypt7_client::import::needs_password(&bytes) {
        options.password = Some(if a.password_stdin {
            read_password()?
        } else if prompt::interactive() {
            prompt::ask("The export's password")?
        } else {
            return Err(ClientError::Invalid(
                "this export is password-protected: give its password with --password-stdin".into(),
            )
            .into());
        });
    }
    let mut c = open(cli)?;
    let keys = Keys {
        password_stdin: false,
        secret_key: None,
        session: a.session.clone(),
    };
    unlock(&mut c, &keys)?;
    output::show_progress(cli, &mut c);
    let working = output::spinner(cli, "Reading the export");
    let report = c.import_file(&bytes, format, &options, a.dry_run, &AtomicBool::new(false))?;
    drop(working);
    if !a.dry_run && !report.imported.is_empty() {
        // Sent now if the server is reachable; otherwise at the next sync.
        let _ = c.sync().await;
    }
    let mut v = serde_json::to_value(&report).map_err(|e| ClientError::Invalid(e.to_string()))?;
    v["dry_run"] = a.dry_run.into();
    Ok(v)
}

fn read_file(path: &PathBuf) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let cannot =
        |e: std::io::Error| ClientError::Invalid(format!("cannot read {}: {e}", path.display()));
    let len = std::fs::metadata(path).map_err(cannot)?.len();
    if len > MAX_FILE {
        return Err(ClientError::Invalid(format!(
            "{} is {len} bytes: larger than any export this reads ({MAX_FILE} bytes)",
            path.display()
        ))
        .into());
    }
    Ok(Zeroizing::new(std::fs::read(path).map_err(cannot)?))
}

/// The report for a person.
pub fn text(r: &Report, dry_run: bool) -> String {
    let counts = |m: &std::collections::BTreeMap<krypt7_client::import::ImportKind, usize>| {
        let parts: Vec<String> = m
            .iter()
            .map(|(k, n)| format!("{n} {}", kind_name(*k, *n)))
            .collect();
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(", ")
        }
    };
    let mut out = format!("Read from the {} export: {}.\n", r.format, counts(&r.read));
    out.push_str(&format!(
        "{}: {}.",
        if dry_run { "Would import" } else { "Imported" },
        counts(&r.imported)
    ));
    if r.duplicates > 0 {
        out.push_str(&format!(
            " {} already in the vault (from an earlier import): not added again.",
            r.duplicates
        ));
    }
    out.push('\n');
    let items = |n: &krypt7_client::import::Note| {
        let more = n.count.saturating_sub(n.items.len());
        let mut s = n.items.join(", ");
        if more > 0 {
            s.push_str(&format!(" and {more} more"));
        }
        format!("{} item(s): {s}", n.count)
    };
    let kept: Vec<String> = r
        .notes
        .iter()
        .filter_map(|n| match &n.outcome {
            Outcome::Custom { name } => Some(format!(
                "  {} → custom field {name:?} ({})",
                n.field,
                items(n)
            )),
            Outcome::NotCarried { .. } => None,
        })
        .collect();
    if !kept.is_empty() {
        out.push_str("Kept as custom fields:\n");
        out.push_str(&kept.join("\n"));
        out.push('\n');
    }
    let dropped: Vec<String> = r
        .notes
        .iter()
        .filter_map(|n| match &n.outcome {
            Outcome::NotCarried { why } => Some(format!("  {}: {why} ({})", n.field, items(n))),
            Outcome::Custom { .. } => None,
        })
        .collect();
    if !dropped.is_empty() {
        out.push_str("Not carried over:\n");
        out.push_str(&dropped.join("\n"));
        out.push('\n');
    }
    for remark in &r.remarks {
        out.push_str(&format!("Note: {remark}\n"));
    }
    out
}

fn kind_name(k: krypt7_client::import::ImportKind, n: usize) -> &'static str {
    use krypt7_client::import::ImportKind as K;
    match (k, n == 1) {
        (K::Login, true) => "login",
        (K::Login, false) => "logins",
        (K::Note, true) => "note",
        (K::Note, false) => "notes",
        (K::Card, true) => "card",
        (K::Card, false) => "cards",
        (K::Identity, true) => "identity",
        (K::Identity, false) => "identities",
        (K::Contact, true) => "contact",
        (K::Contact, false) => "contacts",
    }
}
