//! What KRYPT7 reads of a message or an mbox (krypt7-mail), on arbitrary bytes: nothing
//! panics, and what comes out holds to what went in.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((from, fields, _text)) = krypt7_mail::read_message(data) {
        // Addresses are kept with ASCII letters lowercased; a message in UTF-8 is kept exactly.
        assert!(from.iter().all(|a| a.to_ascii_lowercase() == *a));
        if let Ok(s) = std::str::from_utf8(data) {
            assert_eq!(fields.get("raw").map_or("", String::as_str), s);
        }
    }
    let _ = krypt7_mail::message_text(data);
    // An mbox: never more bytes out than in, no empty message.
    let messages = krypt7_mail::mbox_messages(data);
    assert!(messages.iter().map(Vec::len).sum::<usize>() <= data.len());
    assert!(
        messages
            .iter()
            .all(|m| !m.iter().all(u8::is_ascii_whitespace))
    );
    // Padding: what opens pads again to a bucket that opens to the same.
    if let Ok(content) = krypt7_mail::unpad(data) {
        let padded = krypt7_mail::pad(content);
        assert_eq!(krypt7_mail::unpad(&padded), Ok(content));
    }
});
