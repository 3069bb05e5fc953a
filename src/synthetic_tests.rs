//! The registry against leftovers of killed launches and against what a task can plant in it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

struct Scene {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    registry: PathBuf,
    victim: PathBuf,
}

fn scene() -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "original").unwrap();
    Scene {
        registry: registry_dir(tmp.path(), 4242),
        ws,
        victim,
        _tmp: tmp,
    }
}

impl Scene {
    fn victim_untouched(&self) {
        assert_eq!(std::fs::read_to_string(&self.victim).unwrap(), "original");
    }

    /// A marker for `target` from `pid`, as a killed launch (or Codex's helper) leaves it.
    fn plant_marker(&self, target: &Path, pid: u32, says: &str) {
        let entry = self.registry.join(target_hash(target));
        std::fs::create_dir_all(&entry).unwrap();
        std::fs::write(entry.join(pid.to_string()), format!("{says}\n")).unwrap();
    }
}

fn dir_target(path: &Path, preexisting: bool) -> SyntheticTarget {
    SyntheticTarget {
        path: path.to_path_buf(),
        kind: TargetKind::Dir,
        preexisting,
    }
}

/// A pid that certainly belonged to a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn hash_matches_the_shared_format() {
    assert_eq!(
        target_hash(Path::new("/tmp/ws/.agents")),
        "55f09e983bb675d5"
    );
}

#[test]
fn created_placeholders_are_removed_and_preexisting_ones_kept() {
    let s = scene();
    let created = s.ws.join(".agents");
    let kept = s.ws.join(".codex");
    std::fs::create_dir(&kept).unwrap();
    let targets = [dir_target(&created, false), dir_target(&kept, true)];
    let registration = register(&s.registry, &targets).unwrap();
    std::fs::create_dir(&created).unwrap(); // what bubblewrap does
    registration.release().unwrap();
    assert!(!created.exists());
    assert!(kept.exists());
    // The entries stay for the next launch, without markers.
    let left: Vec<_> = std::fs::read_dir(&s.registry)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "lock")
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
        .map(|m| m.path())
        .collect();
    assert!(left.is_empty(), "markers left: {left:?}");
}

#[test]
fn a_placeholder_released_between_plan_and_register_is_ours_to_remove() {
    // Our plan saw `.git` (another launch's placeholder) and called it pre-existing; that launch
    // released it before we took the lock, and bubblewrap makes it again for our mask.
    let s = scene();
    let git = s.ws.join(".git");
    let registration = register(&s.registry, &[dir_target(&git, true)]).unwrap();
    std::fs::create_dir(&git).unwrap(); // what bubblewrap does
    registration.release().unwrap();
    assert!(!git.exists(), "the recreated placeholder was left behind");
}

#[test]
fn sweep_removes_what_a_killed_launch_created_and_nothing_else() {
    let s = scene();
    std::fs::create_dir_all(&s.registry).unwrap();
    let dead = dead_pid();
    let leftover_dir = s.ws.join(".git");
    let leftover_file = s.ws.join("sub/.aws");
    let users_own = s.ws.join(".codex");
    let in_use = s.ws.join(".agents");
    let with_content = s.ws.join("other/.git");
    for d in [&leftover_dir, &users_own, &in_use, &with_content] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::create_dir_all(leftover_file.parent().unwrap()).unwrap();
    std::fs::write(&leftover_file, "").unwrap();
    std::fs::write(with_content.join("HEAD"), "ref").unwrap();
    s.plant_marker(&leftover_dir, dead, "synthetic");
    s.plant_marker(&leftover_file, dead, "synthetic");
    s.plant_marker(&users_own, dead, "existing");
    s.plant_marker(&in_use, std::process::id(), "synthetic");
    s.plant_marker(&in_use, dead, "synthetic");
    s.plant_marker(&with_content, dead, "synthetic");
    let never_registered = s.ws.join("x/.git");
    std::fs::create_dir_all(&never_registered).unwrap();

    let candidates = [
        leftover_dir.clone(),
        leftover_file.clone(),
        users_own.clone(),
        in_use.clone(),
        with_content.clone(),
        never_registered.clone(),
        s.ws.join("missing/.git"),
    ];
    let mut removed = sweep_leftovers(&s.registry, &candidates);
    removed.sort();
    let mut want = vec![leftover_dir.clone(), leftover_file.clone()];
    want.sort();
    assert_eq!(removed, want);
    assert!(users_own.is_dir() && in_use.is_dir() && never_registered.is_dir());
    assert!(with_content.join("HEAD").is_file());
    assert!(s.registry.join(target_hash(&in_use)).exists());

    // The stale record stays until a launch using the target has come and gone after the dead
    // launch's bubblewrap can no longer be making mount points.
    let entry = s.registry.join(target_hash(&leftover_dir));
    let stale = entry.join(dead.to_string());
    assert!(stale.exists());
    register(&s.registry, &[dir_target(&leftover_dir, false)])
        .unwrap()
        .release()
        .unwrap();
    assert!(stale.exists(), "a young dead marker is kept");
    age(&stale);
    register(&s.registry, &[dir_target(&leftover_dir, false)])
        .unwrap()
        .release()
        .unwrap();
    assert!(
        std::fs::read_dir(&entry).unwrap().next().is_none(),
        "pruned by the release"
    );
}

/// Makes a marker look written long ago.
fn age(marker: &Path) {
    std::fs::File::options()
        .write(true)
        .open(marker)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
}

#[test]
fn a_mount_point_a_dying_launch_makes_after_a_release_is_still_swept() {
    let s = scene();
    std::fs::create_dir_all(&s.registry).unwrap();
    // Launch A was killed in setup; its bubblewrap lives on a moment. Launch B comes and goes,
    // removing A's mount point; then A's bubblewrap makes it again, and dies.
    let target = s.ws.join(".codex");
    s.plant_marker(&target, dead_pid(), "synthetic");
    std::fs::create_dir(&target).unwrap();
    register(&s.registry, &[dir_target(&target, true)])
        .unwrap()
        .release()
        .unwrap();
    assert!(!target.exists(), "B removed A's mount point");
    std::fs::create_dir(&target).unwrap();
    // The next launch still knows whose it is.
    assert_eq!(
        sweep_leftovers(&s.registry, std::slice::from_ref(&target)),
        vec![target.clone()]
    );
}

#[test]
fn a_mount_point_made_after_its_launcher_died_is_still_synthetic() {
    let s = scene();
    std::fs::create_dir_all(&s.registry).unwrap();
    // A killed launch's bubblewrap made .agents after the sweep had run: it exists, so the plan
    // calls it pre-existing, but the registry still knows a sandbox made it.
    let target = s.ws.join(".agents");
    s.plant_marker(&target, dead_pid(), "synthetic");
    std::fs::create_dir(&target).unwrap();
    let registration = register(&s.registry, &[dir_target(&target, true)]).unwrap();
    let marker = s
        .registry
        .join(target_hash(&target))
        .join(std::process::id().to_string());
    assert_eq!(std::fs::read_to_string(marker).unwrap(), "synthetic\n");
    registration.release().unwrap();
    assert!(!target.exists());
}

#[test]
fn sweep_without_suspects_does_not_touch_the_registry() {
    let s = scene();
    // A registry that is a symlink would be refused if it were opened; it is not even looked at.
    std::os::unix::fs::symlink(&s.victim, &s.registry).unwrap();
    std::fs::create_dir(s.ws.join(".git")).unwrap();
    std::fs::write(s.ws.join(".git/HEAD"), "x").unwrap();
    let removed = sweep_leftovers(&s.registry, &[s.ws.join(".git"), s.ws.join(".codex")]);
    assert!(removed.is_empty());
    assert!(std::fs::symlink_metadata(&s.registry)
        .unwrap()
        .file_type()
        .is_symlink());
    s.victim_untouched();

    // An empty candidate but no registry at all: nothing is created.
    let s = scene();
    std::fs::create_dir(s.ws.join(".git")).unwrap();
    assert!(sweep_leftovers(&s.registry, &[s.ws.join(".git")]).is_empty());
    assert!(!s.registry.exists());
    assert!(s.ws.join(".git").is_dir());
}

#[test]
fn an_unmarked_suspect_takes_no_lock_and_a_marked_one_is_swept() {
    let s = scene();
    // A pre-existing empty `.git` whose registry entry holds no marker (every launch that used it
    // released it): nothing to sweep, so the registry is not locked (no lock file appears).
    let git = s.ws.join(".git");
    std::fs::create_dir(&git).unwrap();
    std::fs::create_dir_all(s.registry.join(target_hash(&git))).unwrap();
    assert!(sweep_leftovers(&s.registry, std::slice::from_ref(&git)).is_empty());
    assert!(!s.registry.join(LOCK).exists(), "the registry was locked");
    assert!(git.is_dir());
    // The same entry with a dead launch's `synthetic` marker: swept, under the lock.
    let dead = dead_pid();
    s.plant_marker(&git, dead, "synthetic");
    age(&s.registry.join(target_hash(&git)).join(dead.to_string()));
    assert_eq!(
        sweep_leftovers(&s.registry, std::slice::from_ref(&git)),
        vec![git.clone()]
    );
    assert!(!git.exists());
    assert!(s.registry.join(LOCK).exists());
}

#[test]
fn planted_symlinks_in_the_registry_never_redirect_a_write() {
    let s = scene();
    std::fs::create_dir(&s.registry).unwrap();
    std::fs::set_permissions(&s.registry, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::symlink(&s.victim, s.registry.join("lock")).unwrap();
    let target = s.ws.join(".agents");
    let entry = s.registry.join(target_hash(&target));
    std::fs::create_dir(&entry).unwrap();
    std::os::unix::fs::symlink(&s.victim, entry.join(std::process::id().to_string())).unwrap();
    std::os::unix::fs::symlink(&s.victim, entry.join(dead_pid().to_string())).unwrap();
    let outside = s.ws.parent().unwrap().join("outside-entry");
    std::fs::create_dir(&outside).unwrap();
    let other = s.ws.join(".codex");
    std::os::unix::fs::symlink(&outside, s.registry.join(target_hash(&other))).unwrap();

    let registration = register(&s.registry, &[dir_target(&target, false)]).unwrap();
    assert_eq!(
        std::fs::metadata(&s.registry).unwrap().mode() & 0o7777,
        0o700
    );
    assert!(std::fs::symlink_metadata(s.registry.join("lock"))
        .unwrap()
        .is_file());
    let marker = entry.join(std::process::id().to_string());
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "synthetic\n");
    registration.release().unwrap();
    s.victim_untouched();

    // An entry that is a symlink is replaced by a real directory, never written through.
    let registration = register(&s.registry, &[dir_target(&other, false)]).unwrap();
    assert!(
        std::fs::symlink_metadata(s.registry.join(target_hash(&other)))
            .unwrap()
            .is_dir()
    );
    registration.release().unwrap();
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());

    // So is a registry that is a symlink of ours.
    let moved = s.ws.parent().unwrap().join("moved-registry");
    std::fs::rename(&s.registry, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &s.registry).unwrap();
    let listing = |dir: &Path| -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .flat_map(|e| {
                let nested = e
                    .path()
                    .is_dir()
                    .then(|| std::fs::read_dir(e.path()).unwrap());
                std::iter::once(e.path())
                    .chain(nested.into_iter().flatten().flatten().map(|n| n.path()))
            })
            .collect();
        all.sort();
        all
    };
    let before = listing(&moved);
    register(&s.registry, &[dir_target(&target, false)])
        .unwrap()
        .release()
        .unwrap();
    assert!(std::fs::symlink_metadata(&s.registry).unwrap().is_dir());
    assert_eq!(
        listing(&moved),
        before,
        "written through the symlinked registry"
    );
}

#[test]
fn synthetic_markers_share_an_inode_and_planted_names_are_replaced_not_followed() {
    let s = scene();
    let own = std::process::id().to_string();
    let made = [".agents", ".aws", ".git"].map(|n| s.ws.join(n));
    let kept = [".codex", "keep"].map(|n| s.ws.join(n));
    for dir in &kept {
        std::fs::create_dir(dir).unwrap();
    }
    // Our pid's name in the second entry already holds a symlink to the victim (planted, or
    // left by a process that had our pid): linking must replace it, never write through it.
    let second = s.registry.join(target_hash(&made[1]));
    std::fs::create_dir_all(&second).unwrap();
    std::os::unix::fs::symlink(&s.victim, second.join(&own)).unwrap();
    let targets: Vec<SyntheticTarget> = made
        .iter()
        .map(|p| dir_target(p, false))
        .chain(kept.iter().map(|p| dir_target(p, true)))
        .collect();
    let registration = register(&s.registry, &targets).unwrap();
    let marker = |target: &Path| s.registry.join(target_hash(target)).join(&own);
    let inode = |target: &Path| std::fs::symlink_metadata(marker(target)).unwrap().ino();
    for target in &made {
        assert_eq!(
            std::fs::read_to_string(marker(target)).unwrap(),
            "synthetic\n"
        );
        assert_eq!(inode(target), inode(&made[0]));
    }
    assert_eq!(
        std::fs::symlink_metadata(marker(&made[0])).unwrap().nlink(),
        3
    );
    // `existing` markers are never shared (see the next test).
    for target in &kept {
        assert_eq!(
            std::fs::read_to_string(marker(target)).unwrap(),
            "existing\n"
        );
        assert_eq!(
            std::fs::symlink_metadata(marker(target)).unwrap().nlink(),
            1
        );
    }
    s.victim_untouched();
    registration.release().unwrap();
    for target in made.iter().chain(&kept) {
        assert!(std::fs::symlink_metadata(marker(target)).is_err());
    }
    s.victim_untouched();
}

/// A launch of ours is killed; Codex's helper gets its pid and writes its own marker for one
/// target, truncating ours by name. A user's own empty directory elsewhere must not become
/// removable with it.
#[test]
fn codex_rewriting_a_dead_launchs_marker_never_gets_a_users_empty_dir_removed() {
    let s = scene();
    let own = std::process::id().to_string();
    let ws2 = s.ws.parent().unwrap().join("ws2");
    std::fs::create_dir(&ws2).unwrap();
    let a = s.ws.join(".codex");
    let b = ws2.join(".agents");
    let (made_a, made_b) = (s.ws.join(".git"), ws2.join(".git"));
    for dir in [&a, &b] {
        std::fs::create_dir(dir).unwrap();
    }
    let targets = [
        dir_target(&a, true),
        dir_target(&b, true),
        dir_target(&made_a, false),
        dir_target(&made_b, false),
    ];
    let registration = register(&s.registry, &targets).unwrap();
    for dir in [&made_a, &made_b] {
        std::fs::create_dir(dir).unwrap(); // what bubblewrap does
    }
    // Killed: the markers stay, under a pid that is dead, then reused by Codex's helper.
    let dead = dead_pid().to_string();
    for target in &targets {
        let entry = s.registry.join(target_hash(&target.path));
        std::fs::rename(entry.join(&own), entry.join(&dead)).unwrap();
        age(&entry.join(&dead));
    }
    std::mem::forget(registration);
    let entry = |t: &Path| s.registry.join(target_hash(t)).join(&dead);
    std::fs::write(entry(&a), "synthetic\n").unwrap();
    std::fs::write(entry(&made_a), "existing\n").unwrap();
    assert_eq!(std::fs::read_to_string(entry(&b)).unwrap(), "existing\n");
    let swept = sweep_leftovers(&s.registry, &[b.clone(), made_b.clone()]);
    assert!(
        b.exists(),
        "the user's own empty {} was removed",
        b.display()
    );
    // The cost of sharing `synthetic` markers, accepted: the killed launch's placeholder in the
    // other workspace now reads `existing` too, and is kept rather than swept.
    assert!(swept.is_empty(), "{swept:?}");
    assert!(made_b.exists());
}

#[test]
fn a_registry_owned_by_someone_else_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        return crate::test_skip::skip("chown needs root");
    }
    let s = scene();
    std::fs::create_dir(&s.registry).unwrap();
    std::os::unix::fs::chown(&s.registry, Some(65534), Some(65534)).unwrap();
    let err = register(&s.registry, &[dir_target(&s.ws.join(".git"), false)]).unwrap_err();
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    assert!(std::fs::read_dir(&s.registry).unwrap().next().is_none());
}

#[test]
fn host_files_replace_planted_placeholders() {
    let s = scene();
    let daemon = s.ws.parent().unwrap().join("daemon");
    std::fs::create_dir(&s.registry).unwrap();
    let denied = s.registry.join("denied-placeholder");
    std::os::unix::fs::symlink(&s.victim, &denied).unwrap();
    let empty = s.registry.join("empty-placeholder");
    // A task that can write the temp dir puts a link where Codex's daemon dir belongs.
    let daemon_target = s.ws.parent().unwrap().join("daemon-target");
    std::fs::create_dir(&daemon_target).unwrap();
    std::os::unix::fs::symlink(&daemon_target, &daemon).unwrap();
    create_host_files(&daemon, &s.registry, &[(&denied, 0o000), (&empty, 0o444)]).unwrap();
    assert!(std::fs::symlink_metadata(&daemon).unwrap().is_dir());
    assert_ne!(
        std::fs::metadata(&daemon_target).unwrap().mode() & 0o7777,
        0o700,
        "the link's target was not chmod-ed"
    );
    for (p, mode) in [(&denied, 0o000), (&empty, 0o444)] {
        let m = std::fs::symlink_metadata(p).unwrap();
        assert!(m.is_file() && m.len() == 0);
        assert_eq!(m.mode() & 0o7777, mode);
    }
    assert_eq!(std::fs::metadata(&daemon).unwrap().mode() & 0o7777, 0o700);
    s.victim_untouched();
    let elsewhere = s.ws.join("x");
    assert!(create_host_files(&daemon, &s.registry, &[(&elsewhere, 0o444)]).is_err());
}

#[test]
fn candidates_are_protected_names_and_paths_down_to_read_only_entries() {
    let json = r#"{"type":"managed","file_system":{"type":"restricted","entries":[
        {"path":{"type":"special","value":{"kind":"root"}},"access":"read"},
        {"path":{"type":"path","path":"/w"},"access":"write"},
        {"path":{"type":"path","path":"/w/a/b"},"access":"read"},
        {"path":{"type":"path","path":"/w/s"},"access":"deny"},
        {"path":{"type":"path","path":"/elsewhere/x"},"access":"deny"}]},"network":"restricted"}"#;
    let profile = crate::policy::PermissionProfile::parse(json).unwrap();
    let policy = crate::request::resolve_here(&profile, Path::new("/w"));
    let got = leftover_candidates(&policy);
    for want in [
        "/w/.git",
        "/w/.agents",
        "/w/.codex",
        "/w/.aws",
        "/w/a",
        "/w/a/b",
        "/w/s",
    ] {
        assert!(
            got.contains(&PathBuf::from(want)),
            "{want} missing from {got:?}"
        );
    }
    assert!(!got.iter().any(|p| p.starts_with("/elsewhere")), "{got:?}");
}

#[test]
fn a_marker_older_than_the_process_holding_its_pid_is_stale() {
    let s = scene();
    std::fs::create_dir_all(&s.registry).unwrap();
    let target = s.ws.join(".codex");
    std::fs::create_dir(&target).unwrap();
    // Our own (live) pid, but the marker was written long before this process started.
    s.plant_marker(&target, std::process::id(), "synthetic");
    let marker = s
        .registry
        .join(target_hash(&target))
        .join(std::process::id().to_string());
    age(&marker);
    assert_eq!(
        sweep_leftovers(&s.registry, std::slice::from_ref(&target)),
        vec![target.clone()]
    );

    // A fresh marker under a live pid keeps the placeholder.
    std::fs::create_dir(&target).unwrap();
    s.plant_marker(&target, std::process::id(), "synthetic");
    assert!(sweep_leftovers(&s.registry, std::slice::from_ref(&target)).is_empty());
    assert!(target.is_dir());
}

#[test]
fn a_huge_or_timeless_marker_costs_nothing_and_is_pruned() {
    let s = scene();
    std::fs::create_dir_all(&s.registry).unwrap();
    let target = s.ws.join(".codex");
    // A task under Landlock can write the registry: a 64 GiB sparse marker dated in the future
    // under a pid no process has, and a marker under a name that is no pid at all.
    s.plant_marker(&target, 4_000_000, "synthetic");
    let entry = s.registry.join(target_hash(&target));
    let huge = entry.join("4000000");
    let file = std::fs::File::options().write(true).open(&huge).unwrap();
    file.set_len(64 << 30).unwrap();
    let future = std::time::SystemTime::now() + std::time::Duration::from_secs(365 * 86_400);
    file.set_modified(future).unwrap();
    std::fs::write(entry.join("not-a-pid"), "synthetic\n").unwrap();
    let registration = register(&s.registry, &[dir_target(&target, false)]).unwrap();
    registration.release().unwrap();
    assert!(!huge.exists(), "the timeless marker was pruned");
    assert!(
        !entry.join("not-a-pid").exists(),
        "the nameless marker was pruned"
    );
}

#[test]
fn a_crowded_entry_is_judged_by_stat_and_only_a_synthetic_sized_marker_is_read() {
    // Many launches in one workspace: a marker each. Only a marker as long as `synthetic\n` can
    // say it; `existing\n` and anything shorter is not even opened.
    let s = scene();
    let target = s.ws.join(".codex");
    std::fs::create_dir(&target).unwrap();
    let mut holder = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let live = holder.id();
    let entry = s.registry.join(target_hash(&target));
    for n in 0..50 {
        s.plant_marker(&target, 4_000_000 + n, "existing");
    }
    s.plant_marker(&target, live, "existing");
    let reg = fs::private_dir(&s.registry, PRIVATE).unwrap();
    let dir = reg.open_dir(target_hash(&target)).unwrap().unwrap();
    let says = |need| scan_markers(&dir, "1", need).unwrap();
    assert!(!says(Need::Says).any_synthetic);

    // `synthetic` without its newline is a word Codex never writes: read as `existing`, which
    // keeps the placeholder (the safe side).
    std::fs::write(entry.join(live.to_string()), "synthetic").unwrap();
    assert!(!says(Need::Says).any_synthetic);
    std::fs::write(entry.join(live.to_string()), "synthetic\n").unwrap();
    assert!(says(Need::Says).any_synthetic);
    assert!(says(Need::LiveOrStale).live);

    // A launch that finds the live `synthetic` marker registers the target as synthetic, and
    // its release leaves the placeholder to that live user.
    let registration = register(&s.registry, &[dir_target(&target, true)]).unwrap();
    assert!(registration.held[0].synthetic);
    registration.release().unwrap();
    assert!(target.is_dir(), "a live user still holds the placeholder");
    holder.kill().unwrap();
    holder.wait().unwrap();
}
