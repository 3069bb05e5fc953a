//! Temp names: unpredictable, so a task cannot plant at them in advance, and recognisable, so a
//! later run can remove what a killed one left.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;

/// Every temp name the launcher creates starts with this, so a later run can recognise and remove
/// what a killed one left behind.
pub const TEMP_PREFIX: &str = ".codex-launcher-tmp-";

/// A fresh unpredictable temp name (64 random bits).
pub(super) fn temp_name() -> OsString {
    let mut bytes = [0u8; 8];
    fill_random(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    OsString::from(format!("{TEMP_PREFIX}{hex}"))
}

/// Random bytes from the kernel; `/dev/urandom` where `getrandom(2)` is filtered out.
fn fill_random(buf: &mut [u8]) {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == buf.len() as isize {
        return;
    }
    let read = File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf));
    // Without any randomness the names are still O_EXCL-safe; they are only guessable.
    if read.is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
}

/// Whether `name` is a temp file of ours, or of the launcher versions that used
/// `.<name>.tmp-<pid>` and `.<name>.link-<pid>`.
pub fn is_leftover_temp(name: &OsStr) -> bool {
    let s = name.to_string_lossy();
    if s.starts_with(TEMP_PREFIX) {
        return true;
    }
    let Some(rest) = s.strip_prefix('.') else {
        return false;
    };
    [".tmp-", ".link-"].iter().any(|mark| {
        rest.rsplit_once(mark).is_some_and(|(stem, pid)| {
            !stem.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
        })
    })
}
