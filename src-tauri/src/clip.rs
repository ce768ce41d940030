//! Copied secrets: written to the system clipboard from the shell and cleared after the
//! chosen time if the clipboard still holds them, or at once when the app locks. The
//! timer lives here, not in a page: locking reloads the page, and the quick-search window
//! copies too. Only a SHA-256 of the copied value is kept, to recognise it later.

use std::{sync::Mutex, time::Duration};

use tauri::{AppHandle, Manager};
use tauri_plugin_clipboard_manager::ClipboardExt;
use zeroize::Zeroizing;

fn digest(s: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The copy waiting to be cleared, if any.
#[derive(Default)]
pub struct Pending {
    generation: u64,
    digest: Option<[u8; 32]>,
}

impl Pending {
    /// Records a copy of `value`; returns its generation.
    pub fn copied(&mut self, value: &str) -> u64 {
        self.generation += 1;
        self.digest = Some(digest(value));
        self.generation
    }

    /// Whether to clear the clipboard, which now holds `current`: only if it still holds
    /// copy `generation` (`None`: whichever copy waits). A later copy keeps its own timer;
    /// anything else ends the wait.
    pub fn take(&mut self, generation: Option<u64>, current: Option<&str>) -> bool {
        if generation.is_some_and(|g| g != self.generation) {
            return false;
        }
        match self.digest.take() {
            Some(d) => current.is_some_and(|c| digest(c) == d),
            None => false,
        }
    }
}

/// The app's one pending copy (managed state).
#[derive(Default)]
pub struct Clip(Mutex<Pending>);

/// The clipboard the secrets are written through, kept for the app's life (on X11 the
/// copy is served by its thread while the app runs).
static CLIPBOARD: Mutex<Option<arboard::Clipboard>> = Mutex::new(None);

/// Writes a secret with the hints each platform's clipboard managers and cloud clipboards
/// honour, so that they do not keep it: `x-kde-passwordManagerHint: secret` on Linux,
/// `ExcludeClipboardContentFromMonitorProcessing` on Windows (no history, no cloud),
/// `org.nspasteboard.ConcealedType` on macOS.
fn write_secret(value: &str) -> Result<(), String> {
    let mut guard = CLIPBOARD
        .lock()
        .map_err(|_| "the clipboard is poisoned".to_string())?;
    if guard.is_none() {
        *guard = Some(arboard::Clipboard::new().map_err(|e| format!("cannot copy: {e}"))?);
    }
    let Some(clipboard) = guard.as_mut() else {
        return Err("cannot copy: no clipboard".into());
    };
    let set = clipboard.set();
    #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
    let set = arboard::SetExtLinux::exclude_from_history(set);
    #[cfg(windows)]
    let set = arboard::SetExtWindows::exclude_from_monitoring(set);
    #[cfg(target_os = "macos")]
    let set = arboard::SetExtApple::exclude_from_history(set);
    set.text(value).map_err(|e| format!("cannot copy: {e}"))
}

/// Copies `value` (marked concealed) and clears it after `seconds` unless something else
/// was copied since.
pub fn copy(app: &AppHandle, value: &str, seconds: u32) -> Result<(), String> {
    write_secret(value)?;
    let generation = app
        .state::<Clip>()
        .0
        .lock()
        .map_err(|_| "the clipboard state is poisoned".to_string())?
        .copied(value);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_secs(seconds.into())).await;
        clear(&app, Some(generation));
    });
    Ok(())
}

/// Clears the clipboard if it still holds copy `generation` (`None`: the pending one).
pub fn clear(app: &AppHandle, generation: Option<u64>) {
    let current = app.clipboard().read_text().ok().map(Zeroizing::new);
    let ours = app
        .state::<Clip>()
        .0
        .lock()
        .map(|mut p| p.take(generation, current.as_deref().map(String::as_str)))
        .unwrap_or(false);
    if ours {
        let _ = app.clipboard().write_text("");
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;

    #[test]
    fn clears_only_what_it_copied_and_only_once() {
        let mut p = Pending::default();
        let g = p.copied("hunter2");
        assert!(p.take(Some(g), Some("hunter2")));
        assert!(!p.take(Some(g), Some("hunter2")), "cleared once");
        // The user copied something else meanwhile: left alone.
        let g = p.copied("hunter2");
        assert!(!p.take(Some(g), Some("my own text")));
        assert!(!p.take(None, Some("hunter2")), "that ended the wait");
    }

    #[test]
    fn a_later_copy_keeps_its_own_time_and_lock_clears_whichever_waits() {
        let mut p = Pending::default();
        let first = p.copied("one");
        let second = p.copied("two");
        assert!(
            !p.take(Some(first), Some("two")),
            "the first timer leaves the second copy"
        );
        assert!(p.take(Some(second), Some("two")));
        p.copied("three");
        assert!(
            p.take(None, Some("three")),
            "locking clears the waiting copy"
        );
        assert!(!p.take(None, None), "nothing waits");
    }
}
