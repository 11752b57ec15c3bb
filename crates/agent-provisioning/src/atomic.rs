//! Whole-file replacement that readers never see half-done: write a
//! temporary file beside the target, fsync it, rename it over the target,
//! fsync the directory. The gateway's file watcher sees one complete file.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::ProvisioningError;

pub fn write_file(path: &Path, contents: &[u8]) -> Result<(), ProvisioningError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(ProvisioningError::io("creating", dir))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per write, not just per process: two threads of one process
    // (a keeper's round and a container start in tests) may write the same
    // file at once, and a shared temporary name lets one rename the other's
    // file away.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let write = WRITES.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{file_name}.{}.{write}.tmp", std::process::id()));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The e2e stack once failed here: a keeper round and a container start
    /// in one process wrote `openclaw.json` at once through one temporary
    /// name, and the second rename found nothing to rename.
    #[test]
    fn threads_of_one_process_write_the_same_file_at_once() {
        let dir = std::env::temp_dir().join(format!("heyclaw-atomic-{}", uuid::Uuid::new_v4()));
        let path = dir.join("openclaw.json");
        let writers: Vec<_> = (0..8u8)
            .map(|writer| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        write_file(&path, &[writer; 4096]).expect("every write lands");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let contents = fs::read(&path).unwrap();
        assert_eq!(contents.len(), 4096);
        assert!(
            contents.iter().all(|byte| *byte == contents[0]),
            "one whole write"
        );
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["openclaw.json"], "no temporary file left behind");
        let _ = fs::remove_dir_all(dir);
    }
}
