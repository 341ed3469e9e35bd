//! Where a manifest's `file://` links point: a directory, or a zip archive read in place.
//!
//! Every link is resolved inside its root only. A link is refused when it is absolute, has an
//! empty, `.` or `..` component, a backslash, a NUL, or (in a directory) resolves through a
//! symbolic link to a file outside the root.

use super::VectorError;
use std::fs;
use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

/// The largest file a manifest may link to (ciphertexts, plaintexts, manifests), in bytes.
pub const MAX_FILE_LEN: u64 = 256 << 20;

/// The root a manifest's `file://` links resolve in.
pub struct Source {
    kind: Kind,
}

enum Kind {
    Dir(PathBuf),
    Zip(Mutex<zip::ZipArchive<Cursor<Vec<u8>>>>),
}

impl core::fmt::Debug for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.kind {
            Kind::Dir(p) => f.debug_tuple("Source::Dir").field(p).finish(),
            Kind::Zip(_) => f.write_str("Source::Zip"),
        }
    }
}

impl Source {
    /// Links resolve inside directory `root`.
    ///
    /// # Errors
    /// [`VectorError::Io`] when `root` cannot be resolved.
    pub fn dir(root: impl AsRef<Path>) -> Result<Self, VectorError> {
        let root = root.as_ref();
        let root = fs::canonicalize(root).map_err(|e| VectorError::io(root, e))?;
        Ok(Self {
            kind: Kind::Dir(root),
        })
    }

    /// Links resolve inside the zip archive at `path` (read whole, then in memory).
    ///
    /// # Errors
    /// [`VectorError::Io`] when the file cannot be read, [`VectorError::Zip`] when it is not a
    /// zip archive.
    pub fn zip_file(path: impl AsRef<Path>) -> Result<Self, VectorError> {
        let path = path.as_ref();
        let bytes = read_capped(path)?;
        Self::zip_bytes(bytes)
    }

    /// Links resolve inside the zip archive `bytes`.
    ///
    /// # Errors
    /// [`VectorError::Zip`] when `bytes` is not a zip archive.
    pub fn zip_bytes(bytes: Vec<u8>) -> Result<Self, VectorError> {
        let archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| VectorError::Zip(e.to_string()))?;
        Ok(Self {
            kind: Kind::Zip(Mutex::new(archive)),
        })
    }

    /// The names of the archive's top-level `.json` files, or of the directory's, sorted.
    ///
    /// # Errors
    /// [`VectorError::Io`] when the directory cannot be listed.
    pub fn top_level_json(&self) -> Result<Vec<String>, VectorError> {
        let mut names: Vec<String> = match &self.kind {
            Kind::Dir(root) => fs::read_dir(root)
                .map_err(|e| VectorError::io(root, e))?
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Kind::Zip(z) => z
                .lock()
                .map_err(|_| VectorError::Internal("zip archive lock poisoned"))?
                .file_names()
                .map(str::to_owned)
                .collect(),
        };
        names.retain(|n| !n.contains('/') && n.ends_with(".json"));
        names.sort();
        Ok(names)
    }

    /// The bytes `uri` (`file://RELATIVE/PATH`) links to.
    ///
    /// # Errors
    /// [`VectorError::Link`] for a link that is not `file://` or escapes the root;
    /// [`VectorError::Io`] / [`VectorError::Zip`] when the file is missing or unreadable.
    pub fn read(&self, uri: &str) -> Result<Vec<u8>, VectorError> {
        let rel = relative_path(uri)?;
        self.read_path(&rel)
    }

    /// The bytes of the file at `rel`, a relative path already checked by [`relative_path`].
    pub(crate) fn read_path(&self, rel: &str) -> Result<Vec<u8>, VectorError> {
        match &self.kind {
            Kind::Dir(root) => {
                let path = root.join(rel);
                let real = fs::canonicalize(&path).map_err(|e| VectorError::io(&path, e))?;
                if !real.starts_with(root) {
                    return Err(VectorError::Link {
                        uri: rel.to_owned(),
                        reason: "resolves outside the manifest's directory",
                    });
                }
                read_capped(&real)
            }
            Kind::Zip(z) => {
                let mut z = z
                    .lock()
                    .map_err(|_| VectorError::Internal("zip archive lock poisoned"))?;
                let mut file = z
                    .by_name(rel)
                    .map_err(|e| VectorError::Zip(format!("{rel}: {e}")))?;
                if file.size() > MAX_FILE_LEN {
                    return Err(VectorError::TooLarge {
                        what: rel.to_owned(),
                    });
                }
                let mut out = Vec::with_capacity(usize::try_from(file.size()).unwrap_or(0));
                (&mut file)
                    .take(MAX_FILE_LEN + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| VectorError::Zip(format!("{rel}: {e}")))?;
                if out.len() as u64 > MAX_FILE_LEN {
                    return Err(VectorError::TooLarge {
                        what: rel.to_owned(),
                    });
                }
                Ok(out)
            }
        }
    }
}

fn read_capped(path: &Path) -> Result<Vec<u8>, VectorError> {
    let file = fs::File::open(path).map_err(|e| VectorError::io(path, e))?;
    let mut out = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut out)
        .map_err(|e| VectorError::io(path, e))?;
    if out.len() as u64 > MAX_FILE_LEN {
        return Err(VectorError::TooLarge {
            what: path.display().to_string(),
        });
    }
    Ok(out)
}

/// The relative path of a `file://` link, checked: no absolute path, no empty, `.` or `..`
/// component, no backslash or NUL.
///
/// # Errors
/// [`VectorError::Link`] naming what is wrong.
pub fn relative_path(uri: &str) -> Result<String, VectorError> {
    let bad = |reason| VectorError::Link {
        uri: uri.to_owned(),
        reason,
    };
    let rel = uri
        .strip_prefix("file://")
        .ok_or_else(|| bad("not a file:// link"))?;
    if rel.is_empty() {
        return Err(bad("empty path"));
    }
    if rel.contains('\\') || rel.contains('\0') {
        return Err(bad("backslash or NUL in the path"));
    }
    if rel.starts_with('/') {
        return Err(bad("absolute path"));
    }
    for part in rel.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad("empty, . or .. path component"));
        }
    }
    // Belt and braces: the platform's own view of the path must agree.
    if Path::new(rel)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(bad("not a plain relative path"));
    }
    Ok(rel.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_that_escape_are_refused() {
        for uri in [
            "file://../x",
            "file://a/../../x",
            "file:///etc/passwd",
            "file://a//b",
            "file://./a",
            "file://a\\..\\b",
            "file://",
            "http://example.com/x",
            "keys.json",
        ] {
            assert!(
                matches!(relative_path(uri), Err(VectorError::Link { .. })),
                "{uri}"
            );
        }
        assert_eq!(
            relative_path("file://ciphertexts/a-b").ok().as_deref(),
            Some("ciphertexts/a-b")
        );
    }
}
