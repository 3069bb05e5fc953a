//! Builds upstream bubblewrap from the sources shipped inside the `cageforge-bwrap` registry package and
//! links it into this crate as a function (`codex_launcher_bwrap_main`), so the launcher can enter it
//! without any bwrap file on disk. No bubblewrap C file lives in this repository.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The registry package that carries the unmodified upstream sources, and the upstream release it holds.
const SOURCE_PACKAGE: &str = "cageforge-bwrap";
const SOURCE_PACKAGE_VERSION: &str = "0.7.1";
const UPSTREAM_VERSION: &str = "0.12.0";
/// The first is bubblewrap's `main`.
const SOURCES: &[&str] = &[
    "bubblewrap.c",
    "bind-mount.c",
    "network.c",
    "utils.c",
    "chroot_realpath.c",
    "safe_openat.c",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=shim/sys/capability.h");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        // bubblewrap is Linux-only; other targets get a stub that reports it as unavailable.
        return;
    }
    let source_dir = locate_sources().unwrap_or_else(|e| fail(&e));
    for file in SOURCES.iter().chain(["COPYING"].iter()) {
        let path = source_dir.join(file);
        if !path.is_file() {
            fail(&format!(
                "missing bubblewrap source file {}",
                path.display()
            ));
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out_dir.join("config.h"),
        format!("#pragma once\n#define PACKAGE_STRING \"bubblewrap {UPSTREAM_VERSION}\"\n"),
    )
    .unwrap_or_else(|e| fail(&format!("cannot write config.h: {e}")));
    std::fs::copy(source_dir.join("COPYING"), out_dir.join("COPYING"))
        .unwrap_or_else(|e| fail(&format!("cannot copy the bubblewrap license: {e}")));

    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut build = cc::Build::new();
    build
        .define("_GNU_SOURCE", None)
        // Rename upstream's entry point so it links into our binary as an ordinary function.
        .define("main", "codex_launcher_bwrap_main")
        // Route upstream's one exec (of the sandboxed program) through us: see `InProcess`.
        .define("execvp", "codex_launcher_bwrap_execvp")
        .include(&out_dir)
        // Our shim goes first: it supplies the one libcap function bubblewrap uses, so the build needs
        // no libcap-dev and the binary no libcap at run time.
        .include(manifest_dir.join("shim"))
        .include(&source_dir)
        .warnings(false)
        .flag_if_supported("-Wno-unused-result");
    // bubblewrap.c alone also has its one `raw_clone` call routed through us (utils.c, which
    // defines it, is compiled unchanged): see `codex_launcher_bwrap_raw_clone`.
    let main_objects = build
        .clone()
        .define("raw_clone", "codex_launcher_bwrap_raw_clone")
        .file(source_dir.join(SOURCES[0]))
        .compile_intermediates();
    for file in &SOURCES[1..] {
        build.file(source_dir.join(file));
    }
    build.objects(main_objects).compile("codex_launcher_bwrap");
    println!("cargo:rustc-env=CODEX_LAUNCHER_BWRAP_VERSION={UPSTREAM_VERSION}");
    println!(
        "cargo:rustc-env=CODEX_LAUNCHER_BWRAP_SOURCE={SOURCE_PACKAGE} {SOURCE_PACKAGE_VERSION}"
    );
    println!("cargo:rustc-cfg=codex_launcher_bwrap_linked");
    println!("cargo::rustc-check-cfg=cfg(codex_launcher_bwrap_linked)");
}

/// Finds `vendor/bubblewrap/` inside the pinned registry package.
///
/// `cargo metadata` on our own workspace would resolve every dev-dependency too, which a plain
/// `cargo build` never downloads; so we ask about a scratch manifest (its own workspace) that depends
/// only on the pinned package, which this build already fetched as a build-dependency.
fn locate_sources() -> Result<PathBuf, String> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is missing")?);
    let scratch = out_dir.join("locate-sources");
    std::fs::create_dir_all(scratch.join("src"))
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    std::fs::write(scratch.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"locate-sources\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{SOURCE_PACKAGE} = {{ version = \"={SOURCE_PACKAGE_VERSION}\", default-features = false }}\n\n\
             [workspace]\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["metadata", "--offline", "--format-version", "1"])
        .arg("--manifest-path")
        .arg(scratch.join("Cargo.toml"))
        // Keep the parent build's target dir and lock out of this query.
        .env_remove("CARGO_TARGET_DIR");
    if let Ok(target) = env::var("TARGET") {
        cmd.args(["--filter-platform", &target]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed invalid JSON: {e}"))?;
    let packages = meta["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?;
    let package = packages
        .iter()
        .find(|p| p["name"] == SOURCE_PACKAGE && p["version"] == SOURCE_PACKAGE_VERSION)
        .ok_or(format!(
            "{SOURCE_PACKAGE} {SOURCE_PACKAGE_VERSION} is not in the dependency graph"
        ))?;
    let manifest_path = package["manifest_path"]
        .as_str()
        .ok_or("package without manifest_path")?;
    Ok(Path::new(manifest_path)
        .parent()
        .ok_or("manifest_path has no parent")?
        .join("vendor/bubblewrap"))
}

fn fail(message: &str) -> ! {
    eprintln!("error: cannot build the vendored bubblewrap {UPSTREAM_VERSION}: {message}");
    std::process::exit(1);
}
