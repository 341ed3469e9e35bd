//! `fragseal inspect FILE`: a sealed fragment's header and frame structure, without any key.

use crate::error::CliResult;
use crate::files;
use crate::text::escape;
use fragseal::format::{ContentType, MessageHeader};
use fragseal::message::{self, OpenLimits};
use serde_json::{json, Value};
use std::path::Path;

/// What `inspect` found.
pub struct Inspection {
    header: MessageHeader,
    total_len: usize,
    frames: u64,
    plaintext_len: u64,
}

/// Parses the header and walks the frames (lengths, sequence numbers, IVs; no tag is checked).
pub fn inspect_bytes(bytes: &[u8]) -> CliResult<Inspection> {
    let parsed = message::parse(bytes, &OpenLimits::default())?;
    let summary = parsed.frame_summary()?;
    Ok(Inspection {
        header: parsed.header().clone(),
        total_len: bytes.len(),
        frames: summary.frames,
        plaintext_len: summary.plaintext_len,
    })
}

fn suite_name(id: u16) -> &'static str {
    match id {
        0x0478 => "AES-256-GCM, HKDF-SHA512, key commitment, no signature",
        _ => "unknown",
    }
}

impl Inspection {
    pub fn to_json(&self, path: &Path) -> Value {
        let h = &self.header;
        let edks: Vec<Value> = h
            .encrypted_data_keys()
            .iter()
            .map(|k| {
                json!({
                    "provider_id": k.provider_id,
                    "provider_info": String::from_utf8(k.provider_info.clone())
                        .unwrap_or_else(|_| hex::encode(&k.provider_info)),
                    "ciphertext_len": k.ciphertext.len(),
                })
            })
            .collect();
        let ec: serde_json::Map<String, Value> = h
            .encryption_context()
            .iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        json!({
            "file": path.display().to_string(),
            "size": self.total_len,
            "format_version": 2,
            "algorithm_suite": format!("0x{:04X}", h.suite_id()),
            "algorithm_suite_name": suite_name(h.suite_id()),
            "message_id": hex::encode(h.message_id()),
            "encryption_context": ec,
            "encrypted_data_keys": edks,
            "content_type": match h.content_type() {
                ContentType::Framed => "framed",
                ContentType::NonFramed => "non-framed",
            },
            "frame_length": h.frame_length(),
            "frame_count": self.frames,
            "plaintext_len": self.plaintext_len,
            "header_len": h.header_len(),
            "authenticated": false,
        })
    }

    pub fn to_text(&self, path: &Path) -> String {
        use std::fmt::Write;
        let h = &self.header;
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            s,
            "file:                 {} ({} bytes)",
            path.display(),
            self.total_len
        );
        let _ = writeln!(s, "format version:       2");
        let _ = writeln!(
            s,
            "algorithm suite:      0x{:04X} ({})",
            h.suite_id(),
            suite_name(h.suite_id())
        );
        let _ = writeln!(s, "message id:           {}", hex::encode(h.message_id()));
        let _ = writeln!(
            s,
            "encryption context:   {} pair(s)",
            h.encryption_context().len()
        );
        // Untrusted: anyone can write a header, so nothing of it reaches the terminal raw.
        for (k, v) in h.encryption_context().iter() {
            let _ = writeln!(s, "  {} = {}", escape(k), escape(v));
        }
        let _ = writeln!(s, "encrypted data keys:  {}", h.encrypted_data_keys().len());
        for (i, k) in h.encrypted_data_keys().iter().enumerate() {
            let info = String::from_utf8(k.provider_info.clone())
                .unwrap_or_else(|_| hex::encode(&k.provider_info));
            let _ = writeln!(
                s,
                "  [{i}] provider {} | {} | {} byte(s) of wrapped key",
                escape(&k.provider_id),
                escape(&info),
                k.ciphertext.len()
            );
        }
        let _ = writeln!(
            s,
            "content type:         {}",
            match h.content_type() {
                ContentType::Framed => "framed",
                ContentType::NonFramed => "non-framed",
            }
        );
        let _ = writeln!(s, "frame length:         {} bytes", h.frame_length());
        let _ = writeln!(
            s,
            "frames:               {} ({} bytes of plaintext)",
            self.frames, self.plaintext_len
        );
        let _ = writeln!(s, "header:               {} bytes", h.header_len());
        let _ = write!(
            s,
            "(structure only: nothing was authenticated; `fragseal open` checks every tag)"
        );
        s
    }
}

pub fn run(path: &Path, json_out: bool, max_size: u64) -> CliResult<()> {
    let bytes = files::read_regular(path, max_size, files::SEALED)?;
    let i = inspect_bytes(&bytes).map_err(|e| {
        let e = e.context(path.display());
        if crate::media::looks_like_mkv(&bytes) {
            e.with_hint(
                "this is an MKV stream, not a sealed fragment: seal it with `fragseal seal`",
            )
        } else {
            e
        }
    })?;
    if json_out {
        outln!("{}", crate::text::json(&i.to_json(path), false));
    } else {
        outln!("{}", i.to_text(path));
    }
    Ok(())
}
