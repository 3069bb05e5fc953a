//! Issue 16, unix sockets under `--network filtered`: what stays and what goes. A command may
//! still talk to itself over a `socketpair` (Python's `multiprocessing.Pipe`, subprocess plumbing),
//! but may not create a unix socket of its own: that socket could connect to any host pathname
//! socket the sandbox can see (docker.sock, an ssh-agent in /tmp, a D-Bus bus), and neither seccomp
//! (which cannot read the path) nor Landlock below ABI 9 can tell those from the command's own.
//! So tmux, git's credential-cache daemon or a multiprocessing Manager do not work in this mode;
//! `--network on` restores them, with every host socket in reach (net_direct_bypass.rs checks
//! that host sockets stay unreachable here). Every backend and uid.

mod common;

use common::scene::{Scene, Variant};
use common::*;

const SCRIPT: &str = r#"python3 - <<'EOF'
import errno, multiprocessing, socket
a, b = socket.socketpair()
a.sendall(b"ping")
print("socketpair", b.recv(4).decode(), flush=True)
def child(conn):
    conn.send("from child")
left, right = multiprocessing.Pipe()
p = multiprocessing.Process(target=child, args=(right,))
p.start()
print("pipe", left.recv(), flush=True)
p.join()
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    print("af_unix created", flush=True)
except OSError as e:
    print("af_unix refused", errno.errorcode.get(e.errno), flush=True)
EOF"#;

#[test]
fn socketpairs_work_and_new_unix_sockets_are_refused() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(&[], SCRIPT)));
        let said = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{variant:?}: {}\n{said}",
            stderr(&out)
        );
        assert!(said.contains("socketpair ping"), "{variant:?}: {said}");
        assert!(said.contains("pipe from child"), "{variant:?}: {said}");
        assert!(
            said.contains("af_unix refused EPERM"),
            "{variant:?}: {said}"
        );
        // Control: with the network on the command may create unix sockets.
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(&["--network", "on"], SCRIPT)));
        assert!(
            stdout(&out).contains("af_unix created"),
            "{variant:?}: {}",
            stdout(&out)
        );
    }
}
