//! `GET /logs` and `DELETE /logs` (logs spec §2.1, §2.2): reading the
//! application log the core writes (`main.log` and its rotated files).

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::TimeZone;

use crate::names::AppLogFile;

/// The answer of `GET /logs`.
#[derive(Debug, Default, serde::Serialize)]
pub struct Lines {
    pub lines: Vec<String>,
    #[serde(rename = "line-count")]
    pub line_count: u64,
    #[serde(rename = "latest-timestamp")]
    pub latest_timestamp: i64,
}

/// The application log's files in reading order (oldest content first).
pub fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found: Vec<(AppLogFile, PathBuf)> = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(kind) = AppLogFile::of(&name) else {
            continue;
        };
        if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            found.push((kind, e.path()));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// Unix seconds of a line that starts with `[YYYY-MM-DD HH:MM:SS` in the
/// server's zone.
fn timestamp(line: &str) -> Option<i64> {
    let s = line.strip_prefix('[').unwrap_or(line);
    let head = s.get(..19)?;
    let t = chrono::NaiveDateTime::parse_from_str(head, "%Y-%m-%d %H:%M:%S").ok()?;
    chrono::Local
        .from_local_datetime(&t)
        .earliest()
        .map(|t| t.timestamp())
}

/// Reads every file (see the spec for `after`, `limit`, the counters and
/// multi-line messages). `Err((path, error))` names the file that failed.
pub fn read(files: &[PathBuf], after: i64, limit: Option<usize>) -> Result<Lines, String> {
    let mut out = Lines::default();
    let mut kept: VecDeque<String> = VecDeque::new();
    let mut include = after <= 0;
    let mut latest: Option<i64> = None;
    for path in files {
        let file = File::open(path).map_err(|e| read_error(path, &e))?;
        let reader: Box<dyn Read> = if path.to_string_lossy().ends_with(".gz") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| read_error(path, &e))?;
            if n == 0 {
                break;
            }
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            let line = String::from_utf8_lossy(&buf);
            out.line_count += 1;
            if let Some(ts) = timestamp(&line) {
                latest = Some(latest.map_or(ts, |l| l.max(ts)));
                include = after <= 0 || ts > after;
            }
            if include {
                kept.push_back(line.into_owned());
                if limit.is_some_and(|l| kept.len() > l) {
                    kept.pop_front();
                }
            }
        }
    }
    out.lines = kept.into();
    out.latest_timestamp = match latest {
        Some(l) if l >= after => l,
        _ => after,
    };
    Ok(out)
}

fn read_error(path: &Path, e: &io::Error) -> String {
    format!("failed to read log file {}: {e}", path.display())
}

/// Truncates `main.log` and deletes the rotated files; returns how many
/// were deleted.
pub fn clear(dir: &Path) -> io::Result<usize> {
    let active = dir.join("main.log");
    match fs::OpenOptions::new().write(true).open(&active) {
        Ok(f) => f.set_len(0)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut removed = 0;
    for path in files(dir)? {
        let rotated = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(AppLogFile::of)
            .is_some_and(|k| k.is_rotated());
        if rotated {
            fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(unix: i64) -> String {
        chrono::Local
            .timestamp_opt(unix, 0)
            .single()
            .expect("time")
            .format("[%Y-%m-%d %H:%M:%S]")
            .to_string()
    }

    #[test]
    fn reads_in_order_with_after_and_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = 1_767_600_000;
        let w = |name: &str, text: String| fs::write(dir.path().join(name), text).expect("write");
        w(
            "main.log.2",
            format!("{} [--------] [info ] oldest\n", stamp(t)),
        );
        w(
            "main-2026-01-05T10-00-00.000.log",
            format!(
                "{} [--------] [info ] middle\r\n  continued\n",
                stamp(t + 10)
            ),
        );
        w(
            "main.log",
            format!("{} [--------] [warn ] newest\nno stamp\n", stamp(t + 20)),
        );
        w("other.log", "not read\n".into());
        let files = files(dir.path()).expect("files");
        let all = read(&files, 0, None).expect("read");
        assert_eq!(all.line_count, 5);
        assert_eq!(all.latest_timestamp, t + 20);
        assert!(all.lines[0].ends_with("oldest"));
        assert_eq!(all.lines[2], "  continued");
        assert!(all.lines[3].ends_with("newest"));

        let after = read(&files, t + 5, None).expect("read");
        assert_eq!(after.line_count, 5, "every line counts");
        assert_eq!(after.lines.len(), 4, "{:?}", after.lines);
        assert!(after.lines[0].ends_with("middle"));

        let last = read(&files, 0, Some(2)).expect("read");
        assert_eq!(last.lines.len(), 2);
        assert_eq!(last.lines[1], "no stamp");

        let none = read(&files, t + 100, None).expect("read");
        assert!(none.lines.is_empty());
        assert_eq!(none.latest_timestamp, t + 100);

        assert_eq!(clear(dir.path()).expect("clear"), 2);
        assert_eq!(
            fs::read(dir.path().join("main.log")).expect("kept").len(),
            0
        );
        assert!(dir.path().join("other.log").exists());
    }
}
