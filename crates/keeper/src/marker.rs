//! What a slot's files currently are: one small JSON file per slot, kept
//! outside every workspace (`<workspaces>/.heyclaw/slot-<n>.json`) so no
//! agent can read or forge it. The keeper trusts only this — never the
//! workspace's contents — to know whose files a slot holds.

use std::path::{Path, PathBuf};

use heyclaw_agent_provisioning::{ProvisioningError, WorkspaceFile, slot_id};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What the keeper records about a slot, outside its workspace
/// (`<workspaces>/.heyclaw/slot-<n>.json`): whose files it holds, and as of
/// when. Only the keeper reads and writes these files; the type is public
/// so their contents can be inspected (it is their JSON shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotMarker {
    /// Whose files the slot holds.
    pub user: Uuid,
    /// The binding generation the files were last made ready for.
    pub generation: i64,
    /// The time zone written into USER.md.
    pub timezone: Option<String>,
    /// A SHA-256 (hex) over the workspace's file paths and contents when
    /// last loaded or saved: a resident workspace is backed up only when
    /// this changes.
    pub digest: String,
}

pub fn marker_path(workspaces_dir: &Path, slot: u32) -> PathBuf {
    workspaces_dir
        .join(".heyclaw")
        .join(format!("{}.json", slot_id(slot)))
}

/// The slot's marker; `None` when the slot holds nobody's files (or the
/// marker is unreadable, which is treated the same: the slot is refilled).
pub fn read(workspaces_dir: &Path, slot: u32) -> Option<SlotMarker> {
    let path = marker_path(workspaces_dir, slot);
    let text = std::fs::read(&path).ok()?;
    match serde_json::from_slice(&text) {
        Ok(marker) => Some(marker),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "unreadable slot marker; the slot is refilled");
            None
        }
    }
}

pub fn write(
    workspaces_dir: &Path,
    slot: u32,
    marker: &SlotMarker,
) -> Result<(), ProvisioningError> {
    let path = marker_path(workspaces_dir, slot);
    let dir = path.parent().unwrap_or(workspaces_dir);
    std::fs::create_dir_all(dir).map_err(|source| ProvisioningError::Io {
        action: "creating",
        path: dir.to_path_buf(),
        source,
    })?;
    let bytes = serde_json::to_vec(marker).unwrap_or_default();
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, bytes)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|source| ProvisioningError::Io {
            action: "writing",
            path,
            source,
        })
}

pub fn remove(workspaces_dir: &Path, slot: u32) -> Result<(), ProvisioningError> {
    let path = marker_path(workspaces_dir, slot);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ProvisioningError::Io {
            action: "removing",
            path,
            source,
        }),
    }
}

/// A fingerprint of a workspace's files, to save only what changed.
pub fn digest(files: &[WorkspaceFile]) -> String {
    let mut hasher = Sha256::new();
    for (path, bytes) in files {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_digests_tell_files_apart() {
        let dir = std::env::temp_dir().join(format!("heyclaw-marker-{}", Uuid::new_v4()));
        assert_eq!(read(&dir, 3), None);
        let marker = SlotMarker {
            user: Uuid::new_v4(),
            generation: 7,
            timezone: Some("Europe/Paris".into()),
            digest: digest(&[("a".into(), b"bc".to_vec())]),
        };
        write(&dir, 3, &marker).unwrap();
        assert_eq!(read(&dir, 3), Some(marker.clone()));
        assert_ne!(marker.digest, digest(&[("ab".into(), b"c".to_vec())]));
        remove(&dir, 3).unwrap();
        remove(&dir, 3).unwrap();
        assert_eq!(read(&dir, 3), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
