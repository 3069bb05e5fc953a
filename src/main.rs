//! Entry point: pick the personality from argv[0], hand over to it. Nothing else lives here.
//!
//! `no_main`: std's own start-up finds the main thread's stack guard by parsing
//! `/proc/self/maps` with sscanf, an eighth of a launch's instructions, paid by every launch and
//! again by the inner stage. The two parts of that start-up that matter here are done below:
//! descriptors 0-2 are open (a later `open` must never become stdout), and SIGPIPE is ignored,
//! as under std's start-up (Codex's helper hands that disposition to the command, and so do we).
//! The rest of the signal state a caller hands down is not ours to keep. SIGCHLD goes back to its
//! default: ignored (exec keeps an ignore), the kernel would reap our children before we wait for
//! them, and bubblewrap's monitor, which waits for SIGCHLD on a signalfd, would wait for ever.
//! The mask is emptied and SIGINT, SIGQUIT and SIGTERM go back to their defaults: blocked or
//! ignored, a SIGTERM for the launch stayed pending here and was never passed on, the command
//! could not be stopped, and under Landlock it outlived a killed launcher (its parent-death
//! signal is SIGTERM). Codex's helper gives the command the same clean state. SIGHUP keeps an
//! ignore: that is `nohup`, asked for on purpose.
//! A panic still exits 101; stdout is flushed by `exit`.
// The unit-test build of this file keeps std's `main`: the test harness brings its own.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
mod start {
    use std::ffi::{c_char, c_int};

    use codex_launcher::arg0::Personality;

    #[no_mangle]
    extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
        open_standard_descriptors();
        // SAFETY: installs a disposition, no handler; nothing else runs yet.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        reset_inherited_signals();
        let code = std::panic::catch_unwind(|| {
            // glibc hands argv to std before `main`, so this is the process's own argv.
            let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
            let personality = Personality::from_argv0(args.first().map(|a| a.as_os_str()));
            codex_launcher::dispatch::run(personality, args)
        })
        .unwrap_or(101);
        std::process::exit(i32::from(code))
    }

    /// See the module's comment.
    fn reset_inherited_signals() {
        // SAFETY: sets dispositions (no handlers) and the mask; nothing else runs yet.
        unsafe {
            for sig in [libc::SIGCHLD, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
                libc::signal(sig, libc::SIG_DFL);
            }
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        }
    }

    /// Opens `/dev/null` on each of descriptors 0-2 that is closed, as std's start-up does; aborts
    /// if that fails, as std does. Asked with fcntl, not poll: poll calls an O_PATH descriptor
    /// invalid, and it is open.
    fn open_standard_descriptors() {
        for fd in 0..=2 {
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
            // SAFETY: opens /dev/null; the lowest free descriptor is this closed one, as the
            // lower ones are open by now.
            if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != fd {
                std::process::abort();
            }
        }
    }
}

// Unwinding (panics exit 101) from libgcc_eh, linked in, rather than libgcc_s: ahead of std's own
// link line, it satisfies the unwinder's symbols and `--as-needed` then drops libgcc_s, one
// shared library fewer to map and relocate at every launch.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[link(name = "gcc_eh", kind = "static")]
extern "C" {}
