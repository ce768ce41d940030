//! The push channel, in the app: while the vault is unlocked the shell listens on the
//! server's push channel and tells the page (`RemoteChange`) each time another device
//! changed something, and once after each (re)connection, since changes may have come
//! while it was away; the page syncs then. The client is taken only to get the channel's
//! source, never for the wait on the network, and the channel ends with the lock. A channel
//! that fails or ends is opened again after a pause that doubles up to 30 s. An
//! unauthorized attempt against the account, which the server announces on the same
//! channel, raises a desktop notification.

use std::time::Duration;

use serde::Serialize;
use specta::Type;
use tauri::{AppHandle, Manager};

/// Another device changed something: time to sync.
#[derive(Clone, Serialize, Type, tauri_specta::Event)]
pub struct RemoteChange {}

pub fn watch(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        const MOST: Duration = Duration::from_secs(30);
        let mut pause = Duration::from_secs(1);
        loop {
            let source = {
                let state = app.state::<crate::App>();
                let guard = state.client.lock().await;
                guard.as_ref().and_then(|c| c.push_source().ok())
            };
            let Some(source) = source else {
                // Locked, or no account yet.
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            };
            let opened = std::time::Instant::now();
            if let Ok(mut events) = source.open().await {
                let _ = tauri_specta::Event::emit(&RemoteChange {}, &app);
                while let Ok(Some(notice)) = events.next_notice().await {
                    match notice {
                        krypt7_client::Notice::Changes(_) => {
                            let _ = tauri_specta::Event::emit(&RemoteChange {}, &app);
                        }
                        krypt7_client::Notice::Attempt => {
                            let text = crate::shell::lang(&app).texts().attempt_notice;
                            crate::shell::notify(&app, text);
                        }
                    }
                }
            }
            // A channel that lived a while was fine: open it again soon.
            pause = if opened.elapsed() > MOST {
                Duration::from_secs(1)
            } else {
                (pause * 2).min(MOST)
            };
            tokio::time::sleep(pause).await;
        }
    });
}
