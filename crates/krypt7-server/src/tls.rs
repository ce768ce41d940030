//! HTTPS only. With no certificate configured, a development CA and a certificate for
//! `localhost`/`127.0.0.1`/`::1` are created in the data directory on first run
//! (`ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`) and reused afterwards.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

/// The certificate and key files the server will use.
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Set when the development CA is in use: its PEM path and SHA-256 fingerprint.
    pub dev_ca: Option<(PathBuf, String)>,
}

pub fn prepare(data_dir: &Path, cert: Option<&Path>, key: Option<&Path>) -> Result<TlsFiles> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(TlsFiles {
            cert: c.to_path_buf(),
            key: k.to_path_buf(),
            dev_ca: None,
        }),
        (None, None) => dev_ca(data_dir),
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    }
}

fn dev_ca(dir: &Path) -> Result<TlsFiles> {
    let ca_pem = dir.join("ca.pem");
    let cert = dir.join("server.pem");
    let key = dir.join("server-key.pem");
    if !(ca_pem.exists() && cert.exists() && key.exists()) {
        let ca_key = KeyPair::generate().context("generating the development CA key")?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "KRYPT7 development CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca, ca_key);

        let leaf_key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        leaf.subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

        write_private(&dir.join("ca-key.pem"), &issuer.key().serialize_pem())?;
        std::fs::write(&ca_pem, ca_cert.pem())?;
        write_private(&key, &leaf_key.serialize_pem())?;
        std::fs::write(&cert, format!("{}{}", leaf_cert.pem(), ca_cert.pem()))?;
    }
    let fp = fingerprint(&std::fs::read_to_string(&ca_pem)?)?;
    Ok(TlsFiles {
        cert,
        key,
        dev_ca: Some((ca_pem, fp)),
    })
}

fn write_private(path: &Path, pem: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(pem.as_bytes())?;
    Ok(())
}

/// SHA-256 of the first certificate's DER, as colon-separated hex (what browsers show).
pub fn fingerprint(pem: &str) -> Result<String> {
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .context("CA PEM")?;
    let d = ring::digest::digest(&ring::digest::SHA256, &der);
    Ok(d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}
