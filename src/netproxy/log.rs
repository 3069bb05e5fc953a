//! The proxy's event log: one line per refusal (and, if asked, per allowed connection) in a file
//! the user can read, so "why did my curl get a 403" has an answer outside the sandbox.
//!
//! Opened append-only, `O_NOFOLLOW`, mode 0600, and refused unless it is a regular file with one
//! link: the path may sit in a directory the sandboxed task can write, and a planted symlink,
//! FIFO or hard link must not turn our log writes into writes elsewhere or a hang.
//!
//! Bounded: a task that hammers refused destinations must not fill the user's disk. Once the file
//! would pass [`LOG_CAP`], it is renamed to `<name>.1` (replacing the previous one) and a fresh
//! file is opened the same careful way, through a descriptor of the directory, so the log and its
//! one predecessor hold at most twice the cap. Several launchers sharing the log each check the
//! size of the file they hold, so no file any of them writes grows past the cap by more than a
//! line. If rotating fails, lines are dropped rather than the cap passed.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::http::printable;

/// The most one log file holds (1 MiB, some 5000 refusals); the file before it is kept as `.1`.
pub const LOG_CAP: u64 = 1 << 20;

/// An open event log; lines are written whole, one `write` each, under a lock.
#[derive(Debug)]
pub struct EventLog {
    file: Mutex<Option<File>>,
    dir: OwnedFd,
    name: CString,
    rotated: CString,
    cap: u64,
}

impl EventLog {
    /// Opens (creating 0600 if needed) `path` for appending, capped at [`LOG_CAP`].
    pub fn open(path: &Path) -> io::Result<EventLog> {
        Self::open_capped(path, LOG_CAP)
    }

    /// [`EventLog::open`] with another cap (tests).
    pub fn open_capped(path: &Path, cap: u64) -> io::Result<EventLog> {
        let invalid = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("proxy log {}: {what}", path.display()),
            )
        };
        let name = path.file_name().ok_or_else(|| invalid("no file name"))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let c = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| invalid("NUL in the path"));
        let parent_c = c(parent.as_os_str())?;
        // SAFETY: a valid C string; the result is a new descriptor or -1.
        let fd = unsafe {
            libc::open(
                parent_c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let dir = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut rotated = name.to_os_string();
        rotated.push(".1");
        let log = EventLog {
            file: Mutex::new(None),
            dir,
            name: c(name)?,
            rotated: c(&rotated)?,
            cap,
        };
        // A task (Landlock can chmod anything of the user's) may have made the log unwritable,
        // a directory or a second link: moved aside, it costs the old lines, not the proxy.
        let file = log
            .open_file()
            .or_else(|_| log.rotate())
            .map_err(|e| match e.kind() {
                io::ErrorKind::InvalidInput => invalid(&e.to_string()),
                _ => e,
            })?;
        *log.file.lock().map_err(|_| invalid("lock"))? = Some(file);
        Ok(log)
    }

    /// The log file in our directory: append-only, no-follow, non-blocking (a planted FIFO would
    /// otherwise wait for a reader forever), a regular file with no other link.
    fn open_file(&self) -> io::Result<File> {
        // SAFETY: a valid directory descriptor and C string; the result is a new fd or -1.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                self.name.as_ptr(),
                libc::O_WRONLY
                    | libc::O_APPEND
                    | libc::O_CREAT
                    | libc::O_NOFOLLOW
                    | libc::O_NONBLOCK
                    | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        // Another mode or owner is not what we made: a task's chmod (under Landlock), whose
        // file is moved aside like any other plant.
        // (An empty one is set right: it may be ours just made under a stricter umask.)
        if meta.mode() & 0o7777 != 0o600 || meta.uid() != nix::unistd::geteuid().as_raw() {
            let ours_and_empty = meta.uid() == nix::unistd::geteuid().as_raw() && meta.len() == 0;
            if !ours_and_empty
                || nix::sys::stat::fchmod(&file, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .is_err()
            {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "not private"));
            }
        }
        // A second link could be a planted hard link to one of the user's files.
        if meta.nlink() > 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "has other hard links",
            ));
        }
        Ok(file)
    }

    /// Moves the full log aside to `<name>.1` and opens a fresh one.
    fn rotate(&self) -> io::Result<File> {
        let dir = self.dir.as_raw_fd();
        // SAFETY: valid descriptors and C strings. renameat never follows a link in the last
        // component: a symlink at either name is itself renamed or replaced.
        let renamed =
            unsafe { libc::renameat(dir, self.name.as_ptr(), dir, self.rotated.as_ptr()) };
        if renamed != 0 {
            let e = io::Error::last_os_error();
            // Another launcher sharing the log may have rotated it first: ours is gone already.
            if e.raw_os_error() != Some(libc::ENOENT) {
                return Err(e);
            }
        }
        self.open_file()
    }

    /// Appends `<UTC time> <fields>`; failures are ignored (the log must never stop the proxy).
    pub fn line(&self, fields: &str) {
        let line = format!("{} {}\n", utc_now(), printable(fields));
        let Ok(mut slot) = self.file.lock() else {
            return;
        };
        let size = slot
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len());
        if size.is_none_or(|size| size + line.len() as u64 > self.cap) {
            // A failed rotation leaves no file: later lines are dropped, the cap holds.
            *slot = self.rotate().ok();
        }
        if let Some(file) = slot.as_mut() {
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
    fn a_planted_log_is_moved_aside_never_written_through_and_a_fresh_0600_one_made() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "victim\n").unwrap();
        type Plant<'a> = &'a dyn Fn(&Path);
        let plants: [(&str, Plant); 4] = [
            ("link", &|p| std::os::unix::fs::symlink(&target, p).unwrap()),
            ("fifo", &|p| {
                nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
            }),
            ("linked", &|p| std::fs::hard_link(&target, p).unwrap()),
            ("dir", &|p| std::fs::create_dir(p).unwrap()),
        ];
        for (name, plant) in plants {
            let path = dir.path().join(name);
            plant(&path);
            let log = EventLog::open(&path).unwrap();
            log.line("refused x");
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert!(meta.is_file() && meta.nlink() == 1, "{name}");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
            assert!(dir
                .path()
                .join(format!("{name}.1"))
                .symlink_metadata()
                .is_ok());
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "victim\n");
        let path = dir.path().join("proxy.log");
        let log = EventLog::open(&path).unwrap();
        log.line("refused a\nb");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with(" refused a?b\n"), "{text:?}");
    }

    #[test]
    fn the_log_and_its_predecessor_never_pass_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.log");
        // A log left oversized (by an older launcher) is rotated before the first new line.
        std::fs::write(&path, vec![b'x'; 10_000]).unwrap();
        let log = EventLog::open_capped(&path, 4096).unwrap();
        for i in 0..10_000 {
            log.line(&format!("refused host-{i}.example:443 not-allowed"));
        }
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        let rotated = dir.path().join("proxy.log.1");
        assert!(size(&path) <= 4096, "{}", size(&path));
        assert!(size(&rotated) <= 4096, "{}", size(&rotated));
        let names = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(names, 2, "only the log and one predecessor");
        // The newest lines are kept, in order, whole.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("refused host-9999.example:443 not-allowed\n"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.ends_with(" not-allowed")));
    }

    #[test]
    fn rotation_does_not_follow_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.log");
        let log = EventLog::open_capped(&path, 200).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "victim\n").unwrap();
        // Planted after the log was opened: at the rotated name and at the log's own name once
        // it has been moved aside.
        std::os::unix::fs::symlink(&victim, dir.path().join("proxy.log.1")).unwrap();
        for i in 0..20 {
            log.line(&format!("refused {i}"));
            let _ = std::fs::remove_file(&path);
            let _ = std::os::unix::fs::symlink(&victim, &path);
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim\n");
    }
}
