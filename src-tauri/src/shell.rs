//! Desktop integration: the native menu bar, the tray icon, the global quick-search
//! shortcut and its window, conflict notifications, and locking when the screen locks or
//! the system sleeps. What the UI must do arrives as the `app-action` event; the UI
//! decides (e.g. a screen lock locks only if the user's setting says so).

use serde::Serialize;
use specta::Type;
use tauri::{
    AppHandle, Manager, WebviewUrl, WebviewWindowBuilder,
    menu::{Menu, MenuItem, PredefinedMenuItem, Submenu},
    tray::TrayIconBuilder,
};
use tauri_plugin_global_shortcut::{Code, GlobalShortcutExt, Modifiers, Shortcut, ShortcutState};

/// Something the user asked of the app outside its page: a menu, the tray, the system.
#[derive(Clone, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Lock,
    NewItem,
    Search,
    Settings,
    /// The screen locked or the system is going to sleep.
    ScreenLocked,
    /// Show this item (from the quick-search window).
    ShowItem(String),
}

/// Sent to the main window as the `app-action` event.
#[derive(Clone, Serialize, Type, tauri_specta::Event)]
pub struct AppAction {
    pub action: Action,
}

/// The quick-search window's label; the UI mounts its quick-search page there.
pub const QUICK: &str = "quick";

/// The global shortcut opening quick search: Ctrl+Shift+K (⌘⇧K on macOS).
pub fn quick_shortcut() -> Shortcut {
    #[cfg(target_os = "macos")]
    let m = Modifiers::SUPER | Modifiers::SHIFT;
    #[cfg(not(target_os = "macos"))]
    let m = Modifiers::CONTROL | Modifiers::SHIFT;
    Shortcut::new(Some(m), Code::KeyK)
}

/// Sends `action` to the main window.
pub fn send(app: &AppHandle, action: Action) {
    send_to(app, "main", action);
}

pub fn send_to(app: &AppHandle, window: &str, action: Action) {
    let _ = tauri_specta::Event::emit_to(&AppAction { action }, app, window);
}

/// Brings the main window forward.
pub fn show_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// Opens (or brings back) the small always-on-top quick-search window.
pub fn open_quick(app: &AppHandle) -> tauri::Result<()> {
    if let Some(w) = app.get_webview_window(QUICK) {
        // The page starts a new search (it cleared the last one when it hid).
        send_to(app, QUICK, Action::Search);
        w.show()?;
        w.set_focus()?;
        return Ok(());
    }
    WebviewWindowBuilder::new(app, QUICK, WebviewUrl::App("index.html#quick".into()))
        .title("KRYPT7 quick search")
        .inner_size(560.0, 380.0)
        .resizable(false)
        .always_on_top(true)
        .skip_taskbar(true)
        .center()
        .focused(true)
        .build()?;
    Ok(())
}

/// Locks the quick-search window's page too: it clears what it copied, if still on the
/// clipboard, and reloads, so no decrypted result stays in it.
pub fn lock_quick(app: &AppHandle) {
    if app.get_webview_window(QUICK).is_some() {
        send_to(app, QUICK, Action::Lock);
    }
}

fn on_menu(app: &AppHandle, id: &str) {
    let action = match id {
        "lock" => Action::Lock,
        "new-item" => Action::NewItem,
        "search" => Action::Search,
        "settings" => Action::Settings,
        "open" => {
            show_main(app);
            return;
        }
        "quick" => {
            let _ = open_quick(app);
            return;
        }
        "quit" => {
            app.exit(0);
            return;
        }
        _ => return,
    };
    show_main(app);
    send(app, action);
}

/// The menu bar, the tray icon and the global shortcut, set up once at start.
pub fn install(app: &tauri::App) -> tauri::Result<()> {
    let h = app.handle();
    let item =
        |id: &str, text: &str, accel: Option<&str>| MenuItem::with_id(h, id, text, true, accel);
    let file = Submenu::with_items(
        h,
        "File",
        true,
        &[
            &item("new-item", "New item", Some("CmdOrCtrl+N"))?,
            &item("quick", "Quick search", Some("CmdOrCtrl+Shift+K"))?,
            &PredefinedMenuItem::separator(h)?,
            &item("lock", "Lock", Some("CmdOrCtrl+L"))?,
            &item("quit", "Quit", Some("CmdOrCtrl+Q"))?,
        ],
    )?;
    let edit = Submenu::with_items(
        h,
        "Edit",
        true,
        &[
            &PredefinedMenuItem::undo(h, None)?,
            &PredefinedMenuItem::redo(h, None)?,
            &PredefinedMenuItem::separator(h)?,
            &PredefinedMenuItem::cut(h, None)?,
            &PredefinedMenuItem::copy(h, None)?,
            &PredefinedMenuItem::paste(h, None)?,
            &PredefinedMenuItem::select_all(h, None)?,
        ],
    )?;
    let view = Submenu::with_items(
        h,
        "View",
        true,
        &[
            &item("search", "Search", Some("CmdOrCtrl+F"))?,
            &item("settings", "Settings", Some("CmdOrCtrl+,"))?,
        ],
    )?;
    app.set_menu(Menu::with_items(h, &[&file, &edit, &view])?)?;
    app.on_menu_event(|app, e| on_menu(app, e.id().as_ref()));

    let tray_menu = Menu::with_items(
        h,
        &[
            &item("open", "Open KRYPT7", None)?,
            &item("quick", "Quick search", None)?,
            &item("lock", "Lock", None)?,
            &PredefinedMenuItem::separator(h)?,
            &item("quit", "Quit", None)?,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id("krypt7")
        .tooltip("KRYPT7")
        .menu(&tray_menu)
        .on_menu_event(|app, e| on_menu(app, e.id().as_ref()));
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;

    let quick = quick_shortcut();
    h.plugin(
        tauri_plugin_global_shortcut::Builder::new()
            .with_handler(move |app, s, e| {
                if s == &quick && e.state() == ShortcutState::Pressed {
                    let _ = open_quick(app);
                }
            })
            .build(),
    )?;
    // Another program may hold the shortcut: the app works on without it.
    if let Err(e) = h.global_shortcut().register(quick) {
        eprintln!("krypt7: the quick-search shortcut is not available: {e}");
    }
    watch_screen_lock(h.clone());
    Ok(())
}

/// Tells the UI when the screen locks or the system is about to sleep: the desktop's
/// screensaver (`ActiveChanged(true)` from org.freedesktop.ScreenSaver or
/// org.gnome.ScreenSaver on the session bus) and logind (`PrepareForSleep(true)` and this
/// session's `Lock` on the system bus). A bus that is missing is skipped.
#[cfg(target_os = "linux")]
fn watch_screen_lock(app: AppHandle) {
    use futures_util::StreamExt;
    async fn signals(
        conn: zbus::Result<zbus::Connection>,
        rules: &[(&str, &str)],
    ) -> Option<zbus::MessageStream> {
        let conn = conn.ok()?;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.ok()?;
        for (interface, member) in rules {
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .interface(*interface)
                .ok()?
                .member(*member)
                .ok()?
                .build();
            dbus.add_match_rule(rule).await.ok()?;
        }
        Some(zbus::MessageStream::from(conn))
    }
    /// Whether a signal means "lock now".
    fn locks(m: &zbus::Message) -> bool {
        let h = m.header();
        match h.member().map(|m| m.as_str()) {
            Some("ActiveChanged") | Some("PrepareForSleep") => {
                m.body().deserialize::<bool>().unwrap_or(false)
            }
            Some("Lock") => {
                h.interface().map(|i| i.as_str()) == Some("org.freedesktop.login1.Session")
            }
            _ => false,
        }
    }
    tauri::async_runtime::spawn(async move {
        let session = signals(
            zbus::Connection::session().await,
            &[
                ("org.freedesktop.ScreenSaver", "ActiveChanged"),
                ("org.gnome.ScreenSaver", "ActiveChanged"),
            ],
        );
        let system = signals(
            zbus::Connection::system().await,
            &[
                ("org.freedesktop.login1.Manager", "PrepareForSleep"),
                ("org.freedesktop.login1.Session", "Lock"),
            ],
        );
        let (session, system) = tokio::join!(session, system);
        let mut all = futures_util::stream::select_all(session.into_iter().chain(system));
        while let Some(m) = all.next().await {
            if m.as_ref().is_ok_and(locks) {
                send(&app, Action::ScreenLocked);
            }
        }
    });
}

#[cfg(not(target_os = "linux"))]
fn watch_screen_lock(_app: AppHandle) {}

/// A desktop notification; the text never names an item (it may show on a lock screen).
pub fn notify(app: &AppHandle, body: &str) {
    use tauri_plugin_notification::NotificationExt;
    let _ = app
        .notification()
        .builder()
        .title("KRYPT7")
        .body(body)
        .show();
}
