//! Whole-file replacement that readers never see half-done: write a
//! temporary file beside the target, fsync it, rename it over the target,
//! fsync the directory. The gateway's file watcher sees one complete file.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    path::Path,
};

use crate::ProvisioningError;

pub fn write_file(path: &Path, contents: &[u8]) -> Result<(), ProvisioningError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(ProvisioningError::io("creating", dir))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp).map_err(ProvisioningError::io("creating", &temp))?;
        file.write_all(contents)
            .map_err(ProvisioningError::io("writing", &temp))?;
        file.sync_all()
            .map_err(ProvisioningError::io("syncing", &temp))?;
        fs::rename(&temp, path).map_err(ProvisioningError::io("renaming onto", path))?;
        // The rename is durable only once the directory entry is.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(ProvisioningError::io("syncing", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// An exclusive lock held across processes (keepers, tools) for as long as
/// the returned file lives.
pub fn lock(path: &Path) -> Result<File, ProvisioningError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(ProvisioningError::io("creating", dir))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(ProvisioningError::io("opening lock", path))?;
    file.lock()
        .map_err(ProvisioningError::io("locking", path))?;
    Ok(file)
}
