use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid JSON5: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{} has an unexpected shape: {message}", path.display())]
    Shape { path: PathBuf, message: String },
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
