//! Keyring attacks: the caller's session keyring holds a secret (as after `kinit` or an ssh-agent
//! helper); a sandboxed task tries to read it, revoke it and plant keys in the session and user
//! keyrings. The keyrings are shared with the task on every backend (exec, setsid and bwrap's
//! namespaces all keep them), so only the seccomp filter stands in the way, in every network mode.
//! Effects are read back from the host side of the same session after the launch.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::attack::*;
use common::*;

/// Runs in the caller's new session keyring: adds the secret from a file (then deletes the file, so
/// the task cannot read it there), runs the command, then records the host's view.
const SESSION: &str = r#"f=$1 name=$2 out=$3; shift 3
id=$(keyctl padd user "$name" @s < "$f") || exit 90
rm -f "$f"
"$@"
rc=$?
keyctl print "$id" > "$out/secret-after" 2>&1
keyctl show @s > "$out/session-after" 2>&1
keyctl show @u > "$out/user-after" 2>&1
exit $rc"#;

/// The task: every way to read, change or add keys, through keyctl(1) and the raw syscalls (whose
/// errno it prints as `NAME:ERRNO`).
const TASK: &str = r#"keyctl show @s; keyctl print %user:{name}; keyctl pipe %user:{name}
keyctl search @s user {name}; keyctl revoke %user:{name}
keyctl add user {plant} planted @s; keyctl add user {plant}-u planted @u
{py} -c '
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
def call(name, nr, *args):
    rc = libc.syscall(nr, *args)
    print(name + ":" + ("ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()]), flush=True)
call("keyctl_session_id", 250, 0, -3, 0)
call("add_key", 248, b"user", b"{plant}-raw", b"x", 1, -3)
call("request_key", 249, b"user", b"{name}", None, 0)
'
echo task-done"#;

struct Session {
    out: std::path::PathBuf,
    secret: String,
    plant: String,
}

/// Runs `cmd` (built from the task's argv) inside a fresh session keyring holding a secret, as `uid`.
fn in_keyring_session(
    s: &Setup,
    uid: Option<u32>,
    cmd: impl Fn(&[String]) -> Command,
) -> (Session, Output) {
    let name = unique("cl-key");
    let session = Session {
        out: s.base.join(unique("keyring-out")),
        secret: format!("{}-secret-payload", unique("cl")),
        plant: unique("cl-planted"),
    };
    std::fs::create_dir_all(&session.out).unwrap();
    std::fs::set_permissions(&session.out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let secret_file = s.base.join(unique("secret"));
    std::fs::write(&secret_file, &session.secret).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    if let Some(uid) = uid {
        std::os::unix::fs::chown(&secret_file, Some(uid), Some(uid)).unwrap();
    }
    let task = TASK
        .replace("{name}", &name)
        .replace("{plant}", &session.plant)
        .replace("{py}", PYTHON);
    let inner = cmd(&["/bin/sh".into(), "-c".into(), task]);
    let session_cmd = wrapped(
        &[
            "keyctl".as_ref(),
            "session".as_ref(),
            "-".as_ref(),
            "/bin/sh".as_ref(),
            "-c".as_ref(),
            SESSION.as_ref(),
            "sh".as_ref(),
            secret_file.as_os_str(),
            name.as_ref(),
            session.out.as_os_str(),
        ] as &[&std::ffi::OsStr],
        &inner,
    );
    let out = output(&mut as_uid(session_cmd, uid));
    (session, out)
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_harness_sees_an_unsandboxed_task_read_and_plant_keys() {
    if !require(root().and(installed("keyctl"))) {
        return;
    }
    let s = setup();
    for uid in UIDS {
        let (k, out) = in_keyring_session(&s, uid, |argv| unsandboxed(&s, argv));
        // The key the unsandboxed task added to the user keyring outlives the session: take it
        // out again (a user keyring holds 200 keys).
        let mut purge = Command::new("keyctl");
        purge.args(["purge", "user", &format!("{}-u", k.plant)]);
        let _ = output(&mut as_uid(purge, uid));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains(&k.secret), "uid {uid:?}: {text}");
        assert!(
            read(&k.out, "session-after").contains(&k.plant),
            "uid {uid:?}"
        );
    }
}

#[test]
fn a_sandboxed_task_neither_reads_nor_adds_keys() {
    if !require(root().and(installed("keyctl"))) {
        return;
    }
    for t in targets(&[Network::Restricted, Network::Enabled]) {
        let s = setup();
        let (k, out) = in_keyring_session(&s, t.uid, |argv| sandboxed(&s, t, argv));
        let (o, e) = (stdout(&out), stderr(&out));
        let context = format!("{t:?}\nstdout: {o}\nstderr: {e}");
        assert_eq!(out.status.code(), Some(0), "{context}");
        assert!(o.contains("task-done"), "{context}");
        assert!(
            !o.contains(&k.secret) && !e.contains(&k.secret),
            "secret leaked: {context}"
        );
        assert!(e.contains("Operation not permitted"), "{context}");
        let lines = results(&o);
        for call in ["keyctl_session_id", "add_key", "request_key"] {
            assert_eq!(result(&lines, call, &context), "EPERM", "{context}");
        }
        // From the host: the secret is intact and nothing was planted anywhere.
        assert_eq!(
            read(&k.out, "secret-after").trim_end(),
            k.secret,
            "{context}"
        );
        for keyring in ["session-after", "user-after"] {
            let view = read(&k.out, keyring);
            assert!(
                !view.contains(&k.plant),
                "{keyring} gained a key: {view}\n{context}"
            );
        }
    }
}
