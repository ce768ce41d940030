//! Other users' keys: a correspondent's safety number (30 digits, and a QR code for a
//! device to scan), marking it verified once compared, and accepting a key the server
//! changed (`docs/mail.md`, "Keys that change").

use crate::*;

/// A safety number: the fingerprint of one user's keys, to read aloud or scan.
#[derive(Serialize, Type)]
pub struct SafetyNumber {
    /// 30 digits in six groups of five.
    pub digits: String,
    /// `krypt7:safety:1:<username>:<30 digits>` as a QR code (an SVG `data:` URL).
    pub qr_code: String,
}

fn number(username: &str, digits: String) -> Out<SafetyNumber> {
    let plain: String = digits.chars().filter(char::is_ascii_digit).collect();
    Ok(SafetyNumber {
        qr_code: qr_code(&format!("krypt7:safety:1:{username}:{plain}"))?,
        digits,
    })
}

/// What this device knows of a correspondent's keys, and this account's own number.
#[derive(Serialize, Type)]
pub struct PeerSafety {
    pub username: String,
    /// The keys pinned on this device (the first ones seen), if any.
    pub pinned: Option<SafetyNumber>,
    /// The user compared the pinned number with them.
    pub verified: bool,
    /// The keys the server gives now, when they are not the pinned ones: nothing goes to
    /// them, and nothing from them is shown as genuine, until these are accepted.
    pub offered: Option<SafetyNumber>,
    /// The server could not be asked: only the pin is shown.
    pub offline: bool,
    /// This account's own number, for them to compare.
    pub own: SafetyNumber,
}

/// The safety numbers for `address` (`bob`, `bob@domain`, `Bob <bob@domain>`). Asking the
/// server pins their keys if this device had none (as sending to them would).
#[tauri::command]
#[specta::specta]
pub(crate) async fn peer_safety(app: State<'_, App>, address: String) -> Out<PeerSafety> {
    with(&app, async |c| {
        let username = c.mail_username(&address).await?;
        let me = c.username()?.unwrap_or_default();
        let own = number(&me, c.own_fingerprint()?)?;
        let (offered, offline) = match c.peer_keys(&username).await {
            Ok(_) => (None, false),
            Err(ClientError::KeyChanged { offered, .. }) => {
                (Some(number(&username, offered)?), false)
            }
            Err(ClientError::Offline(_)) => (None, true),
            Err(e) => return Err(e.into()),
        };
        let pin = c
            .pinned_peers()?
            .into_iter()
            .find(|p| p.username == username);
        Ok(PeerSafety {
            pinned: pin
                .as_ref()
                .map(|p| number(&username, p.fingerprint()?))
                .transpose()?,
            verified: pin.is_some_and(|p| p.verified),
            username,
            offered,
            offline,
            own,
        })
    })
    .await
}

/// Marks `username`'s pinned keys verified: `digits` is the number the user compared (if
/// the pin is not that number any more, nothing changes).
#[tauri::command]
#[specta::specta]
pub(crate) async fn peer_verify(app: State<'_, App>, username: String, digits: String) -> Out<()> {
    with(&app, async |c| {
        c.verify_peer(&username, &digits)?;
        Ok(())
    })
    .await
}

/// Pins the keys the server now gives for `username` in place of the old ones, verified:
/// `digits` is the offered number the user compared (if the server now gives another,
/// nothing changes).
#[tauri::command]
#[specta::specta]
pub(crate) async fn peer_accept(app: State<'_, App>, username: String, digits: String) -> Out<()> {
    with(&app, async |c| {
        c.accept_changed_key(&username, &digits).await?;
        Ok(())
    })
    .await
}
