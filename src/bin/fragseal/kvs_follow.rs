//! `fragseal kvs get-media --follow`: a live GetMedia that writes each fragment as it is
//! persisted, to the output file or stdout, flushed as it goes, until the stream is idle for
//! `--idle-timeout` or `--max-fragments` were written (or a failure's error tags end it).
//!
//! The store may be written by another process (a concurrent `fragseal kvs put-media` on the
//! same `--store`): the reader re-reads it every [`LiveLimits::poll_interval`] as well as on
//! the wakeups of its own process.

use crate::error::{CliError, CliResult};
use crate::kvs::kvs_error;
use fragseal::kms::{Credential, CredentialProvider};
use fragseal::kvs::get_media::{GetMediaSummary, LiveLimits, StartSelector};
use fragseal::kvs::{Kvs, StreamRef};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// Flushes after every write: a live reader's consumer sees each fragment when it is written.
struct Flushing<W: Write>(W);

impl<W: Write> Write for Flushing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.0.flush()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Follows `stream` from `selector` into `output` (stdout when `None`), as `caller`, or for
/// `provider`'s current credential when given (`--assume-role`: refreshed as the sessions
/// expire).
pub fn follow_media(
    kvs: &Kvs,
    caller: &Credential,
    provider: Option<Arc<dyn CredentialProvider>>,
    stream: &StreamRef,
    selector: &StartSelector,
    output: Option<&Path>,
    limits: &LiveLimits,
) -> CliResult<GetMediaSummary> {
    let mut session = match provider {
        Some(p) => kvs.start_get_media_with_provider(p, stream, selector),
        None => kvs.start_get_media(caller, stream, selector),
    }
    .map_err(kvs_error)?;
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(Flushing(
            std::fs::File::create(p).map_err(|e| CliError::write(p, &e))?,
        )),
        None => Box::new(Flushing(io::stdout().lock())),
    };
    // The start is fixed (NOW: after the most recent fragment at this moment): say so, so
    // that a producer (or a test) may start writing knowing nothing later is missed.
    eprintln!(
        "fragseal: following {} (idle timeout {:.3} s{})",
        crate::text::escape(&session.stream().stream_arn),
        limits.idle_timeout.as_secs_f64(),
        limits
            .max_fragments
            .map_or(String::new(), |n| format!(", at most {n} fragments"))
    );
    let summary = session.follow(&mut out, limits).map_err(kvs_error)?;
    out.flush()
        .map_err(|e| CliError::write(output.unwrap_or(Path::new("stdout")), &e))?;
    Ok(summary)
}
