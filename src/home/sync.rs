//! Links and copies from the shared home into the per-task home (reference §4.1–4.3, §4.5).

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::atomic;
use super::{Action, HomeError};

/// Contents of `path` following symlinks, or None when absent (a dangling link counts as absent).
pub fn read_source(path: &Path) -> Result<Option<Vec<u8>>, HomeError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HomeError::io(path, e)),
    }
}

/// The 4-case rule: copy / refresh / delete / nothing. Unchanged content is not rewritten.
pub fn sync_copy(
    src: Option<&[u8]>,
    dst: &Path,
    actions: &mut Vec<Action>,
) -> Result<(), HomeError> {
    let existing = std::fs::symlink_metadata(dst).ok();
    match (src, existing) {
        (Some(bytes), Some(meta)) if meta.is_file() && !meta.file_type().is_symlink() => {
            let same = std::fs::read(dst).is_ok_and(|cur| cur == bytes);
            if same && meta.permissions().mode() & 0o777 == 0o600 {
                actions.push(Action::new(dst, "unchanged"));
            } else {
                atomic::write(dst, bytes, 0o600).map_err(|e| HomeError::io(dst, e))?;
                actions.push(Action::new(dst, "refreshed"));
            }
        }
        (Some(bytes), existing) => {
            if let Some(meta) = existing {
                remove_entry(dst, &meta)?;
            }
            atomic::write(dst, bytes, 0o600).map_err(|e| HomeError::io(dst, e))?;
            actions.push(Action::new(dst, "copied"));
        }
        (None, Some(meta)) => {
            remove_entry(dst, &meta)?;
            actions.push(Action::new(dst, "deleted"));
        }
        (None, None) => {}
    }
    Ok(())
}

fn remove_entry(path: &Path, meta: &std::fs::Metadata) -> Result<(), HomeError> {
    let result = if meta.is_dir() {
        std::fs::remove_dir(path)
    } else {
        std::fs::remove_file(path)
    };
    result.map_err(|e| HomeError::io(path, e))
}

/// Makes `dst` a symlink to `target` (absolute), replacing a wrong or broken link or a regular file.
pub fn ensure_link(target: &Path, dst: &Path, actions: &mut Vec<Action>) -> Result<(), HomeError> {
    match std::fs::symlink_metadata(dst) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if std::fs::read_link(dst).is_ok_and(|t| t == target) {
                actions.push(Action::new(dst, "unchanged"));
                return Ok(());
            }
            std::fs::remove_file(dst).map_err(|e| HomeError::io(dst, e))?;
        }
        Ok(meta) if meta.is_dir() => {
            // An empty directory is replaced; one with content is the user's data: refuse to guess.
            std::fs::remove_dir(dst).map_err(|_| {
                HomeError::Refused(format!(
                "{} is a non-empty directory where a link to {} belongs; move it away and retry",
                dst.display(),
                target.display()
            ))
            })?;
        }
        Ok(meta) => remove_entry(dst, &meta)?,
        Err(_) => {}
    }
    // Create under a temp name and rename over, so the link is never missing for a reader.
    let tmp = dst.with_file_name(format!(
        ".{}.link-{}",
        dst.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| HomeError::io(&tmp, e))?;
    std::fs::rename(&tmp, dst).map_err(|e| HomeError::io(dst, e))?;
    actions.push(Action::new(dst, "linked"));
    Ok(())
}

/// Removes a link or file at `dst` (used when its shared source is gone: no dangling links).
pub fn remove_if_present(dst: &Path, actions: &mut Vec<Action>) -> Result<(), HomeError> {
    if let Ok(meta) = std::fs::symlink_metadata(dst) {
        remove_entry(dst, &meta)?;
        actions.push(Action::new(dst, "deleted"));
    }
    Ok(())
}

/// A file the shared config names by a relative path: where it is read and where the copy goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referenced {
    pub key: &'static str,
    pub relative: PathBuf,
    pub bytes: Vec<u8>,
}

pub const REFERENCE_KEYS: [&str; 3] = [
    "model_catalog_json",
    "model_instructions_file",
    "experimental_instructions_file",
];

/// Validates and reads every referenced file before anything is written.
pub fn referenced_files(
    doc: &toml_edit::Table,
    shared: &Path,
) -> Result<Vec<Referenced>, HomeError> {
    let mut out = Vec::new();
    for key in REFERENCE_KEYS {
        let Some(item) = doc.get(key) else { continue };
        let Some(value) = item.as_str().map(str::trim).filter(|v| !v.is_empty()) else {
            return Err(HomeError::Refused(format!(
                "shared config.toml: {key} must be a non-empty string"
            )));
        };
        let rel = Path::new(value);
        let escapes = rel.is_absolute()
            || value.starts_with('~')
            || rel
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes {
            return Err(HomeError::Refused(format!(
                "shared config.toml: {key} = {value:?} must be a relative path inside {} (no absolute, ~ or .. paths)",
                shared.display()
            )));
        }
        let mut current = shared.to_path_buf();
        for part in rel.components() {
            current.push(part);
            if std::fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(HomeError::Refused(format!(
                    "shared config.toml: {key} = {value:?} goes through the symlink {}; refusing to follow it",
                    current.display()
                )));
            }
        }
        let meta = std::fs::metadata(&current).map_err(|e| {
            HomeError::Refused(format!(
                "shared config.toml: {key} = {value:?}: {}: {e}",
                current.display()
            ))
        })?;
        if !meta.is_file() {
            return Err(HomeError::Refused(format!(
                "shared config.toml: {key} = {value:?} is not a regular file"
            )));
        }
        let bytes = std::fs::read(&current).map_err(|e| HomeError::io(&current, e))?;
        out.push(Referenced {
            key,
            relative: rel.to_path_buf(),
            bytes,
        });
    }
    Ok(out)
}

/// Copies a referenced file to the same relative path inside `home`, refusing symlinked parents.
pub fn copy_referenced(
    home: &Path,
    r: &Referenced,
    actions: &mut Vec<Action>,
) -> Result<(), HomeError> {
    let mut current = home.to_path_buf();
    let parts: Vec<_> = r.relative.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                return Err(HomeError::Refused(format!(
                    "{} ({}) is not a plain directory in the per-task home; refusing to write through it",
                    current.display(),
                    r.key
                )))
            }
            Ok(_) => {}
            Err(_) => {
                std::fs::create_dir(&current).map_err(|e| HomeError::io(&current, e))?;
                std::fs::set_permissions(&current, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| HomeError::io(&current, e))?;
            }
        }
    }
    sync_copy(Some(&r.bytes), &home.join(&r.relative), actions)
}
