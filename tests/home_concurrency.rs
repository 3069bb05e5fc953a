//! Issue 15, acceptance 3: one per-task home under concurrent prepares and runs while the shared
//! config changes, and prepares killed at random moments. The per-task config is always a whole,
//! parseable version, never an older one than the newest shared version every run saw, and no temp
//! file outlives the next prepare.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::homes::{homes, Homes};
use common::*;

/// A shared config of `version`, long enough that writing it takes a while.
fn shared_config(version: usize) -> String {
    let mut out = format!("model = \"v{version}\"\n# padding\n");
    for i in 0..400 {
        out.push_str(&format!("[t{i}]\nx = {version}\n"));
    }
    out
}

/// Replaces the shared config atomically, as an editor or `codex` itself does.
fn replace_shared(h: &Homes, text: &str) {
    let tmp = h.shared.join(".config.toml.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, h.shared.join("config.toml")).unwrap();
}

fn leftover_temps(home: &Path) -> Vec<String> {
    std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| codex_launcher::fs::is_leftover_temp(n))
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

fn run_cmd(h: &Homes) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(&h.s.ws)
        .env("XDG_CACHE_HOME", &h.s.cache)
        .env("XDG_STATE_HOME", h.home.parent().unwrap())
        .args(["run", "--shared-home"])
        .arg(&h.shared)
        .arg("--home")
        .arg(&h.home)
        .args(["--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn concurrent_prepares_and_runs_while_the_shared_config_changes() {
    let h = Arc::new(homes());
    replace_shared(&h, &shared_config(0));
    let first = h.prepare(&[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let (h, done) = (h.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(h.home.join("config.toml")).unwrap();
                if let Err(e) = text.parse::<toml_edit::DocumentMut>() {
                    panic!("the per-task config did not parse: {e}");
                }
                reads += 1;
            }
            reads
        })
    };
    let writer_done = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for i in 0..64 {
        let (h, writer_done) = (h.clone(), writer_done.clone());
        workers.push(std::thread::spawn(move || {
            // Once while the shared config changes, then once more after the last change: the
            // last prepare to take the lock has read the last version.
            let mut last = false;
            loop {
                let out = if i % 2 == 0 {
                    h.prepare(&[])
                } else {
                    output(&mut run_cmd(&h))
                };
                assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
                if last {
                    break;
                }
                while !writer_done.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                last = true;
            }
        }));
    }
    for v in 1..=50 {
        replace_shared(&h, &shared_config(v));
        std::thread::sleep(Duration::from_millis(10));
    }
    writer_done.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    let config = h.config().unwrap();
    assert!(
        config.contains("model = \"v50\"\n"),
        "the last shared version wins"
    );
    assert_eq!(leftover_temps(&h.home), Vec::<String>::new());
}

#[test]
fn prepares_killed_at_random_moments_leave_a_whole_config() {
    let h = homes();
    let texts: Vec<String> = (0..2)
        .map(|v| {
            replace_shared(&h, &shared_config(v));
            let out = h.prepare(&[]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            h.config().unwrap()
        })
        .collect();
    assert_ne!(texts[0], texts[1]);
    // One prepare, unkilled, to learn how long it takes; kills land anywhere in that window.
    let started = Instant::now();
    h.prepare(&[]);
    let window = started.elapsed().as_micros().max(1000) as u64;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..200 {
        replace_shared(&h, &shared_config(round % 2));
        let mut child = h
            .prepare_cmd(&[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % window));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let config = h.config().unwrap();
        assert!(
            texts.contains(&config),
            "round {round} ({:?}): a partial or unknown config",
            status.signal()
        );
    }
    let out = h.prepare(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(h.config().unwrap(), texts[1]);
    assert_eq!(leftover_temps(&h.home), Vec::<String>::new());
}
