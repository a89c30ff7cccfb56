//! `main.log` with size rotation (logs spec §2): before a write would take
//! the file past [`ROTATE_AT`], it becomes
//! `main-<UTC 2006-01-02T15-04-05.000>.log` and a new `main.log` starts.
//! Runs on the appender's own thread (`tracing_appender::non_blocking`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::NonBlocking;

/// 10 MiB.
pub const ROTATE_AT: u64 = 10 * 1024 * 1024;

pub struct Rotating {
    dir: PathBuf,
    file: File,
    /// Bytes in the file as far as we know (another process, or
    /// `DELETE /logs`, may have truncated it: checked before rotating).
    size: u64,
    limit: u64,
}

fn open_active(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("main.log"))
}

impl Rotating {
    pub fn open(dir: &Path, limit: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let file = open_active(dir)?;
        let size = file.metadata()?.len();
        Ok(Rotating {
            dir: dir.to_path_buf(),
            file,
            size,
            limit,
        })
    }

    fn rotate_if_needed(&mut self, incoming: usize) -> io::Result<()> {
        let incoming = incoming as u64;
        if self.size + incoming <= self.limit {
            return Ok(());
        }
        self.size = self.file.metadata()?.len();
        if self.size == 0 || self.size + incoming <= self.limit {
            return Ok(());
        }
        let name = || {
            let stamp = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%S%.3f");
            self.dir.join(format!("main-{stamp}.log"))
        };
        let mut target = name();
        for _ in 0..100 {
            if !target.exists() {
                break;
            }
            // Two rotations within a millisecond: the next one gets its own.
            std::thread::sleep(std::time::Duration::from_millis(1));
            target = name();
        }
        fs::rename(self.dir.join("main.log"), &target)?;
        self.file = open_active(&self.dir)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for Rotating {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Err(e) = self.rotate_if_needed(buf.len()) {
            // Keep writing to the current file rather than losing lines.
            let _ = writeln!(io::stderr(), "cliproxy: cannot rotate main.log: {e}");
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The file layer's writer: the non-blocking writer once it exists, else
/// nothing (events only reach it while the file is open).
pub struct Either(pub Option<NonBlocking>);

impl Write for Either {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Some(w) => w.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_past_the_limit_and_after_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = Rotating::open(dir.path(), 100).expect("open");
        let line = [b'x'; 39];
        for _ in 0..2 {
            w.write_all(&line).expect("write");
        }
        // Someone truncated main.log (DELETE /logs): no rotation yet.
        fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("main.log"))
            .expect("open")
            .set_len(0)
            .expect("truncate");
        w.write_all(&line).expect("write");
        w.write_all(&line).expect("write");
        let rotated = |d: &Path| {
            fs::read_dir(d)
                .expect("dir")
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("main-"))
                .count()
        };
        assert_eq!(rotated(dir.path()), 0);
        w.write_all(&line).expect("write");
        assert_eq!(rotated(dir.path()), 1);
        assert_eq!(
            fs::metadata(dir.path().join("main.log"))
                .expect("main")
                .len(),
            39
        );
        for _ in 0..6 {
            w.write_all(&line).expect("write");
        }
        assert_eq!(rotated(dir.path()), 4);
        let name = fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("main-"))
            .expect("rotated");
        // main-2026-01-05T10-00-00.000.log
        assert_eq!(
            name.len(),
            "main-2026-01-05T10-00-00.000.log".len(),
            "{name}"
        );
    }
}
