//! The binary is linked statically on glibc Linux (.cargo/config.toml) because every launch
//! starts it once or twice and the dynamic loader was a fifth of that start. Static must not
//! cost the hardening a dynamic PIE has: it stays position independent (ASLR), with its
//! relocated data read-only after start-up (full RELRO: a RELRO segment and BIND_NOW).
//! Checked on the file and, for RELRO, on a running launcher.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const ET_DYN: u16 = 3;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const DT_FLAGS: u64 = 30;
const DF_BIND_NOW: u64 = 0x8;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DF_1_NOW: u64 = 0x1;

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    mem_size: u64,
}

struct Elf {
    kind: u16,
    segments: Vec<Segment>,
    bytes: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The ELF header and program headers of a 64-bit little-endian file.
fn read_elf(path: &Path) -> Elf {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!((bytes[4], bytes[5]), (2, 1), "expected ELF64 little-endian");
    let (phoff, phentsize, phnum) = (
        u64_at(&bytes, 32) as usize,
        u16_at(&bytes, 54) as usize,
        u16_at(&bytes, 56) as usize,
    );
    let segments = (0..phnum)
        .map(|i| {
            let h = phoff + i * phentsize;
            Segment {
                kind: u32_at(&bytes, h),
                offset: u64_at(&bytes, h + 8),
                vaddr: u64_at(&bytes, h + 16),
                file_size: u64_at(&bytes, h + 32),
                mem_size: u64_at(&bytes, h + 40),
            }
        })
        .collect();
    Elf {
        kind: u16_at(&bytes, 16),
        segments,
        bytes,
    }
}

impl Elf {
    fn segment(&self, kind: u32) -> Option<&Segment> {
        self.segments.iter().find(|s| s.kind == kind)
    }

    /// The value of dynamic tag `tag`, if the dynamic section has it.
    fn dynamic(&self, tag: u64) -> Option<u64> {
        let dynamic = self.segment(PT_DYNAMIC)?;
        let start = dynamic.offset as usize;
        (start..start + dynamic.file_size as usize)
            .step_by(16)
            .map(|at| (u64_at(&self.bytes, at), u64_at(&self.bytes, at + 8)))
            .take_while(|&(t, _)| t != 0)
            .find(|&(t, _)| t == tag)
            .map(|(_, v)| v)
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
#[test]
fn the_binary_is_a_static_pie_with_full_relro() {
    let elf = read_elf(&bin());
    assert_eq!(elf.kind, ET_DYN, "not position independent: no ASLR");
    assert!(
        elf.segment(PT_INTERP).is_none(),
        "the binary asks for a dynamic loader: was .cargo/config.toml's crt-static overridden \
         (RUSTFLAGS)?"
    );
    assert!(elf.segment(PT_GNU_RELRO).is_some(), "no RELRO segment");
    let bind_now = elf.dynamic(DT_FLAGS).is_some_and(|f| f & DF_BIND_NOW != 0)
        || elf.dynamic(DT_FLAGS_1).is_some_and(|f| f & DF_1_NOW != 0);
    assert!(
        bind_now,
        "not BIND_NOW: the GOT stays writable (partial RELRO)"
    );
}

/// The static start-up code must itself make the RELRO pages read-only after relocating them:
/// read a running launcher's map (the outer stage waits for bubblewrap, so it stays alive).
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
#[test]
fn a_running_launcher_has_its_relro_pages_read_only() {
    if !is_root() {
        skip("needs root for the vendored bubblewrap launch");
        return;
    }
    let elf = read_elf(&bin());
    let relro = elf.segment(PT_GNU_RELRO).expect("RELRO segment");
    let s = setup();
    let mut child = helper_on(&s, "bwrap-vendored", &["sleep", "5"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Start-up (relocation, then mprotect) is over once the launcher has a child of its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the launcher never started bubblewrap"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let exe = std::fs::canonicalize(bin()).unwrap();
    let exe = exe.to_str().unwrap();
    let range = |line: &str| {
        let (start, end) = line.split_once(' ').unwrap().0.split_once('-').unwrap();
        (
            u64::from_str_radix(start, 16).unwrap(),
            u64::from_str_radix(end, 16).unwrap(),
        )
    };
    let base = maps
        .lines()
        .find(|l| l.ends_with(exe) && l.split_whitespace().nth(2) == Some("00000000"))
        .map(|l| range(l).0)
        .unwrap_or_else(|| panic!("{exe} is not mapped at offset 0:\n{maps}"));
    // The whole pages of the segment: its last partial page shares the page with .data.
    let first = (base + relro.vaddr) & !0xfff;
    let last = (base + relro.vaddr + relro.mem_size) & !0xfff;
    assert!(first < last, "RELRO segment smaller than a page");
    let covering: Vec<&str> = maps
        .lines()
        .filter(|l| {
            let (start, end) = range(l);
            start < last && end > first
        })
        .collect();
    child.kill().ok();
    child.wait().ok();
    assert!(!covering.is_empty(), "RELRO pages not mapped:\n{maps}");
    for line in covering {
        let perms = line.split_whitespace().nth(1).unwrap();
        assert_eq!(
            perms, "r--p",
            "RELRO page writable after start-up: {line}\n{maps}"
        );
    }
}
