//! Device nodes in the workspace: a task that can `mknod` a block device for the host's disk can
//! read and write it raw. The task tries a character device, a block device and a 0:0 whiteout in
//! the workspace root and a subdirectory. Under Landlock, device creation is never granted, so
//! every attempt fails with EACCES, before the kernel even looks at CAP_MKNOD (as root too, and
//! distinct from the EPERM uid 65534 gets without a sandbox). Under bwrap no real device can be
//! made. Checked from the host: no such node exists afterwards.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use common::attack::*;
use common::*;

const DEVICES: [&str; 3] = ["chr_null", "blk_loop0", "whiteout"];

fn dirs(s: &Setup) -> Vec<PathBuf> {
    let deep = s.ws.join("sub/deep");
    std::fs::create_dir_all(&deep).unwrap();
    for d in [s.ws.join("sub"), deep.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    vec![s.ws.clone(), deep]
}

fn probe(dirs: &[PathBuf]) -> Vec<String> {
    let mut argv = vec![PYTHON.into(), fixture("mknod.py").display().to_string()];
    argv.extend(dirs.iter().map(|d| d.display().to_string()));
    argv
}

/// Device nodes under `dir` as (path, rdev), seen from the host.
fn device_nodes(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let kind = meta.file_type();
        if kind.is_dir() {
            found.extend(device_nodes(&entry.path()));
        } else if kind.is_char_device() || kind.is_block_device() {
            found.push((entry.path(), meta.rdev()));
        }
    }
    found
}

fn check_ordinary_files_still_work(out: &Output, context: &str) {
    let lines = results(&stdout(out));
    for i in 0..2 {
        for name in ["fifo", "file"] {
            let name = format!("{i}_{name}");
            assert_eq!(result(&lines, &name, context), "ok", "{name}: {context}");
        }
    }
}

#[test]
fn without_a_sandbox_uid_65534_is_refused_by_capabilities_not_landlock() {
    if !require(root()) {
        return;
    }
    let s = setup();
    let out = output(&mut as_uid(unsandboxed(&s, &probe(&dirs(&s))), Some(65534)));
    let context = stdout(&out);
    let lines = results(&context);
    // The errno a missing CAP_MKNOD gives; the whiteout needs no capability at all.
    assert_eq!(result(&lines, "0_chr_null", &context), "EPERM");
    assert_eq!(result(&lines, "0_blk_loop0", &context), "EPERM");
    assert_eq!(result(&lines, "0_whiteout", &context), "ok");
}

#[test]
fn landlock_never_lets_a_task_create_device_nodes() {
    if !require(root()) {
        return;
    }
    for t in targets(&[Network::Restricted, Network::Enabled])
        .into_iter()
        .filter(|t| t.backend == "landlock")
    {
        let s = setup();
        let out = output(&mut as_uid(sandboxed(&s, t, &probe(&dirs(&s))), t.uid));
        let context = format!("{t:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{context}");
        let lines = results(&stdout(&out));
        for i in 0..2 {
            for device in DEVICES {
                let name = format!("{i}_{device}");
                assert_eq!(
                    result(&lines, &name, &context),
                    "EACCES",
                    "{name}: {context}"
                );
            }
        }
        check_ordinary_files_still_work(&out, &context);
        assert_eq!(device_nodes(&s.ws), vec![], "{context}");
    }
}

#[test]
fn bwrap_never_lets_a_task_create_a_real_device() {
    if !require(root()) {
        return;
    }
    for t in targets(&[Network::Restricted])
        .into_iter()
        .filter(|t| t.backend != "landlock")
    {
        let s = setup();
        let out = output(&mut as_uid(sandboxed(&s, t, &probe(&dirs(&s))), t.uid));
        let context = format!("{t:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{context}");
        check_ordinary_files_still_work(&out, &context);
        // A 0:0 whiteout opens nothing (ENXIO); anything else would be a real device.
        let real: Vec<_> = device_nodes(&s.ws)
            .into_iter()
            .filter(|(_, rdev)| *rdev != 0)
            .collect();
        assert_eq!(real, vec![], "{context}");
    }
}
