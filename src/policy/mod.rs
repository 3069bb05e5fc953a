//! The permission model: Codex's permission-profile JSON, resolved to concrete paths.

pub mod glob_scan;
pub mod modes;
pub mod profile;
pub mod resolve;

pub use profile::{Access, Network, PermissionProfile, ProfileError};
pub use resolve::{FileSystem, Policy, ResolveContext, Rules};
