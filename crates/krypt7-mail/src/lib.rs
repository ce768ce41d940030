//! KRYPT7's mail format, with no keys and no I/O (`docs/mail.md`): what a message's bytes
//! give (its fields, its text), the padding of a sealed copy, replies' quoting, and mbox
//! files both ways. The client builds on it; the fuzz target runs it on arbitrary bytes.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

/// Padding: the sealed content is `len u32 ‖ message ‖ zeros` up to a bucket, so the
/// server learns a size class, not a size: powers of two from 1 KiB to 64 KiB, then
/// multiples of 64 KiB.
pub fn pad(message: &[u8]) -> Vec<u8> {
    let need = message.len() + 4;
    let bucket = if need <= 64 << 10 {
        need.next_power_of_two().max(1024)
    } else {
        need.div_ceil(64 << 10) * (64 << 10)
    };
    let mut out = Vec::with_capacity(bucket);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out.resize(bucket, 0);
    out
}

pub fn unpad(content: &[u8]) -> std::result::Result<&[u8], &'static str> {
    let len = content
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("too short")?;
    let message = content.get(4..4 + len).ok_or("its length is wrong")?;
    if content[4 + len..].iter().any(|b| *b != 0) {
        return Err("its padding is not zeros");
    }
    Ok(message)
}

/// A message's text: its text parts (HTML ones turned to text, attachments left out), in
/// order, with LF line ends. Empty when the bytes are not a message.
pub fn message_text(raw: &[u8]) -> String {
    let Some(p) = mail_parser::MessageParser::default().parse(raw) else {
        return String::new();
    };
    let mut out = String::new();
    for i in 0..p.text_body.len() {
        if let Some(t) = p.body_text(i) {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&t.replace("\r\n", "\n"));
        }
    }
    out
}

/// The message's HTML, sanitized for showing, when it has an HTML part (`None` for a
/// plain-text message: that is shown as text). What is left cannot run or fetch anything:
/// no scripts, styles, forms, frames or images (nothing remote is ever loaded), no event
/// attributes, links only to `http`, `https` and `mailto` (marked `noopener noreferrer`).
/// The app still shows it in a sandboxed frame under its own strict CSP (`docs/mail.md`).
pub fn message_html(raw: &[u8]) -> Option<String> {
    let p = mail_parser::MessageParser::default().parse(raw)?;
    let mut html = String::new();
    for (i, part) in p.html_body.iter().enumerate() {
        if p.parts
            .get(*part as usize)
            .is_some_and(|x| x.is_text_html())
            && let Some(h) = p.body_html(i)
        {
            html.push_str(&h);
        }
    }
    if html.is_empty() {
        return None;
    }
    let clean = ammonia::Builder::default()
        .rm_tags(["img"])
        .url_schemes(["http", "https", "mailto"].into())
        .clean(&html)
        .to_string();
    Some(link_targets(&clean))
}

/// Sanitized HTML with each link's target written after it, ` (target)`, where its text
/// does not already say it: a reader sees where a link goes before following it.
fn link_targets(html: &str) -> String {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&nbsp;", "\u{a0}")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<a ") {
        let Some(open_end) = rest[start..].find('>').map(|i| start + i + 1) else {
            break;
        };
        let Some(close) = rest[open_end..].find("</a>").map(|i| open_end + i) else {
            break;
        };
        let tag = &rest[start..open_end];
        let href = tag
            .split_once("href=\"")
            .and_then(|(_, v)| v.split_once('"'))
            .map(|(v, _)| unescape(v));
        out.push_str(&rest[..close + 4]);
        if let Some(href) = href {
            let text = unescape(&rest[open_end..close]);
            if text.trim() != href.trim_start_matches("mailto:") && text.trim() != href {
                out.push_str(&format!(" ({})", escape(&href)));
            }
        }
        rest = &rest[close + 4..];
    }
    out.push_str(rest);
    out
}

/// What KRYPT7 reads of any bytes offered as a message (taken in, imported): `None` when
/// they are not a message, else its From addresses, the fields its item would have, and
/// its text. (The fuzz target's entry.)
pub fn read_message(raw: &[u8]) -> Option<(Vec<String>, BTreeMap<String, String>, String)> {
    let parsed = mail_parser::MessageParser::default().parse(raw)?;
    let (from, fields) = header_fields(&parsed, raw, 0);
    Some((from, fields, message_text(raw)))
}

/// What a message's headers give its item: the From addresses (lowercased) and the fields
/// (from, to, cc, date, message_id, in_reply_to, references, subject, and the message as
/// `raw`). `date`: when the message has none.
pub fn header_fields(
    parsed: &mail_parser::Message<'_>,
    message: &[u8],
    date: i64,
) -> (Vec<String>, BTreeMap<String, String>) {
    let addresses = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default()
    };
    let from = addresses(parsed.from());
    let mut fields = BTreeMap::from([
        ("from".to_string(), from.join("\n")),
        ("to".to_string(), addresses(parsed.to()).join("\n")),
        ("cc".to_string(), addresses(parsed.cc()).join("\n")),
        (
            "date".to_string(),
            parsed.date().map_or(date, |d| d.to_timestamp()).to_string(),
        ),
        (
            "message_id".to_string(),
            parsed.message_id().unwrap_or_default().to_string(),
        ),
        (
            "in_reply_to".to_string(),
            parsed
                .in_reply_to()
                .as_text_list()
                .and_then(|l| l.first().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
        (
            "references".to_string(),
            parsed
                .references()
                .as_text_list()
                .map(|l| {
                    l.iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
        ),
        (
            "subject".to_string(),
            parsed.subject().unwrap_or_default().to_string(),
        ),
        (
            "raw".to_string(),
            String::from_utf8_lossy(message).into_owned(),
        ),
    ]);
    fields.retain(|_, v| !v.is_empty());
    (from, fields)
}

/// The messages of an mbox (mboxo or mboxrd: a line `From …` starts each one, and one `>`
/// is taken off each `>*From ` line), CRLF line ends kept as they are.
pub fn mbox_messages(mbox: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in mbox.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            out.extend(current.take());
            current = Some(Vec::new());
            continue;
        }
        let Some(msg) = current.as_mut() else {
            continue;
        };
        let unquoted = line
            .iter()
            .position(|b| *b != b'>')
            .filter(|&n| n > 0 && line[n..].starts_with(b"From "))
            .map_or(line, |_| &line[1..]);
        msg.extend_from_slice(unquoted);
    }
    out.extend(current);
    // The blank line the writer puts between messages is not part of them.
    for m in &mut out {
        if m.ends_with(b"\n\n") {
            m.pop();
        }
    }
    out.retain(|m| !m.iter().all(u8::is_ascii_whitespace));
    out
}

/// Appends one message to an mbox (mboxrd): a `From SENDER DATE` line, the message with
/// LF line ends and each `>*From ` line quoted once more, a blank line.
pub fn mbox_entry(out: &mut Vec<u8>, from: &str, date: i64, raw: &str) {
    let from = if from.is_empty() {
        "MAILER-DAEMON"
    } else {
        from
    };
    out.extend_from_slice(format!("From {from} {}\n", asctime(date)).as_bytes());
    for line in raw.replace("\r\n", "\n").lines() {
        if line.trim_start_matches('>').starts_with("From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// `text` quoted for a reply: each line behind "> ", under "On DATE, FROM wrote:".
pub fn quoted(from: &str, date: i64, text: &str) -> String {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(date.max(0) as u64);
    let mut out = format!(
        "\n\nOn {}, {from} wrote:\n",
        humantime::format_rfc3339_seconds(when)
    );
    for line in text.trim_end().lines() {
        out.push('>');
        if !line.is_empty() {
            out.push(' ');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A Unix time as a UTC calendar date and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 (Monday) to 6 (Sunday).
    pub weekday: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// English short names of the weekdays (Monday first) and months.
pub const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix time `secs` in the proleptic Gregorian calendar, UTC (days to a civil date after
/// H. Hinnant's algorithm).
pub fn utc(secs: i64) -> Utc {
    let days = secs.div_euclid(86_400);
    let t = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    Utc {
        year: yoe + era * 400 + i64::from(month <= 2),
        month: month as u8,
        day: day as u8,
        // 1970-01-01 was a Thursday.
        weekday: (days + 3).rem_euclid(7) as u8,
        hour: (t / 3_600) as u8,
        minute: (t % 3_600 / 60) as u8,
        second: (t % 60) as u8,
    }
}

/// A time as an mbox `From ` line gives it (C's asctime, UTC): `Mon Dec  7 12:22:27 2026`.
pub fn asctime(secs: i64) -> String {
    let u = utc(secs);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[u.weekday as usize],
        MONTHS[u.month as usize - 1],
        u.day,
        u.hour,
        u.minute,
        u.second,
        u.year
    )
}

/// `subject` with `prefix` ("Re:", "Fwd:") once.
pub fn prefixed(prefix: &str, subject: &str) -> String {
    let s = subject.trim();
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        s.to_string()
    } else {
        format!("{prefix} {s}")
    }
}

/// The message without its Bcc header (the recipients' copy).
pub fn strip_bcc(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let text = std::str::from_utf8(raw).map_err(|_| "the message is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the message has no body")?;
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in head.split("\r\n") {
        let folded = line.starts_with(' ') || line.starts_with('\t');
        if !folded {
            skipping = line
                .split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case("bcc"));
        }
        if !skipping {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(body);
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_sanitized_and_plain_text_is_not_html() {
        let hostile = "From: a@x\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
            <p onclick=\"steal()\">Hi <b>there</b></p><script>steal()</script>\
            <img src=\"https://tracker.example/p.gif\"><style>body{background:url(https://t.example/x)}</style>\
            <a href=\"javascript:steal()\">bad</a> <a href=\"https://example.org/x\">good</a>\
            <iframe src=\"https://e.example\"></iframe><form action=\"https://f.example\"><input></form>";
        let html = message_html(hostile.as_bytes()).unwrap();
        for gone in [
            "script",
            "steal",
            "img",
            "tracker",
            "style",
            "url(",
            "javascript",
            "iframe",
            "form",
            "input",
        ] {
            assert!(!html.contains(gone), "{gone} left in {html}");
        }
        assert!(html.contains("<b>there</b>"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://example.org/x\" rel=\"noopener noreferrer\">good</a> (https://example.org/x)"
            ),
            "{html}"
        );
        // A link's target is text after it, escaped; a link saying its target is not
        // repeated.
        let tricky = "Content-Type: text/html\r\n\r\n<a href=\"https://e.example/?a=1&amp;b=%3Cx%3E\">x</a>\
            <a href=\"https://same.example/\">https://same.example/</a>";
        let html = message_html(tricky.as_bytes()).unwrap();
        assert!(html.ends_with("</a>"), "{html}");
        assert!(
            html.contains("</a> (https://e.example/?a=1&amp;b=%3Cx%3E)"),
            "{html}"
        );
        let plain = "From: a@x\r\nSubject: s\r\n\r\n<b>not html</b>\r\n";
        assert_eq!(message_html(plain.as_bytes()), None);
    }

    #[test]
    fn padding_hides_the_size_within_its_bucket() {
        for (len, bucket) in [
            (0, 1024),
            (1020, 1024),
            (1021, 2048),
            (65_532, 65_536),
            (65_533, 131_072),
            (200_000, 262_144),
        ] {
            let m = vec![7u8; len];
            let p = pad(&m);
            assert_eq!(p.len(), bucket, "{len}");
            assert_eq!(unpad(&p).unwrap(), &m[..]);
        }
        let mut p = pad(b"hello");
        *p.last_mut().unwrap() = 1;
        assert!(unpad(&p).is_err(), "padding that is not zeros is refused");
        assert!(unpad(&[0, 0, 1, 0]).is_err(), "a length beyond the content");
    }

    #[test]
    fn replies_and_forwards_prefix_once_and_quote() {
        assert_eq!(prefixed("Re:", "Dinner"), "Re: Dinner");
        assert_eq!(prefixed("Re:", "RE: Dinner"), "RE: Dinner");
        assert_eq!(prefixed("Fwd:", "Re: Dinner"), "Fwd: Re: Dinner");
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(1_796_646_147), "Mon Dec  7 12:22:27 2026");
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        let q = quoted("a@x", 0, "one\n\ntwo\n");
        assert_eq!(
            q,
            "\n\nOn 1970-01-01T00:00:00Z, a@x wrote:\n> one\n>\n> two\n"
        );
    }

    #[test]
    fn the_recipients_copy_has_no_bcc() {
        let raw = b"From: a@x\r\nBcc: secret@x,\r\n other@x\r\nTo: b@x\r\nSubject: s\r\n\r\nbody\r\nBcc: not a header\r\n";
        let out = String::from_utf8(strip_bcc(raw).unwrap()).unwrap();
        assert_eq!(
            out,
            "From: a@x\r\nTo: b@x\r\nSubject: s\r\n\r\nbody\r\nBcc: not a header\r\n"
        );
    }

    #[test]
    fn mbox_both_ways() {
        let one = "From: a@x\r\nSubject: one\r\n\r\nFrom the start.\r\n>From quoted.\r\n";
        let two = "From: b@x\r\nSubject: two\r\n\r\nbody\r\n";
        let mut mbox = Vec::new();
        mbox_entry(&mut mbox, "a@x", 0, one);
        mbox_entry(&mut mbox, "", 86_400, two);
        let text = String::from_utf8(mbox.clone()).unwrap();
        assert!(
            text.starts_with("From a@x Thu Jan  1 00:00:00 1970\n"),
            "{text}"
        );
        assert!(
            text.contains("\n>From the start.\n>>From quoted.\n"),
            "{text}"
        );
        assert!(
            text.contains("From MAILER-DAEMON Fri Jan  2 00:00:00 1970\n"),
            "{text}"
        );
        let back = mbox_messages(&mbox);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], one.replace("\r\n", "\n").into_bytes());
        assert_eq!(back[1], two.replace("\r\n", "\n").into_bytes());
        // Nothing before the first From line, and blank entries, are not messages.
        assert!(mbox_messages(b"junk\nmore junk\n").is_empty());
        assert_eq!(
            mbox_messages(b"From x\n\n\nFrom y\nSubject: s\n\nb\n").len(),
            1
        );
    }

    #[test]
    fn hostile_messages_are_read_without_harm() {
        // Multiparts nested 100 deep: read, the innermost text found.
        let mut m = String::from("From: a@x\r\nSubject: deep\r\n");
        for i in 0..100 {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        m.push_str("Content-Type: text/plain\r\n\r\nat the bottom\r\n");
        for i in (0..100).rev() {
            m.push_str(&format!("--b{i}--\r\n"));
        }
        let (from, fields, _) = read_message(m.as_bytes()).unwrap();
        assert_eq!(
            (from, fields["subject"].as_str()),
            (vec!["a@x".to_string()], "deep")
        );
        // A 50 MB header line: read, the subject whole.
        let long = "x".repeat(50 << 20);
        let m = format!("From: a@x\r\nSubject: {long}\r\n\r\nbody\r\n");
        let (_, fields, text) = read_message(m.as_bytes()).unwrap();
        assert_eq!(fields["subject"].len(), 50 << 20);
        assert_eq!(text, "body\n");
        // A charset nobody knows, and bytes that are not its own: text, never a failure.
        let m = b"From: a@x\r\nContent-Type: text/plain; charset=x-unknown-9\r\n\r\ncaf\xe9 \xff\xfe\r\n";
        let (_, fields, text) = read_message(m).unwrap();
        assert!(text.starts_with("caf"), "{text:?}");
        assert!(fields["raw"].starts_with("From: a@x"));
        let m = b"From: a@x\r\nSubject: =?x-unknown?B?AAAA?=\r\n\r\nok\r\n";
        assert!(read_message(m).is_some());
        // HTML alone: its text, no markup or script.
        let m = "From: a@x\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>you</b></p><script>alert(1)</script>\r\n";
        let text = message_text(m.as_bytes());
        assert!(text.contains("Hello you"), "{text:?}");
        assert!(!text.contains('<'), "{text:?}");
        // Nothing at all.
        assert_eq!(message_text(b""), "");
    }
}
