//! The async workers' stacks are wiped whenever a worker goes idle, so that nothing
//! decrypted outlives its use there (`docs/desktop.md`, "Memory after lock"; freed heap
//! memory is overwritten too: `main.rs`, `shell::overwrite_freed_memory`).

/// What `scrub_stack` overwrites at a time, and leaves untouched above the stack's end.
const CHUNK: usize = 64 * 1024;
const MARGIN: usize = 2 * CHUNK;

/// Overwrites this thread's stack below the caller, down to near its end: what the calls
/// that returned left in their frames is gone. Values moved by copy leave copies there: a
/// SHA-256 context holds up to a block of what it hashed (a whole small file, for a file's
/// fingerprint) and is copied each time it moves, and the stack is not the allocator's, so
/// nothing else wipes it. (Where the stack's end is unknown: 256 KiB.)
pub fn scrub_stack() {
    let end = crate::shell::stack_end().unwrap_or(0);
    scrub_down(end, 4);
}

/// Zeroes a chunk of stack, then goes one chunk deeper while the stack's end (or, without
/// one, `rounds` more chunks) allows.
#[inline(never)]
fn scrub_down(end: usize, rounds: usize) {
    // (Zeroed where it lies: `black_box` keeps the compiler from leaving it out.)
    let chunk = [0u8; CHUNK];
    let here = std::hint::black_box(&chunk).as_ptr() as usize;
    let deeper = if end == 0 {
        rounds > 1
    } else {
        here > end + MARGIN + CHUNK
    };
    if deeper {
        scrub_down(end, rounds.saturating_sub(1));
    }
    // (Used after the call: the frame stays while the deeper ones run.)
    std::hint::black_box(&chunk);
}

/// The async runtime the app's commands and tasks run on: Tauri's own kind (multi-threaded),
/// but each worker wipes its stack before it goes idle or ends, where its own frame is
/// shallow, so what a command decrypted on it does not stay in its dead frames.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(scrub_stack)
        .on_thread_stop(scrub_stack)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &[u8] = b"stack-canary-5e1f0c97d3";

    /// Leaves `MARK` in a dead frame below the caller, `depth` frames of 16 KiB down.
    #[inline(never)]
    fn leave_mark(depth: usize) {
        let mut frame = [0u8; 16 * 1024];
        if depth == 0 {
            frame[100..100 + MARK.len()].copy_from_slice(MARK);
        } else {
            leave_mark(depth - 1);
        }
        std::hint::black_box(&frame);
    }

    /// How many times `MARK` is in this thread's stack (read through /proc/self/mem).
    fn marks_in_stack() -> usize {
        use std::io::{Read, Seek};
        let probe = 0u8;
        let sp = std::hint::black_box(&probe) as *const u8 as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let (lo, hi) = maps
            .lines()
            .filter_map(|l| {
                let (a, b) = l.split_whitespace().next()?.split_once('-')?;
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            })
            .find(|(a, b)| (*a..*b).contains(&sp))
            .unwrap();
        let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
        mem.seek(std::io::SeekFrom::Start(lo as u64)).unwrap();
        let mut stack = vec![0u8; hi - lo];
        mem.read_exact(&mut stack).unwrap();
        stack.windows(MARK.len()).filter(|w| *w == MARK).count()
    }

    #[test]
    fn a_scrub_wipes_what_returned_calls_left_on_the_stack() {
        // Near the caller, and 1.5 MiB down a 2 MiB stack.
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                for depth in [0, 96] {
                    leave_mark(depth);
                    assert!(marks_in_stack() >= 1, "the mark is left (the scan sees it)");
                    scrub_stack();
                    assert_eq!(
                        marks_in_stack(),
                        0,
                        "the scrub wiped it ({depth} frames down)"
                    );
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
