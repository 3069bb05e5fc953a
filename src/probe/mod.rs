//! Host inspection: which bubblewrap to use, what the kernel allows. Results are cached on disk.

pub mod bwrap;
pub mod cache;
pub mod host;
pub mod proc_mount;
