//! No setuid or setgid bit from inside, on any backend: a task started by root could otherwise
//! make a root-owned binary outside the writable roots setuid (Landlock does not govern chmod), or
//! leave a setuid-root file in the workspace for the next user who runs it.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::matrix::*;
use common::*;

#[test]
fn no_setuid_bit_is_set_from_inside() {
    let s = setup();
    let victim = victim_dir(&s).join("tool");
    std::fs::write(&victim, "#!/bin/sh\n").unwrap();
    let script = format!(
        r#"chmod 4755 {0} 2>/dev/null && echo chmod-outside-ok
cp /bin/true t && chmod u+s t 2>/dev/null && echo chmod-ws-ok
chmod g+s t 2>/dev/null && echo chmod-g-ok
python3 -c 'import os; os.close(os.open("made", os.O_CREAT | os.O_WRONLY, 0o4755))' 2>/dev/null && echo open-ok
python3 -c 'import os; os.mknod("node", 0o104755)' 2>/dev/null && echo mknod-ok
chmod 0755 t && echo plain-chmod-ok"#,
        victim.display()
    );
    for mut launch in each_backend_and_user(&s, &script, &[]) {
        std::os::unix::fs::chown(&victim, Some(launch.uid), Some(launch.uid)).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
        for name in ["t", "made", "node"] {
            let _ = std::fs::remove_file(s.ws.join(name));
        }
        let out = output(&mut launch.cmd);
        let o = stdout(&out);
        let label = &launch.label;
        assert!(o.contains("plain-chmod-ok"), "{label}: {o}{}", stderr(&out));
        for bad in [
            "chmod-outside-ok",
            "chmod-ws-ok",
            "chmod-g-ok",
            "open-ok",
            "mknod-ok",
        ] {
            assert!(!o.contains(bad), "{label}: {bad}\n{o}");
        }
        assert_eq!(
            std::fs::metadata(&victim).unwrap().mode() & 0o7777,
            0o755,
            "{label}"
        );
        for name in ["t", "made", "node"] {
            if let Ok(m) = std::fs::metadata(s.ws.join(name)) {
                assert_eq!(m.mode() & 0o6000, 0, "{label}: {name} is setuid/setgid");
            }
        }
    }
}
