//! Pure builders for each sandbox backend: they turn a resolved policy into launch data.

pub mod bwrap;
pub mod landlock;
pub mod seatbelt;
pub mod seccomp;
