use std::path::PathBuf;

/// What went wrong with a gateway's files. Every variant names the file or
/// directory, so the message alone says where to look.
#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `creating`, `locking`, …).
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A config or roster file is not JSON5.
    #[error("{} is not valid JSON5: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A file parsed but is not shaped as expected (a config or roster that
    /// is not an object), or a workspace file path would leave its
    /// workspace.
    #[error("{} has an unexpected shape: {message}", path.display())]
    Shape {
        /// The file (or, for a workspace, its directory).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl ProvisioningError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
