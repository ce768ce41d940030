use krypt7_crypto::{CryptoError, Password, export, kdf::KdfParams};

#[test]
fn export_files_open_with_their_password_only() {
    let pw = Password::new("an export password");
    let file = export::seal(&pw, KdfParams::MINIMUM, b"{\"items\":[]}").unwrap();
    assert!(file.starts_with(b"KRYPT7-EXPORT\n"));
    assert_eq!(&export::open(&pw, &file).unwrap()[..], b"{\"items\":[]}");
    assert_eq!(
        export::open(&Password::new("another"), &file).unwrap_err(),
        CryptoError::Integrity
    );
    // Header and body are both authenticated; truncation is refused.
    for i in [0, 14, 15, 16, 20, 40, file.len() - 1] {
        let mut m = file.clone();
        m[i] ^= 1;
        assert!(export::open(&pw, &m).is_err(), "byte {i}");
    }
    assert!(export::open(&pw, &file[..file.len() - 1]).is_err());
    assert!(export::open(&pw, b"hello").is_err());
}

#[test]
fn weak_parameters_in_an_export_file_are_refused() {
    let pw = Password::new("x");
    let mut file = export::seal(&pw, KdfParams::MINIMUM, b"data").unwrap();
    // m lowered to 8 KiB in the header: refused before any work, whatever the tag.
    file[16..20].copy_from_slice(&8u32.to_be_bytes());
    assert!(matches!(
        export::open(&pw, &file),
        Err(CryptoError::WeakKdfParams { .. })
    ));
    assert!(matches!(
        export::seal(
            &pw,
            KdfParams {
                m_kib: 8,
                t: 1,
                p: 1
            },
            b"d"
        ),
        Err(CryptoError::WeakKdfParams { .. })
    ));
}
