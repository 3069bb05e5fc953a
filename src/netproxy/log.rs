//! The proxy's event log: one line per refusal (and, if asked, per allowed connection) in a file
//! the user can read, so "why did my curl get a 403" has an answer outside the sandbox.
//!
//! Opened append-only, `O_NOFOLLOW`, mode 0600, and refused unless it is a regular file: the
//! path may sit in a directory the sandboxed task can write, and a planted symlink or FIFO must
//! not turn our log writes into writes elsewhere or a hang.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::http::printable;

/// An open event log; lines are written whole, one `write` each, under a lock.
#[derive(Debug)]
pub struct EventLog {
    file: Mutex<File>,
}

impl EventLog {
    /// Opens (creating 0600 if needed) `path` for appending.
    pub fn open(path: &Path) -> io::Result<EventLog> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            // O_NONBLOCK: opening a planted FIFO would otherwise wait for a reader forever.
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        // A second link could be a planted hard link to one of the user's files.
        if meta.nlink() > 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("proxy log {} has other hard links", path.display()),
            ));
        }
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("proxy log {} is not a regular file", path.display()),
            ));
        }
        Ok(EventLog {
            file: Mutex::new(file),
        })
    }

    /// Appends `<UTC time> <fields>`; failures are ignored (the log must never stop the proxy).
    pub fn line(&self, fields: &str) {
        let line = format!("{} {}\n", utc_now(), printable(fields));
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// `2026-05-01T12:34:56Z`, from the system clock, without a date crate.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// `secs` (Unix time) as `2026-05-01T12:34:56Z`; also the `last_refresh` of a refreshed login.
pub fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_777_638_896), "2026-05-01T12:34:56Z");
    }

    #[test]
    fn refuses_symlinks_and_fifos_and_creates_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(EventLog::open(&link).is_err());
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(EventLog::open(&fifo).is_err());
        let linked = dir.path().join("linked");
        std::fs::hard_link(&target, &linked).unwrap();
        assert!(EventLog::open(&linked).is_err());
        let path = dir.path().join("proxy.log");
        let log = EventLog::open(&path).unwrap();
        log.line("refused a\nb");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with(" refused a?b\n"), "{text:?}");
    }
}
