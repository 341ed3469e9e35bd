//! Every file the CLI reads or writes goes through here.
//!
//! Reading: only regular files (a symlink to `/dev/zero` or a FIFO is refused), and never more
//! than a stated limit.
//!
//! Writing: an output is first written to a fresh temporary file in the destination folder
//! (created with `create_new`, which does not follow a final symlink), then put in place:
//! - without `--force`, by a hard link to the final name, which fails if *anything* exists
//!   there (a file, a folder, a symlink, dangling or not), so nothing is overwritten and no
//!   symlink is followed, even if the name appears between the check and the write;
//! - with `--force`, by `rename` over the final name, which replaces a file (or a symlink
//!   itself) atomically and never writes through a symlink.
//!
//! A [`Staged`] output that is not committed is removed when dropped.

use crate::error::{CliError, CliResult, Exit};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Opens `path` for reading, refusing anything but a regular file (symlinks to one are
/// followed: the input is the user's choice) and files longer than `max` bytes.
pub fn open_regular(path: &Path, max: u64, what: &str) -> CliResult<(File, u64)> {
    let file = File::open(path).map_err(|e| CliError::read(path, &e))?;
    let meta = file.metadata().map_err(|e| CliError::read(path, &e))?;
    if !meta.is_file() {
        return Err(CliError::input(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > max {
        return Err(CliError::input(format!(
            "{} is {} bytes: larger than the {max}-byte limit for {what}",
            path.display(),
            meta.len()
        ))
        .with_hint(limit_hint(what)));
    }
    Ok((file, meta.len()))
}

fn limit_hint(what: &str) -> String {
    if what == SEALED {
        "a larger limit can be given with --max-size BYTES".into()
    } else {
        format!("{what} cannot be that large")
    }
}

/// What a sealed message is called in limit errors.
pub const SEALED: &str = "a sealed message";

/// Reads a whole regular file of at most `max` bytes (read through a `take`, so a file that
/// grows meanwhile is still bounded).
pub fn read_regular(path: &Path, max: u64, what: &str) -> CliResult<Vec<u8>> {
    let (file, len) = open_regular(path, max, what)?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| CliError::read(path, &e))?;
    if out.len() as u64 > max {
        return Err(CliError::input(format!(
            "{} is larger than the {max}-byte limit for {what}",
            path.display()
        )));
    }
    Ok(out)
}

/// Reads a regular file that must be exactly `expected` bytes long (a sealed fragment whose
/// length the index states), `expected` itself at most `max`.
pub fn read_exact_len(path: &Path, expected: u64, max: u64) -> CliResult<Vec<u8>> {
    if expected > max {
        return Err(CliError::input(format!(
            "{}: the index gives it {expected} bytes, more than the {max}-byte limit for {SEALED}",
            path.display()
        ))
        .with_hint(limit_hint(SEALED)));
    }
    let bytes = read_regular(path, max, SEALED)?;
    if bytes.len() as u64 != expected {
        return Err(CliError::input(format!(
            "{} is {} bytes, but the index gives {expected}",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Refuses an output path that is a folder, or that exists (in any form, a dangling symlink
/// included) when `force` is not given. An early, friendly check: [`Staged::commit`] enforces
/// the same atomically.
pub fn check_free(path: &Path, force: bool) -> CliResult<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::write(path, &e)),
        Ok(m) if m.is_dir() => Err(CliError::new(
            Exit::Local,
            format!("{} is a folder; give a file name", path.display()),
        )),
        Ok(_) if force => Ok(()),
        Ok(m) => Err(exists(path, m.file_type().is_symlink())),
    }
}

fn exists(path: &Path, symlink: bool) -> CliError {
    let what = if symlink {
        "already exists (a symlink, which is never followed)"
    } else {
        "already exists"
    };
    CliError::new(Exit::Local, format!("{} {what}", path.display()))
        .with_hint("use --force to replace it, or another --output")
}

/// Creates the output folder `dir` if needed. A `dir` that is a symlink, or not a folder, is
/// refused. A folder created here is removed again when the guard is dropped before
/// [`DirGuard::keep`] (if it is empty by then: the staged outputs are dropped first).
pub fn prepare_dir(dir: &Path) -> CliResult<DirGuard> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(CliError::new(
            Exit::Local,
            format!(
                "{} is a symlink; give the folder itself as output",
                dir.display()
            ),
        )),
        Ok(m) if !m.is_dir() => Err(CliError::new(
            Exit::Local,
            format!("{} exists and is not a folder", dir.display()),
        )),
        Ok(_) => Ok(DirGuard { created: None }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::write(dir, &e))?;
            Ok(DirGuard {
                created: Some(dir.to_path_buf()),
            })
        }
        Err(e) => Err(CliError::write(dir, &e)),
    }
}

/// See [`prepare_dir`].
#[must_use]
pub struct DirGuard {
    created: Option<PathBuf>,
}

impl DirGuard {
    /// The folder stays.
    pub fn keep(mut self) {
        self.created = None;
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(d) = &self.created {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// File permissions of an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plaintext and key-like outputs: 0600.
    Private,
    /// Sealed fragments and indexes: 0666 minus the umask.
    Public,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// An output written to a temporary file beside its final name, not yet in place.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl Staged {
    /// A fresh temporary file (`create_new`) in the folder of `dest`.
    pub fn new(dest: &Path, mode: Mode) -> CliResult<Self> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| CliError::usage(format!("{} does not name a file", dest.display())))?;
        let mut last = None;
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.fragseal-tmp-{}-{n}", std::process::id()));
            let mut o = OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(if mode == Mode::Private { 0o600 } else { 0o666 });
            }
            #[cfg(not(unix))]
            let _ = mode;
            match o.open(&tmp) {
                Ok(file) => {
                    return Ok(Self {
                        tmp,
                        dest: dest.to_path_buf(),
                        file: Some(file),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(CliError::write(dest, &e)),
            }
        }
        let e = last.unwrap_or_else(|| std::io::Error::other("no free temporary name"));
        Err(CliError::write(dest, &e))
    }

    /// Appends `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> CliResult<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| CliError::new(Exit::Internal, "staged output already closed"))?;
        file.write_all(bytes)
            .map_err(|e| CliError::write(&self.dest, &e))
    }

    /// Closes the temporary file (keeping its name for [`Self::commit`]), so that many staged
    /// outputs do not hold many open files. With `sync` (when an existing file is about to be
    /// replaced) its data is synced first, so that the rename cannot leave an empty file
    /// after a crash.
    pub fn close(&mut self, sync: bool) -> CliResult<()> {
        if let Some(f) = self.file.take() {
            if sync {
                f.sync_all().map_err(|e| CliError::write(&self.dest, &e))?;
            }
        }
        Ok(())
    }

    /// Closes the temporary file and puts it in place (see the module documentation).
    pub fn commit(mut self, force: bool) -> CliResult<()> {
        self.close(force)?;
        if force {
            if std::fs::symlink_metadata(&self.dest).is_ok_and(|m| m.is_dir()) {
                return Err(CliError::new(
                    Exit::Local,
                    format!("{} is a folder; give a file name", self.dest.display()),
                ));
            }
            std::fs::rename(&self.tmp, &self.dest).map_err(|e| CliError::write(&self.dest, &e))?;
        } else {
            match std::fs::hard_link(&self.tmp, &self.dest) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let symlink = std::fs::symlink_metadata(&self.dest)
                        .is_ok_and(|m| m.file_type().is_symlink());
                    return Err(exists(&self.dest, symlink));
                }
                Err(e) => return Err(CliError::write(&self.dest, &e)),
            }
            // The output is in place; the temporary name is removed (by Drop too, if this fails).
            let _ = std::fs::remove_file(&self.tmp);
        }
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `dest` as one staged output.
pub fn write_output(dest: &Path, bytes: &[u8], force: bool, mode: Mode) -> CliResult<()> {
    let mut s = Staged::new(dest, mode)?;
    s.write_all(bytes)?;
    s.commit(force)
}
