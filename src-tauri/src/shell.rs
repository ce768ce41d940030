//! Desktop integration: the native menu bar, the tray icon, the global quick-search
//! shortcut and its window, conflict notifications, and locking when the screen locks or
//! the system sleeps. What the UI must do arrives as the `app-action` event; the UI
//! decides (e.g. a screen lock locks only if the user's setting says so).

use serde::{Deserialize, Serialize};
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

/// The UI's language, for what the shell shows itself: menus, tray, notifications,
/// window titles and dialogs. The page says which (`set_language`) as it starts and when
/// Settings change it; before that, the system's (`LC_ALL`, `LC_MESSAGES`, `LANG`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Fr,
}

/// The shell's words in one language.
pub struct Texts {
    file: &'static str,
    new_item: &'static str,
    quick: &'static str,
    lock: &'static str,
    quit: &'static str,
    edit: &'static str,
    undo: &'static str,
    redo: &'static str,
    cut: &'static str,
    copy: &'static str,
    paste: &'static str,
    select_all: &'static str,
    view: &'static str,
    search: &'static str,
    settings: &'static str,
    open: &'static str,
    quick_title: &'static str,
    pub ca_filter: &'static str,
    pub attempt_notice: &'static str,
}

const EN: Texts = Texts {
    file: "File",
    new_item: "New item",
    quick: "Quick search",
    lock: "Lock",
    quit: "Quit",
    edit: "Edit",
    undo: "Undo",
    redo: "Redo",
    cut: "Cut",
    copy: "Copy",
    paste: "Paste",
    select_all: "Select all",
    view: "View",
    search: "Search",
    settings: "Settings",
    open: "Open KRYPT7",
    quick_title: "KRYPT7 quick search",
    ca_filter: "CA certificate (PEM)",
    attempt_notice: "Someone tried to get into your account and was refused: see Account, Sign-in attempts",
};

const FR: Texts = Texts {
    file: "Fichier",
    new_item: "Nouvel élément",
    quick: "Recherche rapide",
    lock: "Verrouiller",
    quit: "Quitter",
    edit: "Édition",
    undo: "Annuler",
    redo: "Rétablir",
    cut: "Couper",
    copy: "Copier",
    paste: "Coller",
    select_all: "Tout sélectionner",
    view: "Affichage",
    search: "Rechercher",
    settings: "Réglages",
    open: "Ouvrir KRYPT7",
    quick_title: "Recherche rapide KRYPT7",
    ca_filter: "Certificat d’autorité (PEM)",
    attempt_notice: "Quelqu’un a tenté d’accéder à votre compte et a été refusé : voir Compte, Tentatives de connexion",
};

impl Lang {
    /// The system's language, from the locale variables (first one set wins).
    pub fn from_env() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .map_or(Lang::En, |v| Lang::from_locale(&v))
    }

    /// `fr_FR.UTF-8`, `fr`: French; anything else: English.
    fn from_locale(locale: &str) -> Lang {
        if locale == "fr" || locale.starts_with("fr_") || locale.starts_with("fr-") {
            Lang::Fr
        } else {
            Lang::En
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }

    /// The notification after a sync made conflict copies; it names no item.
    pub fn conflicts(self, n: u64) -> String {
        match (self, n) {
            (Lang::En, 1) => {
                "1 item changed on two devices at once: see Conflicts to resolve".into()
            }
            (Lang::En, n) => {
                format!("{n} items changed on two devices at once: see Conflicts to resolve")
            }
            (Lang::Fr, 0 | 1) => format!(
                "{n} élément modifié sur deux appareils à la fois : voir Conflits pour résoudre"
            ),
            (Lang::Fr, n) => format!(
                "{n} éléments modifiés sur deux appareils à la fois : voir Conflits pour résoudre"
            ),
        }
    }

    /// The notification for new mail: who sent it, never what it says.
    pub fn new_mail(self, from: &[String]) -> String {
        let mut names: Vec<&str> = vec![];
        for f in from {
            let name = f.split('@').next().unwrap_or(f);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let who = names.join(", ");
        match (self, from.len()) {
            (Lang::En, 1) => format!("New message from {who}"),
            (Lang::En, n) => format!("{n} new messages from {who}"),
            (Lang::Fr, 1) => format!("Nouveau message de {who}"),
            (Lang::Fr, n) => format!("{n} nouveaux messages de {who}"),
        }
    }
}

/// The language the shell speaks now, and how to relabel each menu and tray entry in
/// another (managed state).
pub struct Language {
    lang: std::sync::Mutex<Lang>,
    relabel: Vec<Relabel>,
}

/// Sets one entry's text from the words of a language.
type Relabel = Box<dyn Fn(&Texts) -> tauri::Result<()> + Send + Sync>;

pub fn lang(app: &AppHandle) -> Lang {
    app.try_state::<Language>()
        .map(|l| *l.lang.lock().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_default()
}

/// Relabels the menu bar and the tray in `lang` (nothing when it is already so). The
/// entries keep their identity (and their accelerators): only their text changes.
pub fn set_language(app: &AppHandle, lang: Lang) -> tauri::Result<()> {
    let state = app.state::<Language>();
    {
        let mut now = state.lang.lock().unwrap_or_else(|p| p.into_inner());
        if *now == lang {
            return Ok(());
        }
        *now = lang;
    }
    for relabel in &state.relabel {
        relabel(lang.texts())?;
    }
    if let Some(w) = app.get_webview_window(QUICK) {
        w.set_title(lang.texts().quick_title)?;
    }
    Ok(())
}

const TRAY: &str = "krypt7";

/// Builds the menus in `lang`, noting how to relabel each entry.
struct Menus<'a> {
    h: &'a AppHandle,
    t: &'static Texts,
    relabel: std::cell::RefCell<Vec<Relabel>>,
}

impl Menus<'_> {
    /// Notes how to give `entry` the text `text` picks from a language's words.
    fn keep<E: Clone + Send + Sync + 'static>(
        &self,
        entry: &E,
        text: fn(&Texts) -> &'static str,
        set: fn(&E, &str) -> tauri::Result<()>,
    ) {
        let entry = entry.clone();
        self.relabel
            .borrow_mut()
            .push(Box::new(move |t: &Texts| set(&entry, text(t))));
    }

    fn item(
        &self,
        id: &str,
        text: fn(&Texts) -> &'static str,
        accel: Option<&str>,
    ) -> tauri::Result<MenuItem<tauri::Wry>> {
        let item = MenuItem::with_id(self.h, id, text(self.t), true, accel)?;
        self.keep(&item, text, |e, s| e.set_text(s));
        Ok(item)
    }

    fn predefined(
        &self,
        make: fn(&AppHandle, Option<&str>) -> tauri::Result<PredefinedMenuItem<tauri::Wry>>,
        text: fn(&Texts) -> &'static str,
    ) -> tauri::Result<PredefinedMenuItem<tauri::Wry>> {
        let item = make(self.h, Some(text(self.t)))?;
        self.keep(&item, text, |e, s| e.set_text(s));
        Ok(item)
    }

    fn submenu(
        &self,
        text: fn(&Texts) -> &'static str,
        items: &[&dyn tauri::menu::IsMenuItem<tauri::Wry>],
    ) -> tauri::Result<Submenu<tauri::Wry>> {
        let sub = Submenu::with_items(self.h, text(self.t), true, items)?;
        self.keep(&sub, text, |e, s| e.set_text(s));
        Ok(sub)
    }

    fn menu_bar(&self) -> tauri::Result<Menu<tauri::Wry>> {
        let h = self.h;
        let file = self.submenu(
            |t| t.file,
            &[
                &self.item("new-item", |t| t.new_item, Some("CmdOrCtrl+N"))?,
                &self.item("quick", |t| t.quick, Some("CmdOrCtrl+Shift+K"))?,
                &PredefinedMenuItem::separator(h)?,
                &self.item("lock", |t| t.lock, Some("CmdOrCtrl+L"))?,
                &self.item("quit", |t| t.quit, Some("CmdOrCtrl+Q"))?,
            ],
        )?;
        let edit = self.submenu(
            |t| t.edit,
            &[
                &self.predefined(PredefinedMenuItem::undo, |t| t.undo)?,
                &self.predefined(PredefinedMenuItem::redo, |t| t.redo)?,
                &PredefinedMenuItem::separator(h)?,
                &self.predefined(PredefinedMenuItem::cut, |t| t.cut)?,
                &self.predefined(PredefinedMenuItem::copy, |t| t.copy)?,
                &self.predefined(PredefinedMenuItem::paste, |t| t.paste)?,
                &self.predefined(PredefinedMenuItem::select_all, |t| t.select_all)?,
            ],
        )?;
        let view = self.submenu(
            |t| t.view,
            &[
                &self.item("search", |t| t.search, Some("CmdOrCtrl+F"))?,
                &self.item("settings", |t| t.settings, Some("CmdOrCtrl+,"))?,
            ],
        )?;
        Menu::with_items(h, &[&file, &edit, &view])
    }

    fn tray_menu(&self) -> tauri::Result<Menu<tauri::Wry>> {
        Menu::with_items(
            self.h,
            &[
                &self.item("open", |t| t.open, None)?,
                &self.item("quick", |t| t.quick, None)?,
                &self.item("lock", |t| t.lock, None)?,
                &PredefinedMenuItem::separator(self.h)?,
                &self.item("quit", |t| t.quit, None)?,
            ],
        )
    }
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
        .title(lang(app).texts().quick_title)
        .inner_size(560.0, 380.0)
        .resizable(false)
        .always_on_top(true)
        .skip_taskbar(true)
        .center()
        .focused(true)
        .build()?;
    Ok(())
}

/// After a lock, every window's page starts again in a new WebKit web process, and the
/// process that ran it ends: its memory, with whatever the page decrypted or was typed into
/// it, goes back to the system instead of lingering in a garbage-collected heap
/// (`docs/desktop.md`, "Memory after lock"). With `KRYPT7_KEEP_WEB_PROCESS` set, and on
/// other systems, the page only reloads itself after its lock command, in the same process:
/// a WebDriver session lives in the web process and would end with it (the real-window test
/// sets it until its last part).
pub fn fresh_pages(app: &AppHandle) {
    #[cfg(target_os = "linux")]
    if std::env::var_os("KRYPT7_KEEP_WEB_PROCESS").is_none() {
        for (_, w) in app.webview_windows() {
            let _ = w.with_webview(|wv| {
                use webkit2gtk::WebViewExt;
                let view = wv.inner();
                view.terminate_web_process();
                view.reload();
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = app;
}

/// Freed memory in this process is overwritten: glibc's allocator fills each freed block
/// (`M_PERTURB`; Rust's allocations are zeroed on free as well, `main.rs`), so what was
/// decrypted, typed or passed to the page does not stay behind in freed memory after a lock
/// (`docs/desktop.md`, "Memory after lock").
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn overwrite_freed_memory() {
    // The byte freed blocks are filled with (allocations get its complement).
    const FILL: i32 = 0xa5;
    // SAFETY: `mallopt` only sets a parameter of the allocator.
    unsafe {
        libc::mallopt(libc::M_PERTURB, FILL);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn overwrite_freed_memory() {}

/// The lowest address of this thread's stack.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn stack_end() -> Option<usize> {
    // SAFETY: the attribute object is initialized by `pthread_getattr_np` and destroyed once.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr = std::ptr::null_mut();
        let mut size = 0;
        let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (got == 0 && !addr.is_null()).then_some(addr as usize)
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn stack_end() -> Option<usize> {
    None
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
    let lang = Lang::from_env();
    let menus = Menus {
        h,
        t: lang.texts(),
        relabel: Default::default(),
    };
    app.set_menu(menus.menu_bar()?)?;
    app.on_menu_event(|app, e| on_menu(app, e.id().as_ref()));
    let tray_menu = menus.tray_menu()?;
    app.manage(Language {
        lang: std::sync::Mutex::new(lang),
        relabel: menus.relabel.into_inner(),
    });
    let mut tray = TrayIconBuilder::with_id(TRAY)
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

/// Tells the UI when the screen locks, on systems that announce it to no one who does not
/// own a window procedure or a run loop of theirs: polled every two seconds, told once per
/// lock. Sleep needs no signal here: the idle lock counts the time asleep (`idle.rs`).
/// Compiled on Windows and macOS only: not on this project's Linux machines.
#[cfg(any(target_os = "windows", target_os = "macos"))]
fn watch_screen_lock(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut was = false;
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let now = screen_locked();
            if now && !was {
                send(&app, Action::ScreenLocked);
            }
            was = now;
        }
    });
}

/// Windows: while the workstation is locked the input desktop is Winlogon's secure
/// desktop, which a user's process can neither open nor switch to.
#[cfg(target_os = "windows")]
#[allow(unsafe_code)]
fn screen_locked() -> bool {
    use windows_sys::Win32::System::StationsAndDesktops::{
        CloseDesktop, DESKTOP_SWITCHDESKTOP, OpenInputDesktop, SwitchDesktop,
    };
    // SAFETY: plain Win32 calls on a handle this function opens and closes itself.
    unsafe {
        let desktop = OpenInputDesktop(0, 0, DESKTOP_SWITCHDESKTOP);
        if desktop.is_null() {
            return true;
        }
        let ours = SwitchDesktop(desktop) != 0;
        CloseDesktop(desktop);
        !ours
    }
}

/// macOS: the login session's dictionary holds `CGSSessionScreenIsLocked` = true while the
/// screen is locked.
#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
fn screen_locked() -> bool {
    use core_foundation::{
        base::{CFType, TCFType},
        boolean::CFBoolean,
        dictionary::{CFDictionary, CFDictionaryRef},
        string::CFString,
    };
    #[link(name = "CoreGraphics", kind = "framework")]
    unsafe extern "C" {
        fn CGSessionCopyCurrentDictionary() -> CFDictionaryRef;
    }
    // SAFETY: takes no argument; returns an owned dictionary or null.
    let raw = unsafe { CGSessionCopyCurrentDictionary() };
    if raw.is_null() {
        return false;
    }
    // SAFETY: a "Copy" function's result is the caller's to release (the create rule).
    let session: CFDictionary<CFString, CFType> =
        unsafe { CFDictionary::wrap_under_create_rule(raw) };
    session
        .find(CFString::from_static_string("CGSSessionScreenIsLocked"))
        .and_then(|v| v.downcast::<CFBoolean>())
        .is_some_and(bool::from)
}

#[cfg(not(any(target_os = "linux", target_os = "windows", target_os = "macos")))]
fn watch_screen_lock(_app: AppHandle) {}

/// A desktop notification; the text never names an item nor says what a message says (it
/// may show on a lock screen).
pub fn notify(app: &AppHandle, body: &str) {
    use tauri_plugin_notification::NotificationExt;
    let _ = app
        .notification()
        .builder()
        .title("KRYPT7")
        .body(body)
        .show();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_locale_picks_the_language() {
        assert_eq!(Lang::from_locale("fr_FR.UTF-8"), Lang::Fr);
        assert_eq!(Lang::from_locale("fr_CA"), Lang::Fr);
        assert_eq!(Lang::from_locale("fr"), Lang::Fr);
        assert_eq!(Lang::from_locale("en_GB.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("fry_NL"), Lang::En);
        assert_eq!(Lang::from_locale("C.UTF-8"), Lang::En);
    }

    #[test]
    fn conflict_notifications_agree_with_their_number() {
        assert_eq!(
            Lang::En.conflicts(1),
            "1 item changed on two devices at once: see Conflicts to resolve"
        );
        assert!(Lang::En.conflicts(3).starts_with("3 items changed"));
        assert!(Lang::Fr.conflicts(1).starts_with("1 élément modifié "));
        assert!(Lang::Fr.conflicts(2).starts_with("2 éléments modifiés "));
    }

    #[test]
    fn mail_notifications_name_the_senders_once() {
        let one = ["alice@mail.example".to_string()];
        assert_eq!(Lang::En.new_mail(&one), "New message from alice");
        assert_eq!(Lang::Fr.new_mail(&one), "Nouveau message de alice");
        let three = [
            "alice@mail.example".to_string(),
            "bob@mail.example".to_string(),
            "alice@mail.example".to_string(),
        ];
        assert_eq!(Lang::En.new_mail(&three), "3 new messages from alice, bob");
        assert_eq!(
            Lang::Fr.new_mail(&three),
            "3 nouveaux messages de alice, bob"
        );
    }
}
