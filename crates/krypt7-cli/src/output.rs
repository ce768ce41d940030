//! What the CLI shows: `--json` as it is; otherwise plain lines when standard output is a
//! pipe or file (the scripted interface, unchanged), and for a person at a terminal aligned
//! tables, relative times and colour (unless `NO_COLOR` is set). Progress bars go to
//! standard error, only when it is a terminal and not with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use console::{Style, measure_text_width};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use krypt7_client::{Client, Progress};
use serde_json::Value;

use crate::{Cli, Command, FileCommand, ItemCommand, account::AccountCommand};

/// The text for a command's result on standard output.
pub fn render(cli: &Cli, v: &Value) -> String {
    if cli.json {
        v.to_string()
    } else if let Command::Mail { cmd, .. } = &cli.command
        && let Some(text) = crate::mail::render(cmd, v)
    {
        text
    } else if std::io::stdout().is_terminal() {
        for_person(cli, v).unwrap_or_else(|| human(v))
    } else {
        human(v)
    }
}

/// One result line (`sync --watch`, `folder watch`), as [`render`] makes it.
pub fn print_line(cli: &Cli, v: &Value) {
    let _ = writeln!(std::io::stdout(), "{}", render(cli, v));
}

/// Colour on a terminal, unless `NO_COLOR` is set to anything (https://no-color.org).
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn style(s: Style) -> Style {
    s.force_styling(colour())
}

/// Rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| measure_text_width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(measure_text_width(cell));
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        cells
            .into_iter()
            .zip(&widths)
            .enumerate()
            .map(|(n, (c, w))| {
                let pad = if n == last {
                    0
                } else {
                    w.saturating_sub(measure_text_width(&c))
                };
                format!("{c}{}", " ".repeat(pad))
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let head = style(Style::new().bold());
    let mut out = vec![line(
        header
            .iter()
            .map(|h| head.apply_to(h).to_string())
            .collect(),
    )];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// "3 minutes ago", "in 2 days": a time (seconds since the epoch) from now.
pub fn relative(secs: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    relative_to(secs, now)
}

fn relative_to(secs: i64, now: i64) -> String {
    let d = now - secs;
    let n = d.unsigned_abs();
    if n < 45 {
        return "just now".into();
    }
    // Rounded to the nearest unit, each unit until the next reads better.
    let (size, unit) = match n {
        0..2_700 => (60, "minute"),
        2_700..79_200 => (3_600, "hour"),
        79_200..2_246_400 => (86_400, "day"),
        2_246_400..29_808_000 => (2_629_800, "month"),
        _ => (31_557_600, "year"),
    };
    let count = ((n + size / 2) / size).max(1);
    let plural = if count == 1 { "" } else { "s" };
    if d >= 0 {
        format!("{count} {unit}{plural} ago")
    } else {
        format!("in {count} {unit}{plural}")
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn when(v: &Value) -> String {
    v.as_i64().map(relative).unwrap_or_default()
}

fn size(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

/// Items: title first, then what they are, where they are and their id (to copy).
fn item_rows(v: &Value) -> Option<String> {
    let items = v.as_array()?;
    let dim = style(Style::new().dim());
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let star = if i["favorite"] == Value::Bool(true) {
                "★ "
            } else {
                ""
            };
            let files = i["files"].as_array().map_or(0, Vec::len);
            let kind = match (text(&i["kind"]).as_str(), files) {
                ("file", _) => format!(
                    "file, {}",
                    size(i["files"][0]["size"].as_u64().unwrap_or_default())
                ),
                (k, 0) => k.to_string(),
                (k, n) => format!("{k}, {n} file{}", if n == 1 { "" } else { "s" }),
            };
            vec![
                format!("{star}{}", text(&i["title"])),
                kind,
                text(&i["folder"]),
                dim.apply_to(text(&i["id"])).to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return Some("No items.".into());
    }
    Some(table(&["TITLE", "KIND", "FOLDER", "ID"], &rows))
}

/// A result shaped for a person at a terminal, where the command has one.
fn for_person(cli: &Cli, v: &Value) -> Option<String> {
    let list = |header: &[&str], row: &dyn Fn(&Value) -> Vec<String>| {
        let rows: Vec<Vec<String>> = v.as_array()?.iter().map(row).collect();
        Some(if rows.is_empty() {
            "None.".into()
        } else {
            table(header, &rows)
        })
    };
    match &cli.command {
        Command::Item(ItemCommand::List { .. }) | Command::Search { .. } => item_rows(v),
        Command::File {
            cmd: FileCommand::Ls,
            ..
        } => item_rows(v),
        Command::Item(ItemCommand::History { .. }) => list(&["REPLACED", "TITLE", ""], &|h| {
            vec![
                when(&h["replaced_at"]),
                text(&h["title"]),
                if h["trashed"] == Value::Bool(true) {
                    "(in the trash)".into()
                } else {
                    String::new()
                },
            ]
        }),
        Command::Account {
            cmd: AccountCommand::Sessions,
            ..
        } => list(&["DEVICE", "SIGNED IN", "LAST SEEN", "ID"], &|s| {
            let this = if s["current"] == Value::Bool(true) {
                style(Style::new().green())
                    .apply_to(" (this device)")
                    .to_string()
            } else {
                String::new()
            };
            vec![
                format!("{}{this}", text(&s["device_name"])),
                when(&s["created_at"]),
                when(&s["last_seen_at"]),
                text(&s["session_id"]),
            ]
        }),
        Command::Account {
            cmd: AccountCommand::Attempts,
            ..
        } => list(&["WHEN", "FROM", "WHAT"], &|a| {
            vec![when(&a["at"]), text(&a["ip"]), text(&a["reason"])]
        }),
        Command::PublicKeys { .. } if v.is_array() => {
            list(&["USER", "FINGERPRINT", "VERIFIED"], &|p| {
                vec![
                    text(&p["username"]),
                    text(&p["fingerprint"]),
                    if p["verified"] == Value::Bool(true) {
                        style(Style::new().green()).apply_to("yes").to_string()
                    } else {
                        "no (pinned on first sight)".into()
                    },
                ]
            })
        }
        Command::Folders { .. } | Command::Tags { .. } => list(&["NAME", "ITEMS"], &|l| {
            vec![text(&l["name"]), text(&l["items"])]
        }),
        Command::Kinds => list(&["KIND", "FIELDS"], &|k| {
            vec![
                text(&k["kind"]),
                k["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|f| f["name"].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
            ]
        }),
        // Details: one aligned "name  value" line each.
        _ => {
            let o = v.as_object()?;
            if o.contains_key("secret_key") || o.contains_key("export") || o.contains_key("session")
            {
                return None;
            }
            let key = style(Style::new().dim());
            let rows: Vec<Vec<String>> = o
                .iter()
                .map(|(k, v)| vec![key.apply_to(k.replace('_', " ")).to_string(), text(v)])
                .collect();
            let width = rows
                .iter()
                .map(|r| measure_text_width(&r[0]))
                .max()
                .unwrap_or(0);
            Some(
                rows.iter()
                    .map(|r| {
                        let pad = width - measure_text_width(&r[0]);
                        format!("{}{}  {}", r[0], " ".repeat(pad), r[1])
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        }
    }
}

/// The plain text of a result (pipes and files: the scripted interface's human form).
pub fn human(v: &Value) -> String {
    match v {
        Value::Object(o) if o.contains_key("secret_key") => format!(
            "Account created. Your Secret Key (shown once; keep it with your Emergency Kit):\n\n  {}\n",
            o["secret_key"].as_str().unwrap_or_default()
        ),
        Value::Object(o) if o.contains_key("export") => {
            o["export"].as_str().unwrap_or_default().to_string()
        }
        Value::Object(o) if o.contains_key("imported") && o.contains_key("notes") => {
            match serde_json::from_value::<krypt7_client::import::Report>(v.clone()) {
                Ok(r) => crate::import::text(&r, o["dry_run"] == true),
                Err(e) => e.to_string(),
            }
        }
        Value::Object(o) if o.contains_key("session") => format!(
            "Unlocked. To use this session in the shell:\n  export KRYPT7_SESSION={}",
            o["session"].as_str().unwrap_or_default()
        ),
        Value::Array(items) => items
            .iter()
            .map(|i| match (i.get("id"), i.get("name"), i.get("fields")) {
                (None, Some(name), _) => {
                    format!("{:<24}  {}", name.as_str().unwrap_or(""), i["items"])
                }
                (None, None, Some(Value::Array(fields))) => format!(
                    "{:<8}  {}",
                    i["kind"].as_str().unwrap_or(""),
                    fields
                        .iter()
                        .filter_map(|f| f["name"].as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => format!(
                    "{}  {:<8}  {}",
                    i["id"].as_str().unwrap_or(""),
                    i["kind"].as_str().unwrap_or(""),
                    i["title"].as_str().unwrap_or("")
                ),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    if let Value::String(s) = v {
                        s.clone()
                    } else {
                        v.to_string()
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes `cmd`'s manual page and one per subcommand, at any depth (`krypt7-item-add.1`),
/// into `dir`; returns how many.
pub fn man_pages(cmd: clap::Command, dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    fn page(cmd: clap::Command, name: String, dir: &std::path::Path) -> std::io::Result<usize> {
        let cmd = cmd.name(name.clone()).bin_name(name.replace('-', " "));
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.1")), out)?;
        let mut n = 1;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() != "help" {
                n += page(sub.clone(), format!("{name}-{}", sub.get_name()), dir)?;
            }
        }
        Ok(n)
    }
    page(cmd, "krypt7".into(), dir)
}

/// A spinner with `message` and the time spent, on standard error, for work that reports no
/// progress of its own (an export); it goes when dropped. Terminal only, not with `--json`.
pub fn spinner(cli: &Cli, message: &str) -> Option<Spinner> {
    if cli.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(s) = ProgressStyle::with_template("{spinner} {msg}… {elapsed}") {
        bar.set_style(s);
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(Spinner(bar))
}

/// See [`spinner`].
pub struct Spinner(ProgressBar);

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// What a bar shows: one kind of work at a time (a sync pulls, then pushes).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Pulling,
    Pushing,
    Uploading,
    Downloading,
    Importing,
}

/// Progress bars on standard error for a person at a terminal: transfers with their size,
/// rate and time left, a sync's items. Nothing with `--json` or when standard error is not
/// a terminal (scripts see none).
pub fn show_progress(cli: &Cli, c: &mut Client) {
    if cli.json || !std::io::stderr().is_terminal() {
        return;
    }
    let current: Arc<Mutex<Option<(Work, ProgressBar)>>> = Arc::default();
    c.on_progress(move |p| {
        let (work, done, total) = match p {
            Progress::Pulling { items } => (Work::Pulling, items as u64, None),
            Progress::Pushing { done, total } => (Work::Pushing, done as u64, Some(total as u64)),
            Progress::Uploading { done, total, .. } => (Work::Uploading, done, Some(total)),
            Progress::Downloading { done, total, .. } => (Work::Downloading, done, Some(total)),
            Progress::Importing { done, total } => {
                (Work::Importing, done as u64, Some(total as u64))
            }
        };
        let Ok(mut current) = current.lock() else {
            return;
        };
        if current.as_ref().is_none_or(|(w, _)| *w != work) {
            if let Some((_, old)) = current.take() {
                old.finish();
            }
            *current = Some((work, bar(work, total)));
        }
        let Some((_, bar)) = current.as_ref() else {
            return;
        };
        bar.set_position(done);
        if let Progress::Uploading { rate, .. } | Progress::Downloading { rate, .. } = p {
            let left = total.unwrap_or(done).saturating_sub(done);
            let eta = if rate == 0 {
                "—".to_string()
            } else {
                format!(
                    "{}",
                    indicatif::HumanDuration(Duration::from_secs(left.div_ceil(rate)))
                )
            };
            bar.set_message(format!("{}/s, {eta} left", size(rate)));
        }
        if total.is_some_and(|t| done >= t) {
            bar.finish();
        }
    });
}

fn bar(work: Work, total: Option<u64>) -> ProgressBar {
    let (label, template) = match work {
        Work::Pulling => ("Pulling", "{prefix} {spinner} {pos} item(s) received"),
        Work::Pushing => ("Pushing", "{prefix} [{bar:30}] {pos}/{len} item(s)"),
        Work::Importing => ("Importing", "{prefix} [{bar:30}] {pos}/{len} item(s)"),
        Work::Uploading => (
            "Uploading",
            "{prefix} [{bar:30}] {bytes}/{total_bytes} ({percent}%) {msg}",
        ),
        Work::Downloading => (
            "Downloading",
            "{prefix} [{bar:30}] {bytes}/{total_bytes} ({percent}%) {msg}",
        ),
    };
    let bar = match total {
        Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    if let Ok(s) = ProgressStyle::with_template(template) {
        bar.set_style(s.progress_chars("=> "));
    }
    bar.set_prefix(label);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_manual_page() {
        use clap::CommandFactory;
        let dir = std::env::temp_dir().join(format!("krypt7-man-{}", std::process::id()));
        let n = man_pages(crate::Cli::command(), &dir).unwrap();
        let page = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(page("krypt7.1").contains(".TH krypt7 1"));
        assert!(page("krypt7-item-add.1").contains("krypt7 item add"));
        assert!(page("krypt7-account-delete.1").contains("\\-\\-confirm"));
        // Each visible command and subcommand has its page; hidden ones none.
        assert!(n > 40, "{n} pages");
        assert!(!dir.join("krypt7-man.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn relative_times_read_as_a_person_says_them() {
        let now = 1_800_000_000;
        assert_eq!(relative_to(now - 10, now), "just now");
        assert_eq!(relative_to(now - 60, now), "1 minute ago");
        assert_eq!(relative_to(now - 3 * 60, now), "3 minutes ago");
        assert_eq!(relative_to(now - 2 * 3_600, now), "2 hours ago");
        assert_eq!(relative_to(now - 86_400, now), "1 day ago");
        assert_eq!(relative_to(now - 20 * 86_400, now), "20 days ago");
        assert_eq!(relative_to(now - 40 * 86_400, now), "1 month ago");
        assert_eq!(relative_to(now - 60 * 86_400, now), "2 months ago");
        assert_eq!(relative_to(now - 3 * 365 * 86_400, now), "3 years ago");
        assert_eq!(relative_to(now + 2 * 86_400, now), "in 2 days");
    }

    #[test]
    fn columns_line_up_whatever_the_cell_widths() {
        let t = table(
            &["A", "BB"],
            &[
                vec!["long cell".into(), "x".into()],
                vec!["é".into(), "y".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        // Without colour (tests run without a terminal), columns start at the same place.
        let second = |l: &str| l.char_indices().nth(11).map(|(i, _)| l[i..].to_string());
        assert_eq!(lines.len(), 3);
        assert_eq!(second(lines[0]).as_deref(), Some("BB"));
        assert_eq!(second(lines[1]).as_deref(), Some("x"));
        assert_eq!(second(lines[2]).as_deref(), Some("y"));
    }
}
