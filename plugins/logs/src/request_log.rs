//! Writing request logs and error request logs (logs spec §3, §4).
//!
//! The core hands over masked records; large bodies and streams arrive
//! first as parts, which are appended to spool files
//! (`<section>-body-<id>.tmp` in the log folder) and copied into the log
//! when the record arrives. So no body is held here beyond one call. The
//! masking rules are applied once more to headers and URLs before writing,
//! in case a record came from a host that did not mask.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cliproxy_sdk::redact;
use cliproxy_sdk::{AttemptRecord, Header, RequestPart, RequestRecord};

use crate::names;

/// Error request logs kept (newest by modification time).
pub const ERROR_LOGS_KEPT: usize = 10;
/// Spools of a request whose record never came are removed after this.
const SPOOL_IDLE: Duration = Duration::from_secs(3600);

/// The spool files of running requests, by request id.
#[derive(Default)]
pub struct Spools {
    open: HashMap<String, RequestSpool>,
}

struct RequestSpool {
    files: Vec<(String, PathBuf, File)>,
    touched: Instant,
}

fn spool_path(dir: &Path, section: &str, id: &str) -> PathBuf {
    dir.join(format!("{section}-body-{id}.tmp"))
}

fn safe_section(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Spools {
    /// Appends a part to its spool file (created on first use).
    pub fn append(&mut self, dir: &Path, part: &RequestPart) -> io::Result<()> {
        let id = part.request_id.as_str();
        let section = part.section.as_str();
        if !redact::is_safe_request_id(id) || !safe_section(section) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unsafe request id or section",
            ));
        }
        let spool = self
            .open
            .entry(id.to_string())
            .or_insert_with(|| RequestSpool {
                files: Vec::new(),
                touched: Instant::now(),
            });
        spool.touched = Instant::now();
        if !spool.files.iter().any(|(s, _, _)| s == section) {
            fs::create_dir_all(dir)?;
            let path = spool_path(dir, section, id);
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            spool.files.push((section.to_string(), path, file));
        }
        let Some((_, _, file)) = spool.files.iter_mut().find(|(s, _, _)| s == section) else {
            return Ok(());
        };
        file.write_all(&part.bytes)
    }

    /// Takes a request's spool files (closed) by section.
    pub fn take(&mut self, id: &str) -> Vec<(String, PathBuf)> {
        self.open
            .remove(id)
            .map(|s| s.files.into_iter().map(|(sec, p, _)| (sec, p)).collect())
            .unwrap_or_default()
    }

    /// Removes spools idle for long (their record was lost).
    pub fn expire(&mut self) {
        let stale: Vec<String> = self
            .open
            .iter()
            .filter(|(_, s)| s.touched.elapsed() > SPOOL_IDLE)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            remove_spools(&self.take(&id));
        }
    }
}

pub fn remove_spools(files: &[(String, PathBuf)]) {
    for (_, path) in files {
        let _ = fs::remove_file(path);
    }
}

/// Removes spool files left by an earlier run (their requests are gone).
pub fn remove_stale_spools(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tmp") && name.contains("-body-") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// What to write for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Full,
    Error,
}

/// Whether a record gets a file: every one with `request-log`, else those
/// that failed (status ≥ 400 or an upstream error recorded).
pub fn kind_of(record: &RequestRecord, request_log: bool) -> Option<Kind> {
    if request_log {
        return Some(Kind::Full);
    }
    let failed = record.status >= 400
        || record
            .attempts
            .iter()
            .any(|a| !a.error.is_empty() || a.status >= 400);
    failed.then_some(Kind::Error)
}

/// Writes the log file of `record` into `dir` and returns its path.
/// `spools` hold parts of its sections, which come before the record's own
/// bytes of the same section.
pub fn write(
    dir: &Path,
    record: &RequestRecord,
    spools: &[(String, PathBuf)],
    kind: Kind,
    version: &str,
    now: chrono::DateTime<chrono::Local>,
) -> io::Result<PathBuf> {
    let id = record.request_id.as_str();
    if !redact::is_safe_request_id(id) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unsafe request id",
        ));
    }
    fs::create_dir_all(dir)?;
    let time = names::file_time(&record.timestamp)
        .unwrap_or_else(|| now.format("%Y-%m-%dT%H%M%S").to_string());
    let name = names::request_log_name(&record.url, &time, id, kind == Kind::Error);
    let path = dir.join(&name);
    let mut w = BufWriter::with_capacity(64 * 1024, File::create(&path)?);
    let body = |w: &mut BufWriter<File>, section: &str, own: &[u8]| -> io::Result<bool> {
        let mut any = false;
        if let Some((_, p)) = spools.iter().find(|(s, _)| s == section) {
            let mut f = File::open(p)?;
            any = io::copy(&mut f, w)? > 0;
        }
        w.write_all(own)?;
        Ok(any || !own.is_empty())
    };

    writeln!(w, "=== REQUEST INFO ===")?;
    writeln!(w, "Version: {version}")?;
    writeln!(w, "URL: {}", redact::mask_url(&record.url))?;
    writeln!(w, "Method: {}", record.method)?;
    writeln!(w, "Timestamp: {}", record.timestamp)?;
    writeln!(w)?;
    writeln!(w, "=== HEADERS ===")?;
    write_headers(&mut w, &record.request_headers, false)?;
    writeln!(w)?;
    writeln!(w, "=== REQUEST BODY ===")?;
    body(&mut w, "request", &record.request_body)?;
    writeln!(w)?;
    writeln!(w)?;

    if kind == Kind::Full {
        for (i, a) in record.attempts.iter().enumerate() {
            write_api_request(&mut w, i + 1, a, &body)?;
        }
    }
    for a in record.attempts.iter().filter(|a| !a.error.is_empty()) {
        writeln!(w, "=== API ERROR RESPONSE ===")?;
        if a.status > 0 {
            writeln!(w, "HTTP Status: {}", a.status)?;
        }
        writeln!(w, "{}", a.error)?;
        writeln!(w)?;
    }
    for (i, a) in record.attempts.iter().enumerate() {
        let n = i + 1;
        writeln!(w, "=== API RESPONSE {n} ===")?;
        writeln!(w, "Timestamp: {}", a.timestamp)?;
        writeln!(w)?;
        writeln!(w, "Status: {}", a.status)?;
        writeln!(w, "Headers:")?;
        write_headers(&mut w, &a.response_headers, true)?;
        writeln!(w)?;
        writeln!(w, "Body:")?;
        if !body(&mut w, &format!("api-response-{n}"), &a.response_body)? {
            write!(w, "<empty>")?;
        }
        writeln!(w)?;
        if !a.error.is_empty() {
            writeln!(w, "Error: {}", a.error)?;
        }
        writeln!(w)?;
    }
    writeln!(w, "=== RESPONSE ===")?;
    writeln!(w, "Status: {}", record.status)?;
    write_headers(&mut w, &record.response_headers, false)?;
    writeln!(w)?;
    body(&mut w, "response", &record.response_body)?;
    writeln!(w)?;
    w.into_inner().map_err(|e| e.into_error())?;
    Ok(path)
}

fn write_api_request(
    w: &mut BufWriter<File>,
    n: usize,
    a: &AttemptRecord,
    body: &impl Fn(&mut BufWriter<File>, &str, &[u8]) -> io::Result<bool>,
) -> io::Result<()> {
    writeln!(w, "=== API REQUEST {n} ===")?;
    writeln!(w, "Timestamp: {}", a.timestamp)?;
    writeln!(w, "Upstream URL: {}", redact::mask_url(&a.url))?;
    writeln!(w, "HTTP Method: {}", a.method)?;
    writeln!(w, "Auth: {}", a.auth_label)?;
    writeln!(w)?;
    writeln!(w, "Headers:")?;
    write_headers(w, &a.request_headers, true)?;
    writeln!(w)?;
    writeln!(w, "Body:")?;
    if !body(w, &format!("api-request-{n}"), &a.request_body)? {
        write!(w, "<empty>")?;
    }
    writeln!(w)?;
    writeln!(w)?;
    Ok(())
}

/// `Name: value` lines, masked (sorted by name for upstream blocks);
/// `<none>` when there are none.
fn write_headers(w: &mut impl Write, headers: &[Header], sorted: bool) -> io::Result<()> {
    let mut list: Vec<&Header> = headers.iter().collect();
    if sorted {
        list.sort_by_key(|h| h.name.to_lowercase());
        if list.is_empty() {
            writeln!(w, "<none>")?;
        }
    }
    for h in list {
        // Header values cannot hold line breaks; a hostile one must not
        // forge log sections either.
        let value = redact::mask_header(&h.name, &h.value).replace(['\r', '\n'], " ");
        writeln!(w, "{}: {}", h.name, value)?;
    }
    Ok(())
}

/// Keeps the [`ERROR_LOGS_KEPT`] newest `error-*.log` files.
pub fn prune_error_logs(dir: &Path) -> io::Result<usize> {
    let mut logs: Vec<(std::time::SystemTime, String, PathBuf)> = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("error-") && name.ends_with(".log")) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_file() {
            logs.push((meta.modified()?, name, e.path()));
        }
    }
    logs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    let mut removed = 0;
    for (_, _, path) in logs.into_iter().skip(ERROR_LOGS_KEPT) {
        if fs::remove_file(path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: u16) -> RequestRecord {
        RequestRecord {
            request_id: "0123456789abcdef".into(),
            timestamp: "2026-01-05T19:58:11.5+01:00".into(),
            method: "POST".into(),
            url: "/v1/chat/completions?key=secretvalue1".into(),
            request_headers: vec![
                Header::new("Authorization", "Bearer sk-client-secret"),
                Header::new("Content-Type", "application/json"),
            ]
            .into(),
            request_body: b"{\"model\":\"m\"}".to_vec().into(),
            attempts: vec![AttemptRecord {
                timestamp: "2026-01-05T19:58:11.6+01:00".into(),
                url: "https://up/v1/chat/completions".into(),
                method: "POST".into(),
                provider: "acme".into(),
                auth_label: "provider=acme, auth_id=a, label=acme, type=api_key value=sk-u...1234"
                    .into(),
                request_headers: vec![Header::new("x-api-key", "sk-upstream-1234")].into(),
                request_body: b"{}".to_vec().into(),
                status,
                response_headers: Default::default(),
                response_body: b"{\"ok\":true}".to_vec().into(),
                error: Default::default(),
            }]
            .into(),
            status,
            response_headers: vec![Header::new("Content-Type", "application/json")].into(),
            response_body: b"tail".to_vec().into(),
        }
    }

    #[test]
    fn writes_the_layout_with_spools_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spools = Spools::default();
        for chunk in ["data: 1\n\n", "data: 2\n\n"] {
            spools
                .append(
                    dir.path(),
                    &RequestPart {
                        request_id: "0123456789abcdef".into(),
                        section: "response".into(),
                        bytes: chunk.as_bytes().to_vec().into(),
                    },
                )
                .expect("spool");
        }
        let taken = spools.take("0123456789abcdef");
        let path = write(
            dir.path(),
            &record(200),
            &taken,
            Kind::Full,
            "1.0",
            chrono::Local::now(),
        )
        .expect("write");
        remove_spools(&taken);
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some("v1-chat-completions-2026-01-05T195811-0123456789abcdef.log")
        );
        let text = fs::read_to_string(&path).expect("read");
        let order = [
            "=== REQUEST INFO ===",
            "URL: /v1/chat/completions?key=secr...lue1",
            "=== HEADERS ===",
            "Authorization: Bearer sk-c...cret",
            "=== REQUEST BODY ===",
            "=== API REQUEST 1 ===",
            "Upstream URL: https://up/v1/chat/completions",
            "x-api-key: sk-u...1234",
            "=== API RESPONSE 1 ===",
            "=== RESPONSE ===",
            "data: 1\n\ndata: 2\n\ntail",
        ];
        let mut at = 0;
        for needle in order {
            let found = text[at..]
                .find(needle)
                .unwrap_or_else(|| panic!("{needle} in\n{text}"));
            at += found + needle.len();
        }
        assert!(!text.contains("sk-client-secret") && !text.contains("sk-upstream-1234"));
        let left: Vec<_> = fs::read_dir(dir.path()).expect("dir").flatten().collect();
        assert_eq!(left.len(), 1, "spool files removed");
    }

    #[test]
    fn error_logs_skip_upstream_requests_and_are_pruned() {
        assert_eq!(kind_of(&record(200), false), None);
        assert_eq!(kind_of(&record(502), false), Some(Kind::Error));
        assert_eq!(kind_of(&record(200), true), Some(Kind::Full));
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..13u32 {
            let mut r = record(502);
            r.request_id = format!("{i:016x}").as_str().into();
            let p =
                write(dir.path(), &r, &[], Kind::Error, "1", chrono::Local::now()).expect("write");
            if i == 0 {
                let text = fs::read_to_string(&p).expect("read");
                assert!(!text.contains("=== API REQUEST"), "{text}");
                assert!(text.contains("=== API RESPONSE 1 ==="), "{text}");
            }
            prune_error_logs(dir.path()).expect("prune");
        }
        let n = fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(n, ERROR_LOGS_KEPT);
    }
}
