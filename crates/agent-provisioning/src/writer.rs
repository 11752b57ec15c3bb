//! Writing the roster file: under an exclusive file lock, read the current
//! file, apply the change and replace the file atomically, so two writers
//! (a keeper and a tool, or two keepers over one another) never lose each
//! other's changes, and the file is rewritten only when it changes (each
//! write makes the gateway reload).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{ProvisioningError, Roster, atomic, reserved_entry};

fn lock_path(roster: &Path) -> PathBuf {
    let name = roster
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    roster.with_file_name(format!(".{name}.lock"))
}

/// The roster as it is on disk now (empty when missing). Blocking file I/O.
///
/// # Errors
/// As [`Roster::parse`], and [`ProvisioningError::Io`] when the file exists
/// but cannot be read.
pub fn read_roster(path: &Path) -> Result<Roster, ProvisioningError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Roster::parse(path, &text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Roster::default()),
        Err(err) => Err(ProvisioningError::io("reading", path)(err)),
    }
}

/// Makes the roster hold the reserved agent and `slots` slot agents, plus
/// `adopted` entries (found inline in openclaw.json) and whatever operator
/// entries it has. Returns whether the file was written.
///
/// `adopted` entries never replace entries already there. The change is
/// made under an exclusive lock on a `.<file name>.lock` file beside the
/// roster: the call blocks while another process holds it. The file is
/// replaced atomically, and only when its contents change (each write makes
/// the gateway reload) or it is missing.
///
/// # Errors
/// [`ProvisioningError::Io`] when the lock, the current roster or the new
/// file fails; [`ProvisioningError::Parse`] or [`ProvisioningError::Shape`]
/// for a current roster that cannot be read as one.
pub fn write_roster(
    path: &Path,
    gateway_workspaces_dir: &Path,
    slots: u32,
    adopted: Map<String, Value>,
) -> Result<bool, ProvisioningError> {
    let _lock = atomic::lock(&lock_path(path))?;
    let mut roster = read_roster(path)?;
    let before = roster.clone();
    roster.adopt(adopted);
    roster.set_slots(
        gateway_workspaces_dir,
        slots,
        reserved_entry(gateway_workspaces_dir),
    );
    if roster == before && path.exists() {
        return Ok(false);
    }
    atomic::write_file(path, &roster.to_json())?;
    tracing::info!(entries = roster.len(), slots, "roster written");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_and_keeps_what_others_added() {
        let dir = std::env::temp_dir().join(format!("heyclaw-roster-{}", uuid::Uuid::new_v4()));
        let path = dir.join("heyclaw-agents.json");
        assert!(write_roster(&path, Path::new("/w"), 3, Map::new()).unwrap());
        assert!(!write_roster(&path, Path::new("/w"), 3, Map::new()).unwrap());
        let mut mine = Map::new();
        mine.insert(
            "main".to_owned(),
            serde_json::json!({ "workspace": "/w/main" }),
        );
        assert!(write_roster(&path, Path::new("/w"), 2, mine).unwrap());
        let roster = read_roster(&path).unwrap();
        let ids: Vec<_> = roster.ids().collect();
        assert_eq!(ids.len(), 4, "{ids:?}");
        assert!(roster.contains("main") && !roster.contains("slot-2"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
