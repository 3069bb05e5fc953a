//! Pumps bytes both ways between two streams until both directions end or the pair goes idle.
//!
//! One extra thread per pair (the caller's thread pumps the other way): simple, and an agent
//! opens tens of connections, not thousands. Each direction half-closes its destination on EOF,
//! so request/response protocols that shut down writing still get their answer.

use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::conn::Conn;

/// How often a blocked reader wakes up to check whether the pair as a whole went idle.
const TICK: Duration = Duration::from_millis(500);

/// Copies `a`→`b` and `b`→`a` until both directions are done, an error occurs, nothing moved
/// in either direction for `idle`, or `cancel` is set (checked every half second). Returns bytes
/// copied (a→b, b→a).
pub fn splice(
    a: Conn,
    b: Conn,
    idle: Duration,
    cancel: &Arc<AtomicBool>,
) -> io::Result<(u64, u64)> {
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let tick = TICK.min(idle);
    for conn in [&a, &b] {
        conn.set_nodelay()?;
        conn.set_read_timeout(Some(tick))?;
        // A peer that stops reading must not pin this thread forever.
        conn.set_write_timeout(Some(idle))?;
    }
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    let (last2, cancel2) = (Arc::clone(&last), Arc::clone(cancel));
    let upward = thread::Builder::new()
        .name("netproxy-splice".into())
        .spawn(move || pump(a2, b2, start, &last2, idle, &cancel2))?;
    let down = pump(b, a, start, &last, idle, cancel);
    let up = upward.join().unwrap_or(0);
    Ok((up, down))
}

/// Copies `from` → `to`; on EOF half-closes `to`; on error or idle closes both completely so the
/// opposite pump wakes up too.
fn pump(
    mut from: Conn,
    mut to: Conn,
    start: Instant,
    last: &AtomicU64,
    idle: Duration,
    cancel: &AtomicBool,
) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let kill = |from: &Conn, to: &Conn| {
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    };
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return total;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    kill(&from, &to);
                    return total;
                }
                total += n as u64;
                last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let quiet = start.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                if quiet >= idle.as_millis() as u64 || cancel.load(Ordering::Relaxed) {
                    kill(&from, &to);
                    return total;
                }
            }
            Err(_) => {
                kill(&from, &to);
                return total;
            }
        }
    }
}
