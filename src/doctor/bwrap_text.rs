//! bubblewrap's error messages, recognised by the phrases bubblewrap 0.4 to 0.12 print (its
//! `die_with_error` texts), so doctor can name a cause. Anything else is reported as unrecognised,
//! never as "no problems".

/// A bubblewrap failure doctor knows the cause of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognised {
    /// `pivot_root: Operation not permitted`: a seccomp profile or LSM refuses the switch to
    /// the new root, after unshare and mount worked.
    PivotRoot,
    /// `Unexpected capabilities but not setuid, old file caps config?`: a non-root process
    /// holds capabilities (podman's --cap-add for a non-root --user makes them ambient).
    AmbientCaps,
    /// `Can't mount proc on /newroot/proc`: the runtime masks parts of /proc.
    MaskedProc,
    /// `Failed to make / slave`.
    MountPropagation,
    /// AppArmor's userns restriction: the namespace exists but setting it up is refused.
    AppArmor,
    /// `No permissions to create new namespace` / `Creating new namespace failed`.
    NamespacesRefused,
}

/// The cause of `text` (a bwrap stderr), if doctor knows it.
pub fn recognise(text: &str) -> Option<Recognised> {
    // Most specific first: a message can quote an errno text that another phrase shares.
    const PHRASES: [(&str, Recognised); 8] = [
        ("pivot_root", Recognised::PivotRoot),
        (
            "Unexpected capabilities but not setuid",
            Recognised::AmbientCaps,
        ),
        ("Can't mount proc", Recognised::MaskedProc),
        ("Failed to make / slave", Recognised::MountPropagation),
        ("RTM_NEWADDR", Recognised::AppArmor),
        ("setting up uid map", Recognised::AppArmor),
        (
            "No permissions to create new namespace",
            Recognised::NamespacesRefused,
        ),
        (
            "Creating new namespace failed",
            Recognised::NamespacesRefused,
        ),
    ];
    PHRASES
        .iter()
        .find(|(phrase, _)| text.contains(phrase))
        .map(|(_, r)| *r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_what_real_containers_print() {
        // Measured with podman 4.3 + runc over a debootstrap rootfs (tests/container_podman.rs).
        assert_eq!(
            recognise("bwrap: pivot_root: Operation not permitted"),
            Some(Recognised::PivotRoot)
        );
        assert_eq!(
            recognise("bwrap: Unexpected capabilities but not setuid, old file caps config?"),
            Some(Recognised::AmbientCaps)
        );
        assert_eq!(
            recognise("bwrap: Can't mount proc on /newroot/proc: Operation not permitted"),
            Some(Recognised::MaskedProc)
        );
        assert_eq!(
            recognise("bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces."),
            Some(Recognised::NamespacesRefused)
        );
        assert_eq!(
            recognise("bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted"),
            Some(Recognised::AppArmor)
        );
    }

    #[test]
    fn anything_else_is_unrecognised() {
        assert_eq!(recognise(""), None);
        assert_eq!(
            recognise("bwrap: Can't find source path /nix: No such file"),
            None
        );
        assert_eq!(recognise("Operation not permitted"), None);
    }
}
