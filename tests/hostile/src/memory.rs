//! Reads processes' memory for secrets left behind: a live process through
//! `/proc/PID/maps` (the readable regions) and `/proc/PID/mem` (their bytes), or a core
//! file written as the process ended. Each secret is looked for in UTF-8 and in UTF-16
//! (little-endian, as JavaScript strings and much of WebKit keep text).

use std::{
    collections::BTreeMap,
    io::{Read, Seek, SeekFrom},
};

use anyhow::{Context, Result};

/// A process: its id and name (`comm`).
#[derive(Clone, Debug)]
pub struct Proc {
    pub pid: u32,
    pub name: String,
}

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …": the name may hold spaces, so split after its ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether the process is still running: not ended (or ended and not yet reaped), and its
/// id not reused by another program.
pub fn alive(p: &Proc) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{}/stat", p.pid))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
        });
    comm(p.pid).is_some_and(|n| n == p.name) && state.is_some_and(|s| s != 'Z')
}

/// Every process named `name` (its `comm`), with all its descendants.
pub fn tree(name: &str) -> Vec<Proc> {
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let roots: Vec<u32> = all
        .iter()
        .copied()
        .filter(|&p| comm(p).as_deref() == Some(name))
        .collect();
    let under = |mut p: u32| {
        for _ in 0..64 {
            if roots.contains(&p) {
                return true;
            }
            match parent(p) {
                Some(q) if q > 1 => p = q,
                _ => return false,
            }
        }
        false
    };
    all.into_iter()
        .filter(|&p| under(p))
        .filter_map(|pid| {
            Some(Proc {
                pid,
                name: comm(pid)?,
            })
        })
        .collect()
}

/// The forms a secret is looked for in: UTF-8 and UTF-16LE.
pub fn forms(secret: &str) -> [Vec<u8>; 2] {
    [
        secret.as_bytes().to_vec(),
        secret.encode_utf16().flat_map(u16::to_le_bytes).collect(),
    ]
}

/// The forms of each named secret, to look for.
fn needles<'a>(secrets: &[(&'a str, &str)]) -> Vec<(&'a str, Vec<u8>)> {
    secrets
        .iter()
        .flat_map(|(name, s)| forms(s).into_iter().map(move |f| (*name, f)))
        .collect()
}

/// How many times each named secret occurs (any form) in a core file; secrets with none
/// are left out.
pub fn scan_core(
    path: &std::path::Path,
    secrets: &[(&str, &str)],
) -> Result<BTreeMap<String, usize>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut found = BTreeMap::new();
    for (name, n) in &needles(secrets) {
        let hits = memchr::memmem::find_iter(&bytes, n).count();
        if hits > 0 {
            *found.entry((*name).to_string()).or_insert(0) += hits;
        }
    }
    Ok(found)
}

/// Where a secret was found in a process's memory.
#[derive(Clone, Debug)]
pub struct Hit {
    pub secret: String,
    pub process: String,
    /// Found as UTF-16 (else UTF-8).
    pub utf16: bool,
    /// The mapping it lies in: its start, permissions and path (empty for anonymous memory).
    pub mapping: String,
    /// The bytes around it, every secret's bytes masked: what structure holds it.
    pub around: String,
}

/// Up to 48 bytes either side of `buf[at..at + len]`, printable ASCII as is, others as '.',
/// and every byte of any secret looked for (the hit's or another one nearby) as '*': the
/// context shows what structure holds a secret, never a secret.
fn around(buf: &[u8], at: usize, len: usize, needles: &[(&str, Vec<u8>)]) -> String {
    let (from, to) = (at.saturating_sub(48), (at + len + 48).min(buf.len()));
    let longest = needles.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
    let (wide_from, wide_to) = (from.saturating_sub(longest), (to + longest).min(buf.len()));
    let mut secret = vec![false; wide_to - wide_from];
    for (_, n) in needles {
        for i in memchr::memmem::find_iter(&buf[wide_from..wide_to], n) {
            secret[i..i + n.len()].fill(true);
        }
    }
    (from..to)
        .map(|i| match buf[i] {
            _ if secret[i - wide_from] => '*',
            c if (0x20..0x7f).contains(&c) => c as char,
            _ => '.',
        })
        .collect()
}

/// How many times each named secret occurs (any form) in each process's memory, by
/// process name; processes and secrets with none are left out.
pub fn scan(procs: &[Proc], secrets: &[(&str, &str)]) -> Result<BTreeMap<String, usize>> {
    let mut found = BTreeMap::new();
    for h in hits(procs, secrets)? {
        *found
            .entry(format!("{} in {}", h.secret, h.process))
            .or_insert(0) += 1;
    }
    Ok(found)
}

/// The page runs of `[a, b)` present in the process's memory (or swapped out), from
/// `/proc/PID/pagemap`: pages never touched are not read, so the scan neither spends its
/// time on the tens of gigabytes WebKit reserves nor maps zero pages into the process.
fn present(pagemap: &mut std::fs::File, a: u64, b: u64) -> Result<Vec<(u64, u64)>> {
    const PAGE: u64 = 4096;
    // Entries read at a time (each 8 bytes, one page).
    const BATCH: u64 = 1 << 14;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut page = a / PAGE;
    let end = b.div_ceil(PAGE);
    while page < end {
        let n = BATCH.min(end - page);
        let mut buf = vec![0u8; (n * 8) as usize];
        pagemap.seek(SeekFrom::Start(page * 8))?;
        pagemap.read_exact(&mut buf)?;
        for (i, e) in buf.chunks_exact(8).enumerate() {
            let e = u64::from_le_bytes(e.try_into().expect("8 bytes"));
            // Bit 63: present; bit 62: swapped.
            if e >> 62 == 0 {
                continue;
            }
            let at = (page + i as u64) * PAGE;
            match runs.last_mut() {
                Some(r) if r.1 == at => r.1 = at + PAGE,
                _ => runs.push((at, at + PAGE)),
            }
        }
        page += n;
    }
    Ok(runs)
}

/// Every occurrence of each named secret (any form) in the processes' memory.
pub fn hits(procs: &[Proc], secrets: &[(&str, &str)]) -> Result<Vec<Hit>> {
    let needles = needles(secrets);
    let forms: Vec<bool> = secrets.iter().flat_map(|_| [false, true]).collect();
    let overlap = needles.iter().map(|(_, n)| n.len()).max().unwrap_or(0) as u64;
    let mut found = Vec::new();
    for p in procs {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", p.pid))
            .with_context(|| format!("the maps of {} ({})", p.name, p.pid))?;
        let mut mem = std::fs::File::open(format!("/proc/{}/mem", p.pid))
            .with_context(|| format!("the memory of {} ({})", p.name, p.pid))?;
        let mut pagemap = std::fs::File::open(format!("/proc/{}/pagemap", p.pid))
            .with_context(|| format!("the page map of {} ({})", p.name, p.pid))?;
        for line in maps.lines() {
            let mut f = line.split_whitespace();
            let (Some(range), Some(perms)) = (f.next(), f.next()) else {
                continue;
            };
            let path = line.split_whitespace().nth(5).unwrap_or("");
            if !perms.starts_with('r') || path == "[vvar]" || path == "[vsyscall]" {
                continue;
            }
            let Some((a, b)) = range.split_once('-') else {
                continue;
            };
            let (a, b) = (u64::from_str_radix(a, 16)?, u64::from_str_radix(b, 16)?);
            let mapping = format!("{a:x} {perms} {path}");
            for (a, b) in present(&mut pagemap, a, b)? {
                // Read in pieces that overlap by the longest needle, so nothing is cut in two.
                const PIECE: u64 = 16 << 20;
                let mut at = a;
                while at < b {
                    let len = PIECE.min(b - at);
                    let mut buf = vec![0u8; len as usize];
                    let got = mem
                        .seek(SeekFrom::Start(at))
                        .and_then(|_| mem.read(&mut buf))
                        .unwrap_or(0);
                    buf.truncate(got);
                    let last = got == 0 || at + len >= b;
                    // A hit starting in the overlap is counted with the next piece.
                    let step = (len - overlap.min(len)) as usize;
                    for ((name, n), &utf16) in needles.iter().zip(&forms) {
                        for i in memchr::memmem::find_iter(&buf, n).filter(|&i| last || i < step) {
                            found.push(Hit {
                                secret: (*name).to_string(),
                                process: p.name.clone(),
                                utf16,
                                mapping: mapping.clone(),
                                around: around(&buf, i, n.len(), &needles),
                            });
                        }
                    }
                    if last {
                        break;
                    }
                    at += step as u64;
                }
            }
        }
    }
    Ok(found)
}
