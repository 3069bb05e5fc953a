//! Link layout of the binary: the functions common launches run (link/startup-symbols.txt, made by
//! scripts/startup-symbols.sh) go first in the text, together. The kernel maps 64 KiB of the file
//! around each page a process touches; spread over the whole text, a helper launch mapped most of
//! it, packed it maps little more than it runs (peak RSS of a helper launch: 4.6 to 2.8 MiB).
//!
//! Only lld reads a symbol ordering file, and rustc links with lld by default only on some
//! toolchains, so a throwaway program is linked with the option first: where that fails (another
//! linker), the binary is linked as before, with the same behaviour and a larger resident set.

use std::env;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/startup-symbols.txt");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let list = manifest.join("link/startup-symbols.txt");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") || !list.is_file() {
        return;
    }
    let args = [
        format!("-Wl,--symbol-ordering-file={}", list.display()),
        // Entries this build does not have (a stale list, a debug build) are expected.
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    if links_with(&args) {
        for arg in args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}

/// Whether rustc, with this build's flags and linker, links an empty program for the target when
/// given `link_args`.
fn links_with(link_args: &[String]) -> bool {
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let source = out.join("link-probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.args(["--edition=2021", "--crate-type=bin", "-o"])
        .arg(out.join("link-probe"))
        .arg(&source);
    if let Ok(target) = env::var("TARGET") {
        cmd.args(["--target", &target]);
    }
    // The flags and linker this crate is built with: they decide which linker runs.
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\u{1f}').filter(|f| !f.is_empty()));
    }
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut arg = std::ffi::OsString::from("linker=");
        arg.push(linker);
        cmd.arg("-C").arg(arg);
    }
    for arg in link_args {
        cmd.arg("-C").arg(format!("link-arg={arg}"));
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
