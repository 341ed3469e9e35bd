//! The audit file: opened for appending, never through a symbolic link.

use std::fs::File;
use std::path::Path;

/// Opens `path` for appending without following a symbolic link at its last component.
///
/// Without `O_NOFOLLOW` in safe `std`: a missing file is created with `create_new` (which, as
/// `O_CREAT | O_EXCL`, never follows a link, dangling or not); an existing path is refused if
/// `symlink_metadata` says it is a link, then opened, and the opened file's device and inode
/// must be those `symlink_metadata` saw, so a link swapped in between is detected.
pub(super) fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::io::{Error, ErrorKind};
    let refuse_link = || {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "audit log {} is a symbolic link; refusing to follow it",
                path.display()
            ),
        )
    };
    for _ in 0..2 {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let mut o = std::fs::OpenOptions::new();
                o.append(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    o.mode(0o600);
                }
                match o.open(path) {
                    Ok(f) => return Ok(f),
                    // Created (or linked) by someone else meanwhile: look again.
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
            Ok(meta) if meta.file_type().is_symlink() => return Err(refuse_link()),
            Ok(meta) => {
                let f = std::fs::OpenOptions::new().append(true).open(path)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::MetadataExt;
                    let opened = f.metadata()?;
                    if opened.dev() != meta.dev() || opened.ino() != meta.ino() {
                        return Err(refuse_link());
                    }
                }
                #[cfg(not(unix))]
                let _ = meta;
                return Ok(f);
            }
        }
    }
    Err(Error::other(format!(
        "audit log {} keeps changing; not opened",
        path.display()
    )))
}
