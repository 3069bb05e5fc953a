//! A per-user secret that no sandboxed task can read or replace, for sealing the launcher's own
//! records: it lives in the kernel's user keyring, and every sandbox's seccomp filter refuses the
//! keyring calls (`add_key`, `keyctl`, `request_key`), whatever the backend. A file could not do
//! this: a Landlock launch whose workspace holds the state dir (`cd ~`) can write that dir.
//!
//! Where the keyring is closed (a container's seccomp profile, a kernel without keys) there is no
//! secret, and nothing sealed is trusted.

/// The key's description in the user keyring.
const DESCRIPTION: &std::ffi::CStr = c"codex-launcher:state-seal";
const LEN: usize = 32;

/// The user keyring's secret, created on first use.
#[cfg(target_os = "linux")]
pub fn secret() -> Option<[u8; LEN]> {
    // SAFETY: keyctl and add_key with valid pointers and lengths; the kernel copies what it reads.
    unsafe {
        let keyctl = |op: u32, a: libc::c_long, b: libc::c_long, c: libc::c_long| {
            libc::syscall(
                libc::SYS_keyctl,
                op as libc::c_long,
                a,
                b,
                c,
                0 as libc::c_long,
            )
        };
        let ring = keyctl(
            libc::KEYCTL_GET_KEYRING_ID,
            libc::KEY_SPEC_USER_KEYRING as libc::c_long,
            1,
            0,
        );
        if ring < 0 {
            return None;
        }
        let found = keyctl(
            libc::KEYCTL_SEARCH,
            ring,
            c"user".as_ptr() as libc::c_long,
            DESCRIPTION.as_ptr() as libc::c_long,
        );
        let mut buf = [0u8; LEN];
        if found >= 0 {
            let n = keyctl(
                libc::KEYCTL_READ,
                found,
                buf.as_mut_ptr() as libc::c_long,
                LEN as libc::c_long,
            );
            return (n == LEN as libc::c_long).then_some(buf);
        }
        if libc::getrandom(buf.as_mut_ptr().cast(), LEN, 0) != LEN as isize {
            return None;
        }
        let id = libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            DESCRIPTION.as_ptr(),
            buf.as_ptr(),
            LEN,
            ring,
        );
        if id < 0 {
            return None;
        }
        // Possessor: everything; the user (this uid's other processes, found through the user
        // keyring): view, read and search. Nobody else.
        const PERM: libc::c_long = 0x3f0b_0000;
        keyctl(libc::KEYCTL_SETPERM, id, PERM, 0);
        Some(buf)
    }
}

#[cfg(not(target_os = "linux"))]
pub fn secret() -> Option<[u8; LEN]> {
    None
}

/// The seal of `parts` under the secret, when there is one.
pub fn seal(secret: &[u8; LEN], parts: &[&[u8]]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    for part in parts {
        // Length-prefixed, so moving bytes from one part to the next changes the seal.
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    ctx.sign()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `tag` is the seal of `parts` (compared without an early exit).
pub fn verify(secret: &[u8; LEN], parts: &[&[u8]], tag: &str) -> bool {
    let want = seal(secret, parts);
    want.len() == tag.len()
        && want
            .bytes()
            .zip(tag.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_covers_every_part_and_its_boundaries() {
        let s = [7u8; LEN];
        let tag = seal(&s, &[b"ab", b"c"]);
        assert!(verify(&s, &[b"ab", b"c"], &tag));
        assert!(!verify(&s, &[b"a", b"bc"], &tag));
        assert!(!verify(&s, &[b"ab", b"d"], &tag));
        assert!(!verify(&[8u8; LEN], &[b"ab", b"c"], &tag));
    }
}
