//! A file's bytes as text: byte-order marks, UTF-16, and files that are not UTF-8.

use zeroize::Zeroizing;

/// `bytes` without a UTF-8 byte-order mark.
pub fn skip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The text of `bytes`: UTF-8 (with or without a byte-order mark), UTF-16 with its mark, and
/// otherwise Windows-1252, the encoding spreadsheet programs write on Windows, with a remark
/// saying so (every byte sequence decodes, so nothing is lost silently as `?`).
pub fn decode(bytes: &[u8]) -> (Zeroizing<String>, Option<String>) {
    let (enc, rest) = match encoding_rs::Encoding::for_bom(bytes) {
        Some((enc, len)) => (enc, &bytes[len..]),
        None => (encoding_rs::UTF_8, bytes),
    };
    if enc == encoding_rs::UTF_8 {
        if let Ok(s) = std::str::from_utf8(rest) {
            return (Zeroizing::new(s.to_string()), None);
        }
        let (text, _, _) = encoding_rs::WINDOWS_1252.decode(rest);
        return (
            Zeroizing::new(text.into_owned()),
            Some(
                "the file is not UTF-8: it was read as Windows-1252 (check accented letters)"
                    .into(),
            ),
        );
    }
    let (text, _, had_errors) = enc.decode(rest);
    let remark = if had_errors {
        format!(
            "the file is {} with some invalid sequences, shown as \u{FFFD}",
            enc.name()
        )
    } else {
        format!("the file is {}: read as such", enc.name())
    };
    (Zeroizing::new(text.into_owned()), Some(remark))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(decode("é,a".as_bytes()).0.as_str(), "é,a");
        assert_eq!(decode(b"\xEF\xBB\xBFx").0.as_str(), "x");
        let (t, r) = decode(b"caf\xe9");
        assert_eq!(t.as_str(), "café");
        assert!(r.unwrap().contains("Windows-1252"));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("né".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&utf16).0.as_str(), "né");
    }
}
