//! System calls through another ABI of the x86-64 kernel, which a deny-list keyed on x86-64 numbers
//! would not recognise: i386 calls through `int 0x80` (different numbers: 288 is keyctl there) and
//! x32 calls (x86-64 audit arch, numbers with bit 30 set). The filter kills the first (SIGSYS, so
//! the shell sees status 159) and refuses the second with EPERM, on every backend, uid and network
//! mode. A control run without a sandbox shows both ABIs working or at worst unsupported.

mod common;

use common::attack::*;
use common::*;

fn script() -> Vec<String> {
    let probe = fixture("foreign_abi.py").display().to_string();
    let script = format!("{PYTHON} {probe} x32; {PYTHON} {probe} i386; echo i386_status:$?",);
    vec!["/bin/sh".into(), "-c".into(), script]
}

#[test]
fn without_a_sandbox_both_abis_answer() {
    if !cfg!(target_arch = "x86_64") || !require(root()) {
        return;
    }
    let s = setup();
    let out = output(&mut unsandboxed(&s, &script()));
    let context = stdout(&out);
    let lines = results(&context);
    assert_eq!(result(&lines, "i386", &context), "ok");
    assert_eq!(result(&lines, "i386_status", &context), "0");
    // ENOSYS on kernels built without x32; never EPERM.
    assert_ne!(result(&lines, "x32", &context), "EPERM");
}

#[test]
fn a_sandboxed_task_cannot_call_through_i386_or_x32() {
    if !cfg!(target_arch = "x86_64") || !require(root()) {
        return;
    }
    for t in targets(&[Network::Restricted, Network::Enabled]) {
        let s = setup();
        let out = output(&mut as_uid(sandboxed(&s, t, &script()), t.uid));
        let context = format!("{t:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{context}");
        let lines = results(&stdout(&out));
        assert_eq!(result(&lines, "x32", &context), "EPERM", "{context}");
        assert!(!lines.iter().any(|(n, _)| n == "i386"), "{context}");
        assert_eq!(
            result(&lines, "i386_status", &context),
            (128 + libc::SIGSYS).to_string(),
            "{context}"
        );
    }
}
